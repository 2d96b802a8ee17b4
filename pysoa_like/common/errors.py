"""The wire error record and the root of every exception pysoa_like raises.

Exception tree (each module owns its branch)::

    PySOAError                                   pysoa_like.common.errors
    ├── PySOATransportError                      pysoa_like.common.transport.errors
    │   ├── MessageTooLarge
    │   ├── InvalidMessageError
    │   └── TransientPySOATransportError
    │       ├── MessageReceiveTimeout
    │       ├── MessageSendTimeout
    │       ├── MessageReceiveError
    │       ├── MessageSendError
    │       └── ConnectionError
    ├── SerializationError                       pysoa_like.common.serializer.errors
    │   ├── InvalidMessage                       (bytes that cannot be decoded)
    │   └── InvalidField                         (a value that cannot be encoded)
    ├── PySOAClientError                         pysoa_like.client.errors
    │   ├── ImproperlyConfigured
    │   ├── InvalidExpansionKey
    │   ├── CallJobError
    │   └── CallActionError
    └── PySOAServerError                         pysoa_like.server.errors
        ├── JobError
        ├── ActionError
        └── ResponseValidationError
"""

from __future__ import annotations

from typing import Any

import attr

__all__ = ["Error", "PySOAError"]


class PySOAError(Exception):
    """The root of all pysoa_like exceptions; catch it to catch everything the library raises."""


@attr.s(frozen=True, slots=True)
class Error:
    """One error record, as sent on the wire in job and action responses.

    Args:
        code: A machine-readable code, usually one of the ``ERROR_CODE_*`` constants.
        message: A human-readable explanation.
        field: The dotted path of the request field at fault, if any.
        traceback: A formatted traceback, for unexpected server errors.
        variables: Extra diagnostic values (reprs of local variables, for example).
        denied_permissions: Permissions the caller lacked, for access-control errors.
        is_caller_error: Whether the caller (rather than the server) is to blame. It is only sent to
            clients whose ``client_version`` is at least 0.70.0.
    """

    code: str = attr.ib()
    message: str = attr.ib()
    field: str | None = attr.ib(default=None)
    traceback: str | None = attr.ib(default=None)
    variables: dict[str, Any] | None = attr.ib(default=None)
    denied_permissions: list[str] | None = attr.ib(default=None)
    is_caller_error: bool = attr.ib(default=False, metadata={"added_in_version": (0, 70, 0)})
