"""What a gateway exposes and how it answers: :class:`GatewaySettings`.

A settings module given to ``pysoa-like gateway --settings`` holds them as a plain dict,
``GATEWAY_SETTINGS`` (beside ``SOA_CLIENT_SETTINGS``, which says how to reach the services)::

    GATEWAY_SETTINGS = {
        "expose": {"orders": ["get", "cancel"], "catalog": "*"},
        "timeout": 5,
        "cors_origins": ["https://shop.example.com"],
    }

Every key but ``expose`` is optional; :meth:`GatewaySettings.from_mapping` names the key at fault.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attr

from pysoa_like._asgi import check_allowed_hosts

__all__ = ["ALL_ACTIONS", "BUILTIN_ACTIONS", "GatewaySettings"]

#: In ``expose``, every action of the service (but the built-in ones, which must be named).
ALL_ACTIONS = "*"
#: The actions every service has; exposed only when named.
BUILTIN_ACTIONS = frozenset({"introspect", "status"})
# A service or action name that can be a path segment: what PySOA names look like in practice.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_DEFAULT_TIMEOUT = 10.0


def _number(name: str, value: Any, minimum: float, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not minimum < value <= maximum:
        raise ValueError(f"{name} must be more than {minimum:g} and at most {maximum:g}, got {value!r}")
    return float(value)


def _expose(value: Any) -> dict[str, frozenset[str] | str]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(
            'expose must name at least one service: {"service": ["action", ...]} or {"service": "*"}, '
            f"got {value!r}"
        )
    result: dict[str, frozenset[str] | str] = {}
    for service, actions in value.items():
        if not isinstance(service, str) or not _NAME.match(service):
            raise ValueError(f"expose: {service!r} is not a service name (letters, digits, _ . -)")
        if actions == ALL_ACTIONS:
            result[service] = ALL_ACTIONS
            continue
        if isinstance(actions, str | Mapping) or not isinstance(actions, Iterable):
            raise ValueError(f'expose.{service} must be a list of action names or "*", got {actions!r}')
        names = list(actions)
        bad = [name for name in names if not isinstance(name, str) or not _NAME.match(name)]
        if bad or not names:
            raise ValueError(
                f"expose.{service} must list at least one action name (letters, digits, _ . -), got {names!r}"
            )
        result[service] = frozenset(names)
    return result


def _origins(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f'cors_origins must be a list of origins ("https://app.example.com") or ["*"], got {value!r}')
    origins = tuple(value)
    for origin in origins:
        if origin != "*" and (not isinstance(origin, str) or not re.match(r"^https?://[^/\s]+$", origin)):
            raise ValueError(f'cors_origins: {origin!r} is not an origin (scheme://host[:port], no path) nor "*"')
    return origins


def _hosts(value: Any) -> tuple[str, ...] | None:
    # The checked names are kept (a generator given would otherwise be used up by the check), as a tuple: the
    # settings are frozen.
    return None if value is None else tuple(check_allowed_hosts(value, "allowed_hosts"))


@attr.s(frozen=True, slots=True, kw_only=True)
class GatewaySettings:
    """What a gateway exposes and how it answers.

    Args:
        expose: Service -> the action names callable over HTTP, or ``"*"`` for all of them (except
            ``introspect`` and ``status``, which are exposed only when listed). Anything else answers 404.
        timeout: Seconds a call may take when the request sends no ``X-Timeout`` (default 10).
        max_timeout: The largest ``X-Timeout`` accepted, in seconds (default 60); a larger one is a 400.
        max_body_bytes: The largest request body read (default 1 MiB); a larger one is a 413.
        max_concurrent_calls: Calls in flight at once (default 64); more wait for a place.
        max_waiting_calls: Calls that may wait for a place at once (default 256); one more is refused at once
            (503), so the bodies the gateway holds stay bounded.
        cors_origins: Origins whose pages may call the gateway from a browser (``["*"]``: any); none by
            default (browsers then refuse cross-origin calls).
        cors_allow_credentials: Browsers may send cookies and HTTP authentication with cross-origin calls
            (not allowed with ``"*"``; bearer tokens in ``Authorization`` need no credentials).
        cors_max_age: Seconds a browser may cache a preflight answer (default 600).
        allowed_hosts: Host names (the ``Host`` header) the gateway answers to, at least one; ``None`` (default):
            any.
        title: The API's title in the OpenAPI document and the docs page.
        version: The API's version in the OpenAPI document.
        docs: Serve the docs page at ``/docs`` (default true); ``/openapi.json`` is always served.
        openapi_refresh_seconds: How long the OpenAPI document is kept before the services are asked
            again for their actions (default 60; 0: never kept, each request of it waits for one built for it).

    Raises:
        ValueError: A setting out of range or of the wrong kind (the message names it).
    """

    expose: Mapping[str, frozenset[str] | str] = attr.ib(converter=_expose)
    timeout: float = attr.ib(default=_DEFAULT_TIMEOUT)
    max_timeout: float = attr.ib(default=60.0)
    max_body_bytes: int = attr.ib(default=1024 * 1024)
    max_concurrent_calls: int = attr.ib(default=64)
    max_waiting_calls: int = attr.ib(default=256)
    cors_origins: tuple[str, ...] = attr.ib(default=(), converter=_origins)
    cors_allow_credentials: bool = attr.ib(default=False)
    cors_max_age: int = attr.ib(default=600)
    allowed_hosts: Sequence[str] | None = attr.ib(default=None, converter=_hosts)
    title: str = attr.ib(default="pysoa_like gateway")
    version: str = attr.ib(default="1.0.0")
    docs: bool = attr.ib(default=True)
    openapi_refresh_seconds: float = attr.ib(default=60.0)

    def __attrs_post_init__(self) -> None:
        _number("max_timeout", self.max_timeout, 0)
        _number("timeout", self.timeout, 0)
        if self.timeout > self.max_timeout:
            # Said plainly when only max_timeout was set: the error is about a timeout the settings do not show.
            default = (
                f" (the default timeout is {_DEFAULT_TIMEOUT:g}: set timeout too)"
                if self.timeout == _DEFAULT_TIMEOUT
                else ""
            )
            raise ValueError(
                f"timeout must be at most {self.max_timeout:g} (max_timeout), got {self.timeout!r}{default}"
            )
        refresh = self.openapi_refresh_seconds
        if isinstance(refresh, bool) or not isinstance(refresh, int | float) or not 0 <= refresh < math.inf:
            raise ValueError(f"openapi_refresh_seconds must be a number of seconds, 0 or more, got {refresh!r}")
        for name in ("max_body_bytes", "max_concurrent_calls", "cors_max_age"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "cors_max_age" else 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        waiting = self.max_waiting_calls
        if isinstance(waiting, bool) or not isinstance(waiting, int) or waiting < 0:
            raise ValueError(f"max_waiting_calls must be an integer, 0 or more, got {waiting!r}")
        for name in ("cors_allow_credentials", "docs"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError('cors_allow_credentials cannot be used with cors_origins ["*"]: list the origins')
        for name in ("title", "version"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} must be a non-empty string")

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> GatewaySettings:
        """Settings from a dict such as a settings module's ``GATEWAY_SETTINGS``.

        Raises:
            ValueError: An unknown key (with the known ones), a missing ``expose``, or a bad value.
        """
        if not isinstance(settings, Mapping):
            raise ValueError(f"the gateway settings must be a dict, got {type(settings).__name__}")
        known = [field.name for field in attr.fields(cls)]
        unknown = sorted(str(key) for key in settings if key not in known)
        if unknown:
            raise ValueError(f"unknown gateway setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if "expose" not in settings:
            raise ValueError('the gateway settings need "expose": the services and actions to call over HTTP')
        return cls(**dict(settings))

    def exposes(self, service: str, action: str) -> bool:
        """Whether ``action`` of ``service`` may be called through the gateway."""
        actions = self.expose.get(service)
        if actions is None:
            return False
        if actions == ALL_ACTIONS:
            return action not in BUILTIN_ACTIONS
        return action in actions
