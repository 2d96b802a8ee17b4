"""What Client and AsyncClient share: the constructor, settings, handlers by service, what a service's transport
waits by default (so the two clients are configured and resolve services the same way), and the client's deadline
with what it leaves a call."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pysoa_like.client._deadline import JOB_DEADLINE, within_deadline
from pysoa_like.client.errors import CallActionError, CallJobError, ImproperlyConfigured, InvalidExpansionKey
from pysoa_like.client.expander import ExpansionConverter, ExpansionSettings
from pysoa_like.client.settings import ClientSettings
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.settings import SettingsError

if TYPE_CHECKING:
    from pysoa_like.client.client import CallOptions

__all__ = ["ClientBase"]

#: The handler class of a client (``ServiceHandler`` or ``AsyncServiceHandler``).
_Handler = TypeVar("_Handler")


# What JOB_DEADLINE gives outside any job (a job without a deadline gives None).
_OUTSIDE_JOBS: Any = object()


def _not_a_mapping(config: Any) -> str:
    """Why a client's ``config`` that is not a mapping is refused, saying what is expected instead."""
    return (
        "Invalid client config: expected a dict of service name -> client settings, such as "
        "{'calculator': {'transport': {'path': ..., 'kwargs': {...}}}}, got "
        f"{type(config).__name__} {short_repr(config)}"
    )


class ClientBase(Generic[_Handler]):
    """The common base of :class:`~pysoa_like.client.client.Client` and its asyncio twin (see their docs).

    Args:
        config: Service name -> client settings dict, each validated here with :attr:`settings_class`.
        expansion_config: Optional ``{"type_routes": ..., "type_expansions": ...}`` enabling ``expansions``.
        settings_class: Overrides :attr:`settings_class` for this client.
        context: The base context of every request; never modified.
        fleet: Where the fleet features live (see ``Client``).

    Raises:
        SettingsError: ``config`` is not a mapping, or a service's settings or the expansion config are invalid.
    """

    # The deadline set on this client (see ``deadline``).
    _deadline: float | None = None
    #: Set by a server on the client of its jobs (``request.client``): each call is then bounded by the deadline
    #: of the job in whose context it is made, less this many seconds, so that jobs sharing one client (a
    #: ``make_client`` that caches it) never bound each other's calls; ``None`` for other clients. (A call
    #: looks at :attr:`deadline` only when this or a deadline is set.)
    job_deadline_margin: float | None = None

    @property
    def deadline(self) -> float | None:
        """An absolute Unix time that bounds every call of this client, or ``None``.

        For a client a server made for its jobs, the deadline of the job the calling code runs in (less the
        margin); where no job is known (a thread the action started itself), the one last set.
        """
        margin = self.job_deadline_margin
        if margin is not None:
            job_deadline = JOB_DEADLINE.get(_OUTSIDE_JOBS)
            if job_deadline is not _OUTSIDE_JOBS:
                return None if job_deadline is None else job_deadline - margin
        return self._deadline

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self._deadline = value

    def _within_deadline(self, service_names: Iterable[str], options: CallOptions) -> CallOptions:
        """The options of a call bounded by :attr:`deadline` (if it is set): its wait cut to the time left.

        Raises:
            DeadlineExceededError: No time is left: nothing may be sent.
        """
        deadline = self.deadline
        if deadline is None:
            return options
        return within_deadline(deadline, service_names, options, self._default_wait)

    settings_class: Any = ClientSettings
    handler_class: type[_Handler]

    CallActionError = CallActionError
    CallJobError = CallJobError
    JobError = CallJobError
    ImproperlyConfigured = ImproperlyConfigured
    InvalidExpansionKey = InvalidExpansionKey

    def __init__(
        self,
        config: Mapping[str, Any],
        expansion_config: Mapping[str, Any] | None = None,
        settings_class: Any = None,
        context: Mapping[str, Any] | None = None,
        *,
        fleet: Any = None,
    ) -> None:
        self._fleet_argument = fleet
        if settings_class is not None:
            self.settings_class = settings_class
        self.context: Mapping[str, Any] = context or {}
        if config is not None and not isinstance(config, Mapping):
            raise SettingsError(_not_a_mapping(config))
        self.config: Mapping[str, Any] = config or {}
        self.settings: dict[str, Any] = (
            {name: self._validate(value) for name, value in self.config.items()} if self.config else {}
        )
        self.handlers: dict[str, _Handler] = {}
        self._handlers_lock = threading.Lock()
        self.expansion_converter: ExpansionConverter | None = None
        if expansion_config:
            expansion_settings = ExpansionSettings(expansion_config)
            self.expansion_converter = ExpansionConverter(
                type_routes=expansion_settings["type_routes"],
                type_expansions=expansion_settings["type_expansions"],
            )

    def _validate(self, service_settings: Any) -> Any:
        # Servers build a client per request from already validated settings; skip re-validating them.
        settings_class = self.settings_class
        if isinstance(settings_class, type) and isinstance(service_settings, settings_class):
            return service_settings
        return settings_class(service_settings)

    def _get_handler(self, service_name: str) -> _Handler:
        handler = self.handlers.get(service_name)
        if handler is not None:
            return handler
        if not isinstance(service_name, str):
            raise ValueError(f"Called service name must be a string, got {service_name!r}")
        with self._handlers_lock:
            handler = self.handlers.get(service_name)
            if handler is None:
                if service_name not in self.settings:
                    raise self.ImproperlyConfigured(f'Unrecognized service name "{service_name}"')
                handler = self.handler_class(service_name, self.settings[service_name])  # type: ignore[call-arg]
                self.handlers[service_name] = handler
        return handler

    def _default_wait(self, service_name: str) -> float | None:
        """How long a receive of ``service_name``'s transport waits when a call gives no timeout (if it says)."""
        try:
            transport = self._get_handler(service_name).transport  # type: ignore[attr-defined]
        except (ImproperlyConfigured, ValueError):
            return None
        wait = getattr(transport, "receive_timeout_in_seconds", None)
        return wait if isinstance(wait, int | float) and not isinstance(wait, bool) and wait > 0 else None

    def _call_policies(self, service_name: str, options: Any) -> Any:
        """The policies a call to ``service_name`` goes through: the service's, or made (empty) for a call that
        brings its own ``retry`` policy to a service with none; ``None`` when neither."""
        policies = self._policies(service_name)
        if policies is None and options.retry:
            try:
                policies = self._get_handler(service_name).make_policies()  # type: ignore[attr-defined]
            except ImproperlyConfigured:
                return None
        return policies

    def _policies(self, service_name: str) -> Any:
        """The service's resilience policies (``None``: none configured, or a service only a replaced method knows)."""
        handler = self.handlers.get(service_name)
        if handler is None:
            try:
                handler = self._get_handler(service_name)
            except ImproperlyConfigured:
                return None
        return handler.policies  # type: ignore[attr-defined]
