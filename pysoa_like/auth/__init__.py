"""API tokens for private actions: the server middleware, the verifiers and the caller's identity.

Mark an action private (``private = True``, or ``required_scopes = ("orders:write",)`` on its class),
add :class:`ApiTokenMiddleware` to the server's ``middleware`` setting with the tokens it accepts, and
callers pass their token in the request context under ``api_token`` (a pysoa_like client from its
``api_token`` client setting, any client, PySOA 1.4.9's included, with ``context={"api_token": ...}``).
See ``docs/auth.rst``.

Errors a caller gets (caller errors, on the action): ``AUTH_REQUIRED`` (no token), ``AUTH_INVALID`` (a
token refused: unknown, malformed, badly signed, expired) and ``ACCESS_DENIED`` (a valid token without a
scope the action requires).
"""

from __future__ import annotations

from pysoa_like.auth._identity import WILDCARD_SCOPE, Identity, InvalidTokenError, TokenVerifier
from pysoa_like.auth._middleware import (
    API_TOKEN_CONTEXT_KEY,
    ApiTokenMiddleware,
    ChainedVerifier,
    action_requirement,
    bearer_token,
    build_verifier,
    current_identity,
)
from pysoa_like.auth._signed import SignedTokenVerifier, make_signed_token
from pysoa_like.auth._static import StaticTokenVerifier, token_digest

__all__ = [
    "API_TOKEN_CONTEXT_KEY",
    "WILDCARD_SCOPE",
    "ApiTokenMiddleware",
    "ChainedVerifier",
    "Identity",
    "InvalidTokenError",
    "SignedTokenVerifier",
    "StaticTokenVerifier",
    "TokenVerifier",
    "action_requirement",
    "bearer_token",
    "build_verifier",
    "current_identity",
    "make_signed_token",
    "token_digest",
]
