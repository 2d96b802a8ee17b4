"""The transport contracts: the extension point for carrying messages between clients and servers.

A client transport sends request messages and receives response messages; a server transport does
the reverse. Messages are ``(request_id, meta, body)`` triples where ``body`` is the job request or
job response as a plain dict. Transports own serialization, framing and delivery; everything about
policy (routing replies to callers, retries of whole calls) belongs to the client and server.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from typing import Any

from pysoa_like.common.metrics import MetricsRecorder, NoOpMetricsRecorder
from pysoa_like.common.transport.errors import PySOATransportError
from pysoa_like.core.message import ReceivedMessage, ReceivedMeta

__all__ = [
    "AsyncClientTransport",
    "ClientTransport",
    "ReceivedMessage",
    "ReceivedMeta",
    "ServerTransport",
    "Transport",
    "get_hex_thread_id",
]


def get_hex_thread_id() -> str:
    """The current thread's identifier as lowercase hex, zero-padded to at least 12 digits."""
    return format(threading.get_ident(), "012x")


class Transport:
    """The common base of client and server transports.

    Args:
        service_name: The name of the service this transport talks to (or serves).
        metrics: The metrics recorder to report to (a no-op recorder by default).

    Raises:
        ValueError: If ``service_name`` is not a non-empty string.
    """

    def __init__(self, service_name: str, metrics: MetricsRecorder | None = None) -> None:
        if not isinstance(service_name, str) or not service_name:
            raise ValueError(f"service_name must be a non-empty string, got {service_name!r}")
        self.service_name = service_name
        self.metrics: MetricsRecorder = metrics if metrics is not None else NoOpMetricsRecorder()


class ClientTransport(Transport, abc.ABC):
    """Sends job requests to one service and receives its responses."""

    @classmethod
    def asyncio_transport(
        cls, service_name: str, metrics: MetricsRecorder | None = None, **kwargs: Any
    ) -> AsyncClientTransport | None:
        """The asyncio twin of this transport, for an :class:`~pysoa_like.client.async_client.AsyncClient`.

        An ``AsyncClient`` is configured with the same settings as a ``Client``: it builds its transports by
        calling this on the configured class with the configured ``kwargs``. The default has no twin (``None``):
        the client then refuses the service with a clear error. The Redis and local transports return theirs.

        Args:
            service_name: The service.
            metrics: The metrics recorder.
            **kwargs: The transport's settings (``transport.kwargs``).
        """
        return None

    @abc.abstractmethod
    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        """Send one request message.

        Args:
            request_id: The id the response will carry.
            meta: Transport metadata (``client_version`` and anything client middleware added).
            body: The job request as a dict.
            message_expiry_in_seconds: How long the message may wait before a server takes it;
                ``None`` for the transport's default.

        Raises:
            MessageTooLarge: The serialized message exceeds the transport's limit.
            MessageSendError: The message could not be sent.
        """

    def receive_follows(self, receive_timeout_in_seconds: float | None) -> None:
        """Say that this thread's next send is followed at once by a receive of its reply (or, with None, not).

        A blocking call says so; a transport may then start the wait for the reply with the send (the Redis
        transport writes the push and the pop in one write). Errors of the send may then be raised by the
        receive instead. The default does nothing.

        Args:
            receive_timeout_in_seconds: The receive's timeout; None to take the announcement back.
        """
        return None

    def begin_send_batch(self) -> bool:
        """Start holding this thread's sends back until :meth:`flush_send_batch` sends them together.

        The client calls this around the sends of a parallel call, so that a transport able to send many
        messages in one round trip can do so. Messages are still validated and serialized by each
        :meth:`send_request_message` (their errors are raised there); only the delivery waits.

        Returns:
            True if this transport batches and no batch was already open on this thread; False otherwise
            (then sends go out one by one and :meth:`flush_send_batch` must not be called).
        """
        return False

    def flush_send_batch(self) -> dict[int, PySOATransportError]:
        """Send everything held back since :meth:`begin_send_batch` and end the batch.

        Returns:
            The request ids whose message could not be sent, each with its error (usually
            ``MessageSendError``); their replies are no longer awaited.
        """
        return {}

    @classmethod
    def flush_send_batches(cls, transports: Sequence[ClientTransport]) -> list[dict[int, PySOATransportError]]:
        """:meth:`flush_send_batch` for several transports of this class (the services of a parallel call).

        A transport that can send the batches of several transports together (the Redis transport: one round
        trip per Redis master for all of them) overrides this; by default each is flushed in turn.

        Returns:
            Per transport, what its :meth:`flush_send_batch` returns.
        """
        return [transport.flush_send_batch() for transport in transports]

    @abc.abstractmethod
    def receive_response_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        """Receive one response message sent to this client (this thread).

        Args:
            receive_timeout_in_seconds: How long to wait; ``None`` for the transport's default.

        Returns:
            The message, or ``ReceivedMessage(None, None, None)`` if nothing is outstanding.

        Raises:
            MessageReceiveTimeout: Nothing arrived in time.
            MessageReceiveError: The transport failed while receiving.
        """


class ServerTransport(Transport, abc.ABC):
    """Receives job requests for one service and sends its responses.

    Args:
        service_name: The service served.
        metrics: The metrics recorder.
        instance_index: The worker's fork id (1-based).
    """

    def __init__(self, service_name: str, metrics: MetricsRecorder | None = None, instance_index: int = 1) -> None:
        super().__init__(service_name, metrics)
        self.instance_index = instance_index

    @abc.abstractmethod
    def receive_request_message(self) -> ReceivedMessage:
        """Receive the next request.

        A transport may also accept an optional ``receive_timeout_in_seconds`` argument; the server
        then passes a short wait so that it notices a shutdown signal within about a second.

        Raises:
            MessageReceiveTimeout: Nothing arrived within the transport's receive timeout.
        """

    def hold_many_requests(self) -> None:
        """Called once by a concurrent worker (``concurrency`` above 1) before it receives anything: from then on
        requests are received before earlier ones are answered, answers come in any order, and they are sent from
        another thread than the receiving one. Transports that keep state per request held adjust it here; the
        default does nothing."""
        return None

    def request_done(self, meta: dict[str, Any]) -> None:
        """Called by a concurrent worker once it is done with a request received earlier (``meta`` as received),
        answered or not, from the thread that sends responses. Transports that hold a request until then (the Redis
        transport's at-least-once delivery) let it go here; the default does nothing."""
        return None

    def response_suppressed(self, meta: dict[str, Any]) -> None:
        """Called instead of :meth:`send_response_message` when a job asked for no response (``suppress_response``
        in its control header, as the job middleware and the actions left it): the request is done, and nothing will
        be sent for it. Transports that hold a request until it is answered (the Redis transport's at-least-once
        delivery) count it answered here; the default does nothing."""
        return None

    def receive_follows(self, receive_timeout_in_seconds: float | None) -> None:
        """Say that, from now on, each response sent is followed at once by the receive of the next request (or,
        with None, no longer).

        A worker that serves one request at a time says so; a transport may then start the wait for the next
        request with the response's send (the Redis transport writes the push and the pop in one write). A wait
        started that no receive reads is ended by :meth:`flush_responses`, without losing what it took. The
        default does nothing.

        Args:
            receive_timeout_in_seconds: The receive's timeout; None to take the announcement back.
        """
        return None

    def flush_responses(self) -> None:
        """Make sure every response sent so far has been handed over (called when the server stops).

        Transports that confirm sends lazily (the Redis transport reads Redis' acknowledgement of a
        response during the next receive) finish that here; the default does nothing.
        """
        return None

    @abc.abstractmethod
    def send_response_message(self, request_id: Any, meta: dict[str, Any], body: dict[str, Any]) -> None:
        """Send the response to a request received earlier (``meta`` is the request's meta)."""


class AsyncClientTransport(Transport, abc.ABC):
    """The asyncio twin of :class:`ClientTransport`: sends job requests and routes each reply to its caller.

    Unlike the blocking contract, a receive names the request it waits for: the transport routes replies by
    request id, so any number of calls may wait at once on one transport (and one event loop), each getting its
    own reply. A reply nobody waits for (late after a timeout or a cancellation, or a duplicate) is dropped.
    Nothing here may block the event loop.
    """

    #: How long a receive waits when the call gives no timeout (``None``: as long as it takes).
    receive_timeout_in_seconds: float | None = None

    @abc.abstractmethod
    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        """Send one request; unless the job asks for no reply, its reply is awaited from now on.

        Args:
            request_id: The id the response will carry.
            meta: Transport metadata (``client_version`` and anything client middleware added).
            body: The job request as a dict.
            message_expiry_in_seconds: How long the message may wait before a server takes it; ``None`` for the
                transport's default.

        Raises:
            MessageTooLarge: The serialized message exceeds the transport's limit.
            MessageSendError: The message could not be sent.
        """

    @abc.abstractmethod
    async def receive_response_message(
        self, request_id: int, receive_timeout_in_seconds: float | None = None
    ) -> ReceivedMessage:
        """Wait for the reply to one request sent with :meth:`send_request_message`.

        Whatever way the wait ends without the reply (a timeout, a cancellation, an error), the request is
        forgotten: a reply that still comes is dropped.

        Args:
            request_id: The request.
            receive_timeout_in_seconds: How long to wait; ``None`` or ``0`` for the transport's default.

        Raises:
            MessageReceiveTimeout: The reply did not arrive in time, or the request is not awaited.
            MessageReceiveError: The transport failed while receiving.
        """

    def forget(self, request_id: int) -> None:  # a hook: transports that keep nothing need no override
        """Stop waiting for a request that will not be received (its call gave up before waiting)."""

    async def aclose(self) -> None:  # a hook: transports holding nothing need no override
        """Close the transport's connections and tasks (of the running event loop); it may be used again after."""
