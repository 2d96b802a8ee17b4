"""Client exceptions.

Tree::

    PySOAClientError
    ├── ImproperlyConfigured   the client has no settings for the called service
    ├── InvalidExpansionKey    an ``expansions`` argument names an unknown type or expansion
    ├── CallJobError           the job failed with job-level errors (``.errors``)
    └── CallActionError        one or more actions failed (``.actions``: only those with errors)

Also :class:`~pysoa_like.fleet.errors.ServiceVersionError` (no live instance meets a service's
``minimum_version``), and the warning :class:`DeprecatedActionWarning`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pysoa_like.common.errors import Error, PySOAError
from pysoa_like.common.types import ActionResponse

__all__ = [
    "CallActionError",
    "CallJobError",
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
