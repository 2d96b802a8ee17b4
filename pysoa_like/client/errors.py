"""Client exceptions.

Tree::

    PySOAClientError
    ├── ImproperlyConfigured   the client has no settings for the called service
    ├── InvalidExpansionKey    an ``expansions`` argument names an unknown type or expansion
    ├── CallJobError           the job failed with job-level errors (``.errors``)
    ├── CallActionError        one or more actions failed (``.actions``: only those with errors)
    ├── DeadlineExceededError  the call's deadline passed before it could be sent (also a
    │                          ``MessageReceiveTimeout``, so code catching timeouts catches it)
    ├── CircuitOpenError       the service's circuit breaker is open: nothing was sent (also a
    │                          ``TransientPySOATransportError``)
    └── BulkheadFullError      the service already has its maximum of calls in flight: nothing was
                               sent (also a ``TransientPySOATransportError``)

Also :class:`~pysoa_like.fleet.errors.ServiceVersionError` (no live instance meets a service's
``minimum_version``), and the warning :class:`DeprecatedActionWarning`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pysoa_like.common.errors import Error, PySOAError
from pysoa_like.common.transport.errors import MessageReceiveTimeout, TransientPySOATransportError
from pysoa_like.common.types import ActionResponse

__all__ = [
    "BulkheadFullError",
    "CallActionError",
    "CallJobError",
    "CircuitOpenError",
    "DeadlineExceededError",
    "DeprecatedActionWarning",
    "ImproperlyConfigured",
    "InvalidExpansionKey",
    "PySOAClientError",
]


class PySOAClientError(PySOAError):
    """The base of client errors."""


class ImproperlyConfigured(PySOAClientError):
    """The client is not configured for the requested service (or is configured wrongly)."""


class InvalidExpansionKey(PySOAClientError):
    """An ``expansions`` argument names a type or expansion the expansion config does not define."""


class CallJobError(PySOAClientError):
    """A job came back with job-level errors.

    Args:
        errors: The job-level :class:`~pysoa_like.common.errors.Error` records.
    """

    def __init__(self, errors: Iterable[Error] | None = None) -> None:
        self.errors: list[Error] = list(errors or [])
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "Error calling job: " + "; ".join(f"{e.code}: {e.message}" for e in self.errors)


class CallActionError(PySOAClientError):
    """One or more actions came back with errors.

    Args:
        actions: The :class:`~pysoa_like.common.types.ActionResponse` objects that have errors.
    """

    def __init__(self, actions: Iterable[ActionResponse] | None = None) -> None:
        self.actions: list[ActionResponse] = list(actions or [])
        super().__init__(self.actions)

    def __str__(self) -> str:
        parts = []
        for action in self.actions:
            for e in action.errors:
                where = f" (field {e.field})" if e.field else ""
                parts.append(f"{action.action}: {e.code}: {e.message}{where}")
        return "Error calling action(s): " + "; ".join(parts)


class DeprecatedActionWarning(UserWarning):
    """Issued (``warnings.warn``) when a called action is marked deprecated by its service.

    Args:
        service_name: The service called.
        action: The deprecated action.
        message: What the service says about it (what to use instead).
    """

    def __init__(self, service_name: str, action: str, message: str) -> None:
        super().__init__(f'Action "{action}" of service {service_name} is deprecated: {message}')
        self.service_name = service_name
        self.action = action
        self.message = message


class DeadlineExceededError(PySOAClientError, MessageReceiveTimeout):
    """The call's deadline had passed (or left no time) before its request could be sent; nothing was sent.

    A client bounded by a deadline (``request.client`` inside an action, bounded by its job's deadline) raises
    it instead of sending a call that cannot be answered in time.
    """


class CircuitOpenError(PySOAClientError, TransientPySOATransportError):
    """The circuit breaker of the called service (or action) is open: the call failed at once, nothing was sent.

    Args:
        service_name: The service called.
        action: The action, when the breaker is per action, else ``None``.
        retry_after: Seconds until the breaker lets a probe call through.
    """

    def __init__(self, service_name: str, action: str | None, retry_after: float) -> None:
        where = f"service {service_name}" if action is None else f'action "{action}" of service {service_name}'
        super().__init__(
            f"The circuit breaker of {where} is open after too many failures; calls fail at once for another "
            f"{retry_after:.1f} s, then a probe call is let through"
        )
        self.service_name = service_name
        self.action = action
        self.retry_after = retry_after


class BulkheadFullError(PySOAClientError, TransientPySOATransportError):
    """The called service already had its maximum of calls in flight from this process: nothing was sent.

    Args:
        service_name: The service called.
        max_in_flight: The bulkhead's limit.
    """

    def __init__(self, service_name: str, max_in_flight: int) -> None:
        super().__init__(
            f"Service {service_name} already has {max_in_flight} calls in flight from this process (its bulkhead's "
            "max_in_flight); the call was refused"
        )
        self.service_name = service_name
        self.max_in_flight = max_in_flight
