"""Static API tokens listed in the settings, each for one subject.

Each token is kept as the SHA-256 digest of its text, and a presented token is looked up by its own
digest: the lookup takes the same time whatever the token shares with a listed one, and the settings
may hold the digests instead of the tokens (``"sha256:<64 hex digits>"``), so a settings file never
has to hold a secret.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from pysoa_like.auth._identity import Identity

__all__ = ["MIN_TOKEN_LENGTH", "StaticTokenVerifier", "token_digest"]

#: The shortest static token accepted in the settings (shorter ones can be guessed).
MIN_TOKEN_LENGTH = 16

_DIGEST_PREFIX = "sha256:"
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def token_digest(token: str) -> str:
    """``"sha256:<hex digest>"`` of a token: what the settings may hold instead of the token itself."""
    return _DIGEST_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _entry_digest(subject: str, value: str) -> str:
    if value.startswith(_DIGEST_PREFIX):
        digest = value[len(_DIGEST_PREFIX) :].lower()
        if not _HEX_DIGEST.match(digest):
            raise ValueError(f"The token digest of {subject!r} must be 'sha256:' followed by 64 hex digits")
        return digest
    if len(value) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"The token of {subject!r} is shorter than {MIN_TOKEN_LENGTH} characters: use a long random one "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class StaticTokenVerifier:
    """Accepts the tokens listed for each subject.

    Args:
        tokens: Subject -> its token, or ``{"token": ..., "scopes": [...]}``. A token may be given as
            ``"sha256:<hex digest>"`` (see :func:`token_digest`). A subject may also have several tokens
            (a list of those), so a token can be rotated without downtime.

    Raises:
        ValueError: A token is too short, a digest malformed, or one token listed for two subjects.
    """

    def __init__(self, tokens: Mapping[str, Any]) -> None:
        self._identities: dict[str, Identity] = {}
        for subject, value in tokens.items():
            entries = value if isinstance(value, list | tuple) else [value]
            for entry in entries:
                token, scopes = entry, ()
                if isinstance(entry, Mapping):
                    token, scopes = entry.get("token"), entry.get("scopes") or ()
                if not isinstance(token, str):
                    raise ValueError(f"The token of {subject!r} must be a string (or a 'sha256:' digest)")
                digest = _entry_digest(str(subject), token)
                if digest in self._identities:
                    raise ValueError(
                        f"One token is listed for both {self._identities[digest].subject!r} and {subject!r}"
                    )
                self._identities[digest] = Identity(str(subject), scopes, None, "static")

    def __call__(self, token: str) -> Identity | None:
        """The identity of a listed token, else ``None``."""
        return self._identities.get(hashlib.sha256(token.encode("utf-8")).hexdigest())

    def __repr__(self) -> str:
        return f"StaticTokenVerifier({len(self._identities)} tokens)"
