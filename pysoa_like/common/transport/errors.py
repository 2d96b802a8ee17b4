"""Transport exceptions.

Tree::

    PySOATransportError
    ├── MessageTooLarge              the serialized message exceeds the configured maximum
    ├── InvalidMessageError          a received message is malformed (no request id, bad chunks, ...)
    └── TransientPySOATransportError a retry may succeed
        ├── MessageReceiveTimeout    nothing arrived in time, or the reply expired
        ├── MessageSendTimeout       PySOA's; kept for compatibility (never raised here)
        ├── MessageReceiveError      the backend failed while receiving
        │   └── ReceiveAuthenticationError  the backend refused the credentials (a retry cannot help)
        ├── MessageSendError         the backend failed while sending, or the queue stayed full
        │   └── QueueFullSendError   the service's queue stayed full: come back after ``retry_after`` seconds
        └── ConnectionError          the backend could not be reached
"""

from __future__ import annotations

from typing import Any

from pysoa_like.common.errors import PySOAError

__all__ = [
    "ConnectionError",
    "InvalidMessageError",
    "MessageReceiveError",
    "MessageReceiveTimeout",
    "MessageSendError",
    "MessageSendTimeout",
    "MessageTooLarge",
    "PySOATransportError",
    "QueueFullSendError",
    "ReceiveAuthenticationError",
    "TransientPySOATransportError",
]


class PySOATransportError(PySOAError):
    """The base of all transport errors."""


class MessageTooLarge(PySOATransportError):
    """The serialized message is larger than the transport's ``maximum_message_size_in_bytes``.

    Args:
        message_size_in_bytes: The size of the message that was refused.
    """

    def __init__(self, message_size_in_bytes: int, *args: Any) -> None:
        self.message_size_in_bytes = message_size_in_bytes
        super().__init__(*args)


class InvalidMessageError(PySOATransportError):
    """A received message cannot be used (no request id, bad chunk sequence, bad framing)."""


class TransientPySOATransportError(PySOATransportError):
    """A transport failure that may go away on retry."""


class MessageReceiveTimeout(TransientPySOATransportError):
    """No message arrived within the timeout, or the one that arrived had expired.

    Attributes:
        queue_length: For a call over Redis that timed out, how many requests still waited in the service's
            request queue when the transport looked (``0``: a worker took the request and did not reply in
            time; more: no worker took it); ``None`` when that is not known (the queue could not be read in
            time, another transport, or another cause).
    """

    queue_length: int | None = None


class MessageSendTimeout(TransientPySOATransportError):
    """Sending did not complete within the timeout (PySOA's name, kept for compatibility: never raised here)."""


class MessageReceiveError(TransientPySOATransportError):
    """The backend failed while receiving."""


class ReceiveAuthenticationError(MessageReceiveError):
    """The backend refused the credentials while receiving (a wrong password or user, or none given).

    Waiting cannot fix it, so a server stops on it (exit status 2) instead of retrying. It is a
    :class:`MessageReceiveError`, so code that catches that still catches it.
    """


class MessageSendError(TransientPySOATransportError):
    """The backend failed while sending, or the queue was still full after all retries."""


class QueueFullSendError(MessageSendError):
    """The service's request queue stayed at its ``queue_capacity`` through the retries: the request was never sent.

    Args:
        message: What happened (PySOA's text: ``Redis queue <name> was full after <n> retries``).
        retry_after: When to come back, in seconds: the next wait of the transport's queue-full schedule, by
            which the service's workers have had the time to take some requests. A client's retry policy
            waits this long before it tries again (within the call's deadline), and the HTTP gateway answers
            503 with it as ``Retry-After``.
    """

    def __init__(self, message: str = "", retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConnectionError(TransientPySOATransportError):  # shadows the builtin on purpose: PySOA's public name
    """The backend could not be reached."""
