"""Who a verified API token speaks for (:class:`Identity`), and how a verifier refuses a token."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import attr

__all__ = ["WILDCARD_SCOPE", "Identity", "InvalidTokenError", "TokenVerifier", "identity_from"]

#: A scope that grants every scope.
WILDCARD_SCOPE = "*"


def _scopes(value: Iterable[str] | str | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    return frozenset(str(scope) for scope in value)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Identity:
    """The caller an accepted API token stands for.

    Attributes:
        subject: Who the token was issued to (a service, an application, a user).
        scopes: What it may do; ``WILDCARD_SCOPE`` (``"*"``) grants everything.
        expires_at: When the token stops being accepted (Unix time), ``None`` for tokens without expiry.
        method: Which verifier accepted it: ``"static"``, ``"signed"`` or ``"custom"``.
        claims: Everything else the verifier knows (a signed token's other claims, for example).
    """

    subject: str
    scopes: frozenset[str] = attr.ib(factory=frozenset, converter=_scopes)
    expires_at: float | None = None
    method: str = "custom"
    claims: Mapping[str, Any] = attr.ib(factory=dict)

    def missing_scopes(self, required: Iterable[str]) -> list[str]:
        """The scopes of ``required`` this identity does not have, sorted (none with the wildcard scope)."""
        if WILDCARD_SCOPE in self.scopes:
            return []
        return sorted(set(required) - self.scopes)


class InvalidTokenError(Exception):
    """A verifier refuses a token; the reason goes to the caller (in an ``AUTH_INVALID`` error).

    The reason must never contain the token itself.

    Args:
        reason: Why, in a few words: ``"unknown token"``, ``"expired 12 seconds ago"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: A token verifier: takes the token, returns who it stands for, or ``None`` when it does not know the
#: token (the next verifier is asked); raises :class:`InvalidTokenError` to refuse it with a reason.
TokenVerifier: TypeAlias = Callable[[str], "Identity | None"]


def identity_from(value: Any, method: str = "custom") -> Identity | None:
    """An :class:`Identity` from what a user-supplied verifier returned.

    Args:
        value: An :class:`Identity`, a mapping with ``subject`` (and optionally ``scopes``, ``expires_at``,
            ``claims``), or ``None``/``False`` for a token the verifier does not accept.
        method: The method to record when ``value`` is a mapping.

    Raises:
        TypeError: ``value`` is none of those.
    """
    if value is None or value is False:
        return None
    if isinstance(value, Identity):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("subject"), str):
        expires_at = value.get("expires_at")
        return Identity(
            subject=value["subject"],
            scopes=value.get("scopes") or (),
            expires_at=float(expires_at) if expires_at is not None else None,
            method=method,
            claims=dict(value.get("claims") or {}),
        )
    raise TypeError(
        "A token verifier must return an Identity, a mapping with a 'subject' string, or None; "
        f"got {type(value).__name__}"
    )
