"""The server middleware that keeps private actions to callers with a valid API token.

An action is private when its class says ``private = True`` or lists ``required_scopes``, or when the
middleware's ``private_actions`` names it. For such an action the middleware reads the token from the
request context (``api_token``), asks the verifiers who it stands for, and either runs the action
(with :func:`current_identity` set) or answers with a caller error: ``AUTH_REQUIRED`` (no token),
``AUTH_INVALID`` (refused) or ``ACCESS_DENIED`` (a valid token lacking a required scope). Public
actions run untouched, and the token is never checked for them.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from pysoa_like.auth._identity import Identity, InvalidTokenError, TokenVerifier, identity_from
from pysoa_like.auth._signed import SignedTokenVerifier
from pysoa_like.auth._static import StaticTokenVerifier
from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common.constants import (
    ERROR_CODE_ACCESS_DENIED,
    ERROR_CODE_AUTH_INVALID,
    ERROR_CODE_AUTH_REQUIRED,
    ERROR_CODE_SERVER_ERROR,
)
from pysoa_like.common.errors import Error
from pysoa_like.common.fields.classconfig import resolve_python_path
from pysoa_like.common.types import ActionResponse
from pysoa_like.server.errors import ActionError
from pysoa_like.server.middleware import ActionHandler, AsyncActionHandler, ServerMiddleware
from pysoa_like.server.types import EnrichedActionRequest

__all__ = [
    "API_TOKEN_CONTEXT_KEY",
    "ApiTokenMiddleware",
    "ChainedVerifier",
    "action_requirement",
    "bearer_token",
    "build_verifier",
    "current_identity",
]

#: The request context key that carries the API token (censored in every log line).
API_TOKEN_CONTEXT_KEY = "api_token"

_logger = logging.getLogger("pysoa_like.auth")
_MASK = "**********"

_current: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("pysoa_like_auth_identity", default=None)


def current_identity() -> Identity | None:
    """Who the API token of the private action running now stands for (``None`` outside one)."""
    return _current.get()


def action_requirement(action_class: Any, private_by_name: bool = False) -> tuple[str, ...] | None:
    """What calling an action takes: ``None`` (it is public) or the scopes a token needs (maybe none).

    Args:
        action_class: The class in the server's ``action_class_map`` (its ``private`` and
            ``required_scopes`` attributes decide).
        private_by_name: The middleware's ``private_actions`` names the action.
    """
    scopes = tuple(sorted(str(scope) for scope in getattr(action_class, "required_scopes", None) or ()))
    if scopes or private_by_name or getattr(action_class, "private", False):
        return scopes
    return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an HTTP ``Authorization: Bearer <token>`` header value (``None`` without one).

    Raises:
        InvalidTokenError: The header names another scheme, or no token.
    """
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidTokenError("the Authorization header must use the Bearer scheme")
    token = token.strip()
    if not token:
        raise InvalidTokenError("no token after Bearer")
    return token


class ChainedVerifier:
    """Asks each verifier in turn; the first identity wins.

    A verifier's refusal (:class:`InvalidTokenError`) is remembered and the next one asked, so a token
    that one verifier cannot read may still be another's; when none accepts it, the first refusal is
    raised (or ``unknown token``).

    Args:
        verifiers: The verifiers, in order.
    """

    def __init__(self, verifiers: Iterable[TokenVerifier]) -> None:
        self.verifiers = list(verifiers)

    def __call__(self, token: str) -> Identity:
        """Who ``token`` stands for.

        Raises:
            InvalidTokenError: No verifier accepts it.
        """
        refusal: InvalidTokenError | None = None
        for verifier in self.verifiers:
            try:
                identity = identity_from(verifier(token))
            except InvalidTokenError as exc:
                refusal = refusal or exc
                continue
            if identity is not None:
                return identity
        raise refusal or InvalidTokenError("unknown token")


def _resolve_verifier(verifier: Any) -> TokenVerifier:
    if isinstance(verifier, str):
        verifier = resolve_python_path(verifier)
        if isinstance(verifier, type):
            verifier = verifier()
    if not callable(verifier):
        raise ValueError(f"verifier must be a callable or the import path of one, got {type(verifier).__name__}")
    return verifier  # type: ignore[no-any-return]


def build_verifier(
    tokens: Mapping[str, Any] | None = None,
    signing_keys: Mapping[str, str | bytes] | None = None,
    verifier: Any = None,
    issuer: str | None = None,
    audience: str | None = None,
    leeway_seconds: float = 30.0,
) -> ChainedVerifier:
    """The verifier the settings describe: static tokens, then signed tokens, then a custom verifier.

    Args:
        tokens: Static tokens, subject -> token (see :class:`~pysoa_like.auth.StaticTokenVerifier`).
        signing_keys: Key id -> key for signed tokens (see :class:`~pysoa_like.auth.SignedTokenVerifier`).
        verifier: A callable ``token -> Identity | mapping | None`` (or its ``"module:name"`` path; a class
            there is instantiated without arguments).
        issuer: Signed tokens must carry this ``iss``.
        audience: Signed tokens must carry this ``aud``.
        leeway_seconds: Clock difference tolerated on a signed token's times.

    Raises:
        ValueError: Nothing is configured, or a token, key or verifier is invalid.
    """
    verifiers: list[TokenVerifier] = []
    if tokens:
        verifiers.append(StaticTokenVerifier(tokens))
    if signing_keys:
        verifiers.append(SignedTokenVerifier(signing_keys, issuer, audience, leeway_seconds))
    if verifier is not None:
        verifiers.append(_resolve_verifier(verifier))
    if not verifiers:
        raise ValueError("The API token middleware needs tokens, signing_keys or a verifier to check tokens with")
    return ChainedVerifier(verifiers)


def _caller_error(code: str, message: str) -> ActionError:
    return ActionError([Error(code=code, message=message)], set_is_caller_error_to=True)


class ApiTokenMiddleware(ServerMiddleware):
    """Checks the API token of every call to a private action (see the module docstring).

    List it first in the ``middleware`` setting, so no other middleware sees a refused call::

        "middleware": [{"path": "pysoa_like.auth:ApiTokenMiddleware", "kwargs": {
            "tokens": {"reports": "...", "billing": {"token": "sha256:...", "scopes": ["orders:read"]}},
            "signing_keys": {"2026-11": "..."},
        }}]

    Args:
        tokens: Static tokens, subject -> token (or ``{"token", "scopes"}``, or a list of them).
        signing_keys: Key id -> key (at least 32 bytes) of HS256-signed tokens.
        verifier: A callable (or its import path) ``token -> Identity | mapping | None``, asked last.
        private_actions: Names of actions to treat as private whatever their class says.
        issuer: Signed tokens must carry this issuer.
        audience: Signed tokens must carry this audience.
        leeway_seconds: Clock difference tolerated on signed tokens' times (default 30).

    Raises:
        ValueError: Nothing to verify tokens with, or an invalid token, key or verifier.
    """

    def __init__(
        self,
        tokens: Mapping[str, Any] | None = None,
        signing_keys: Mapping[str, str | bytes] | None = None,
        verifier: Any = None,
        private_actions: Iterable[str] = (),
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: float = 30.0,
    ) -> None:
        self.verify = build_verifier(tokens, signing_keys, verifier, issuer, audience, leeway_seconds)
        self.private_actions = frozenset(private_actions)
        # Action name -> its requirement (None: public), per server class (action_class_map is fixed).
        self._requirements: dict[tuple[Any, str], tuple[str, ...] | None] = {}
        self._log_throttle = LogThrottle()

    def requirement(self, server: Any, action: str) -> tuple[str, ...] | None:
        """The scopes calling ``action`` on ``server`` takes (``None``: a public action)."""
        key = (type(server), action)
        try:
            return self._requirements[key]
        except KeyError:
            pass
        action_map = getattr(server, "action_class_map", None) or {}
        requirement = action_requirement(action_map.get(action), action in self.private_actions)
        self._requirements[key] = requirement
        return requirement

    def action(self, process_action: ActionHandler) -> ActionHandler:
        """Wrap one action call: check the token when the action is private."""

        def check_token(request: EnrichedActionRequest) -> ActionResponse:
            server = getattr(request, "_server", None)
            required = self.requirement(server, request.action)
            if required is None:
                return process_action(request)
            identity = self._identify(request, required)
            reset = _current.set(identity)
            try:
                return process_action(request)
            finally:
                _current.reset(reset)

        return check_token

    def async_action(self, process_action: AsyncActionHandler) -> AsyncActionHandler:
        """The same check on a concurrent server's event loop (the verifier is called on the loop)."""

        async def check_token(request: EnrichedActionRequest) -> ActionResponse:
            server = getattr(request, "_server", None)
            required = self.requirement(server, request.action)
            if required is None:
                return await process_action(request)
            identity = self._identify(request, required)
            reset = _current.set(identity)
            try:
                return await process_action(request)
            finally:
                _current.reset(reset)

        return check_token

    def _identify(self, request: EnrichedActionRequest, required: tuple[str, ...]) -> Identity:
        action = request.action
        context = request.context if isinstance(request.context, Mapping) else {}
        token = context.get(API_TOKEN_CONTEXT_KEY)
        if token is None or token == "":
            self._refused(action, "no token")
            raise _caller_error(
                ERROR_CODE_AUTH_REQUIRED,
                f"Action {action} is private: send an API token in the request context ({API_TOKEN_CONTEXT_KEY})",
            )
        if not isinstance(token, str):
            self._refused(action, "not a string")
            raise _caller_error(ERROR_CODE_AUTH_INVALID, "The API token was refused: it is not a string")
        try:
            identity = self.verify(token)
        except InvalidTokenError as exc:
            reason = exc.reason.replace(token, _MASK)
            self._refused(action, reason)
            raise _caller_error(ERROR_CODE_AUTH_INVALID, f"The API token was refused: {reason}") from None
        except Exception as exc:
            self._verifier_failed(action, token, exc)
            raise ActionError(
                [
                    Error(
                        code=ERROR_CODE_SERVER_ERROR,
                        message=f"Could not check the API token: the verifier failed ({type(exc).__name__})",
                    )
                ],
                set_is_caller_error_to=False,
            ) from None
        missing = identity.missing_scopes(required)
        if missing:
            self._refused(action, f"{identity.subject} lacks {', '.join(missing)}")
            raise _caller_error(
                ERROR_CODE_ACCESS_DENIED,
                f"The API token of {identity.subject} lacks the scope(s) {', '.join(missing)} that action "
                f"{action} requires",
            )
        return identity

    def _refused(self, action: str, reason: str) -> None:
        log_bounded(
            _logger, logging.WARNING, self._log_throttle, (action, reason), "Refused a call to %s: %s", action, reason
        )

    @staticmethod
    def _verifier_failed(action: str, token: str, exc: Exception) -> None:
        # The verifier's message or traceback may quote the token: mask it before anything is logged.
        details = "".join(traceback.format_exception(exc)).replace(token, _MASK)
        _logger.error("The API token verifier failed for a call to %s:\n%s", action, details.rstrip())
