"""HMAC-signed API tokens with an expiry: JSON Web Tokens (RFC 7519) signed with HS256.

A token is ``<header>.<claims>.<signature>``, each part base64url without padding: the header is
``{"alg": "HS256", "typ": "JWT", "kid": <key id>}``, the claims at least ``sub`` (the subject) and
``exp`` (when it expires, Unix time), and the signature the HMAC-SHA256 of the first two parts with
the key named by ``kid``. Any JWT library can make them; :func:`make_signed_token` does too.

Only HS256 is accepted (never ``none``, never another algorithm named by the token), every token must
expire, the signature is compared in constant time, and a token longer than 8 KiB is refused unread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pysoa_like.auth._identity import Identity, InvalidTokenError

__all__ = ["MIN_KEY_BYTES", "SignedTokenVerifier", "make_signed_token"]

#: The shortest signing key accepted (RFC 7518 asks for at least the hash size: 32 bytes for HS256).
MIN_KEY_BYTES = 32
# A longer token is refused before any decoding (a signed token of a few claims is a few hundred bytes).
_MAX_TOKEN_LENGTH = 8192
# Claims turned into Identity fields; the others stay in Identity.claims.
_KNOWN_CLAIMS = frozenset({"sub", "exp", "scope", "scopes"})


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidTokenError("malformed token") from exc


def _key_bytes(key_id: str, key: str | bytes) -> bytes:
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(data) < MIN_KEY_BYTES:
        raise ValueError(
            f"The signing key {key_id!r} is shorter than {MIN_KEY_BYTES} bytes: use a long random one "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return data


def _sign(key: bytes, signing_input: str) -> bytes:
    return hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()


def make_signed_token(
    key: str | bytes,
    subject: str,
    expires_in: float,
    *,
    key_id: str | None = None,
    scopes: Iterable[str] = (),
    issuer: str | None = None,
    audience: str | None = None,
    claims: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """Make a signed API token (a JWT signed with HS256).

    Args:
        key: The signing key (at least 32 bytes), shared with the verifying services.
        subject: Who the token is for (``sub``).
        expires_in: Seconds from ``now`` until it expires (``exp``).
        key_id: The key's id (``kid``), needed when the services know several keys.
        scopes: What it may do (``scope``, space-separated).
        issuer: The ``iss`` claim, for services that check it.
        audience: The ``aud`` claim, for services that check it.
        claims: More claims to carry.
        now: The issue time (default: now).

    Returns:
        The token text.

    Raises:
        ValueError: The key is too short, or ``expires_in`` is not positive.
    """
    if expires_in <= 0:
        raise ValueError("expires_in must be positive: every signed token expires")
    secret = _key_bytes(key_id or "(no id)", key)
    issued = time.time() if now is None else now
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if key_id is not None:
        header["kid"] = key_id
    body: dict[str, Any] = dict(claims or {})
    body.update({"sub": subject, "iat": int(issued), "exp": int(issued + expires_in)})
    scope_list = sorted(set(scopes))
    if scope_list:
        body["scope"] = " ".join(scope_list)
    if issuer is not None:
        body["iss"] = issuer
    if audience is not None:
        body["aud"] = audience
    signing_input = (
        _encode(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    )
    return signing_input + "." + _encode(_sign(secret, signing_input))


def _json_object(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode(part))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidTokenError("malformed token") from exc
    if not isinstance(value, dict):
        raise InvalidTokenError("malformed token")
    return value


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTokenError(f"malformed token: claim {name} is not a number")
    return float(value)


class SignedTokenVerifier:
    """Accepts HS256-signed tokens (see the module docstring) made with one of the keys.

    Args:
        keys: Key id -> key (text or bytes, at least 32 bytes each). Several keys allow rotation: sign
            new tokens with the new key while tokens of the old one are still accepted. With one key,
            tokens need no ``kid``.
        issuer: When set, the ``iss`` claim must equal it.
        audience: When set, the ``aud`` claim must equal it (or, as a list, contain it).
        leeway_seconds: Clock difference tolerated on ``exp`` and ``nbf``.

    Raises:
        ValueError: No key, or a key too short.
    """

    def __init__(
        self,
        keys: Mapping[str, str | bytes],
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: float = 30.0,
    ) -> None:
        if not keys:
            raise ValueError("SignedTokenVerifier needs at least one signing key")
        self._keys = {str(key_id): _key_bytes(str(key_id), key) for key_id, key in keys.items()}
        self._only_key = next(iter(self._keys.values())) if len(self._keys) == 1 else None
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = float(leeway_seconds)

    def __call__(self, token: str) -> Identity | None:
        """The identity of a token signed with one of the keys; ``None`` for a token that is not a JWT.

        Raises:
            InvalidTokenError: A JWT that is malformed, badly signed, expired or not for this service.
        """
        if token.count(".") != 2:
            return None
        if len(token) > _MAX_TOKEN_LENGTH:
            raise InvalidTokenError("token too long")
        header_part, claims_part, signature_part = token.split(".")
        header = _json_object(header_part)
        if header.get("alg") != "HS256":
            raise InvalidTokenError(f"unsupported algorithm {str(header.get('alg'))[:20]!r} (only HS256)")
        key = self._key(header.get("kid"))
        if not hmac.compare_digest(_sign(key, header_part + "." + claims_part), _decode(signature_part)):
            raise InvalidTokenError("bad signature")
        claims = _json_object(claims_part)
        return self._identity(claims)

    def _key(self, key_id: Any) -> bytes:
        if key_id is None:
            if self._only_key is None:
                raise InvalidTokenError("no key id (kid) in the token header")
            return self._only_key
        key = self._keys.get(str(key_id))
        if key is None:
            raise InvalidTokenError(f"unknown key id {str(key_id)[:40]!r}")
        return key

    def _identity(self, claims: dict[str, Any]) -> Identity:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidTokenError("malformed token: no subject (sub)")
        expires_at = _number(claims, "exp")
        if expires_at is None:
            raise InvalidTokenError("malformed token: no expiry (exp)")
        now = time.time()
        if now > expires_at + self.leeway_seconds:
            raise InvalidTokenError(f"expired {int(now - expires_at)} seconds ago")
        not_before = _number(claims, "nbf")
        if not_before is not None and now + self.leeway_seconds < not_before:
            raise InvalidTokenError("not valid yet (nbf)")
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise InvalidTokenError("wrong issuer (iss)")
        if self.audience is not None:
            audience = claims.get("aud")
            if not (audience == self.audience or (isinstance(audience, list) and self.audience in audience)):
                raise InvalidTokenError("wrong audience (aud)")
        scopes = claims.get("scope")
        if scopes is None:
            scopes = claims.get("scopes")
        if scopes is not None and not isinstance(scopes, str | list):
            raise InvalidTokenError("malformed token: scope is neither a string nor a list")
        others = {name: value for name, value in claims.items() if name not in _KNOWN_CLAIMS}
        return Identity(subject, scopes, expires_at, "signed", others)

    def __repr__(self) -> str:
        return f"SignedTokenVerifier(keys={sorted(self._keys)})"
