"""The in-process (local) transport: a client that runs its service's server in the calling thread.

``LocalClientTransport`` builds the server from ``server_class`` and ``server_settings`` (with its
own transport in place of the configured one) and, for every request, runs the server's whole
pipeline (validation, middleware, actions) synchronously. Replies wait in a per-thread queue, as
over Redis, where each client thread has its own reply list.

Unlike PySOA, requests and responses are round-tripped through :class:`MsgpackSerializer` by
default, so a body that could not cross Redis fails the same way locally: an unserializable request
raises ``InvalidField`` in the client, an unserializable response becomes the server's
``RESPONSE_NOT_SERIALIZABLE`` error. ``serialize_messages=False`` turns this off (bodies are then
passed by reference, as PySOA did).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.common import fields
from pysoa_like.common.fields import ClassConfigurationSchema, resolve_python_path
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import AsyncClientTransport, ClientTransport, ReceivedMessage, ServerTransport
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageTooLarge
from pysoa_like.core.message import expiry_time

if TYPE_CHECKING:
    from pysoa_like.common.serializer import Serializer
    from pysoa_like.server.server import Server

__all__ = [
    "AsyncLocalClientTransport",
    "LocalClientTransport",
    "LocalClientTransportSchema",
    "LocalServerTransport",
    "LocalServerTransportSchema",
]

_LOCAL_SERVER_TRANSPORT_PATH = "pysoa_like.common.transport.local:LocalServerTransport"

LocalClientTransportSchema = fields.Dictionary(
    {
        "server_class": fields.Any(
            fields.UnicodeString(description="The import path of the server class"),
            fields.ObjectInstance(type, description="The server class"),
        ),
        "server_settings": fields.Any(
            fields.UnicodeString(description="The import path of the server settings dict"),
            fields.ObjectInstance(Mapping, description="The server settings"),
        ),
        "serialize_messages": fields.Boolean(
            description="Round-trip requests and responses through the msgpack serializer (default true)"
        ),
        "maximum_message_size_in_bytes": fields.Nullable(
            fields.Integer(gte=1, description="Refuse serialized messages larger than this (default: no limit)")
        ),
    },
    optional_keys=("serialize_messages", "maximum_message_size_in_bytes"),
    description="The settings of the local client transport",
)

LocalServerTransportSchema = fields.Dictionary({}, description="The local server transport takes no settings")


@ClassConfigurationSchema.provider(LocalServerTransportSchema)
class LocalServerTransport(ServerTransport):
    """A placeholder server transport that :class:`LocalClientTransport` replaces with itself.

    Put it in the server settings of services that only ever run locally; using it directly raises.
    """

    def receive_request_message(self) -> ReceivedMessage:
        raise TypeError("LocalServerTransport is a placeholder; run the server through LocalClientTransport")

    def send_response_message(self, request_id: Any, meta: dict[str, Any], body: dict[str, Any]) -> None:
        raise TypeError("LocalServerTransport is a placeholder; run the server through LocalClientTransport")


def _resolve(value: Any, setting: str, service_name: str) -> Any:
    """``value``, or what its import path names.

    Raises:
        ValueError: The path names nothing importable; the message names the setting and the service (it was
            the bare ``ModuleNotFoundError`` or ``AttributeError`` of the import, at the first call).
    """
    if not isinstance(value, str):
        return value
    try:
        return resolve_python_path(value)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(
            f"{setting} {value!r} of the local transport for service {service_name!r} cannot be imported: {exc}"
        ) from exc


@ClassConfigurationSchema.provider(LocalClientTransportSchema)
class LocalClientTransport(ClientTransport, ServerTransport):
    """A client transport that runs the service's server in-process.

    Args:
        service_name: The service called; must equal the server class's ``service_name``.
        metrics: The metrics recorder.
        server_class: The server class, or its import path (``"pkg.mod:MyServer"`` or ``"pkg.mod.MyServer"``).
        server_settings: The server settings dict, or the import path of one. It is not modified: the
            server gets a copy whose ``transport`` is this transport.
        serialize_messages: Round-trip each request and response through msgpack (default ``True``).
        maximum_message_size_in_bytes: With serialization on, refuse larger messages with
            ``MessageTooLarge`` (requests: raised to the caller; responses: ``RESPONSE_TOO_LARGE``).
            ``None`` (the default) means no limit.

    Raises:
        ValueError: The server class serves a different service, or ``server_class`` or ``server_settings`` is an
            import path that names nothing importable (the message names the setting and the service).
    """

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder | None = None,
        server_class: type[Server] | str | None = None,
        server_settings: Mapping[str, Any] | str | None = None,
        serialize_messages: bool = True,
        maximum_message_size_in_bytes: int | None = None,
    ) -> None:
        super().__init__(service_name, metrics)
        resolved_class = _resolve(server_class, "server_class", service_name)
        if not isinstance(resolved_class, type):
            raise ValueError(f"server_class must be a Server class or its import path, got {server_class!r}")
        served = getattr(resolved_class, "service_name", None)
        if served != service_name:
            raise ValueError(
                f"The local transport for service {service_name!r} was given server class "
                f"{resolved_class.__name__}, which serves {served!r}"
            )
        settings = _resolve(server_settings, "server_settings", service_name)
        if not isinstance(settings, Mapping):
            raise ValueError(f"server_settings must be a dict or its import path, got {server_settings!r}")
        settings = dict(settings)
        settings["transport"] = {"path": _LOCAL_SERVER_TRANSPORT_PATH}

        self._serializer: Serializer | None = None
        if serialize_messages:
            from pysoa_like.common.serializer import MsgpackSerializer

            self._serializer = MsgpackSerializer()
        self.maximum_message_size_in_bytes = maximum_message_size_in_bytes
        self._local = threading.local()

        self.server: Server = resolved_class(settings)
        self.server.transport = self
        self.server.setup()

    @classmethod
    def asyncio_transport(
        cls, service_name: str, metrics: MetricsRecorder | None = None, **kwargs: Any
    ) -> AsyncLocalClientTransport:
        """The asyncio twin: this transport (or subclass), with its server run in a worker thread of its own."""
        return AsyncLocalClientTransport(
            cls(service_name, metrics, **kwargs), lambda: cls(service_name, metrics, **kwargs)
        )

    def _replies(self) -> collections.deque[ReceivedMessage]:
        try:
            replies: collections.deque[ReceivedMessage] = self._local.replies
        except AttributeError:
            replies = self._local.replies = collections.deque()
        return replies

    def _round_trip(self, request_id: Any, meta: dict[str, Any], body: dict[str, Any]) -> ReceivedMessage:
        if self._serializer is None:
            return ReceivedMessage(request_id, meta, body)
        blob = self._serializer.dict_to_blob({"request_id": request_id, "meta": meta, "body": body})
        limit = self.maximum_message_size_in_bytes
        if limit is not None and len(blob) > limit:
            raise MessageTooLarge(len(blob), f"Message of {len(blob)} bytes exceeds the maximum of {limit} bytes")
        envelope = self._serializer.blob_to_dict(blob)
        return ReceivedMessage(envelope["request_id"], envelope.get("meta") or {}, envelope["body"])

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        """Run the request through the server now; its reply is queued for this thread.

        Raises:
            InvalidField: The request cannot be serialized (serialization on).
            MessageTooLarge: The serialized request exceeds ``maximum_message_size_in_bytes``.
        """
        if message_expiry_in_seconds:
            # The deadline the server sees, as over Redis (the envelope's expiry).
            meta = {**meta, "__expiry__": expiry_time(message_expiry_in_seconds, time.time())}
        self._local.pending = self._round_trip(request_id, meta, body)
        self.server.handle_next_request()

    def receive_response_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        """The oldest reply queued for this thread, or ``ReceivedMessage(None, None, None)``."""
        replies = self._replies()
        return replies.popleft() if replies else ReceivedMessage(None, None, None)

    def receive_request_message(self) -> ReceivedMessage:
        """Server side: the request handed over by :meth:`send_request_message` in this thread."""
        pending: ReceivedMessage | None = getattr(self._local, "pending", None)
        self._local.pending = None
        return pending if pending is not None else ReceivedMessage(None, None, None)

    def send_response_message(self, request_id: Any, meta: dict[str, Any], body: dict[str, Any]) -> None:
        """Server side: queue the reply for the calling thread (after the serialization round trip)."""
        self._replies().append(self._round_trip(request_id, meta, body))

    def close(self) -> None:
        """Tear the server down and stop its event loop thread (if ``run_coroutine`` started it)."""
        try:
            self.server.teardown()
        finally:
            self.server.close()


class AsyncLocalClientTransport(AsyncClientTransport):
    """The asyncio twin of :class:`LocalClientTransport`: the server runs in a worker thread, never on the loop.

    Each request goes through the wrapped transport exactly as a ``Client``'s would (serialization round trip,
    the whole server pipeline), in one worker thread of this transport's own: jobs run one at a time, in the
    order they were sent, as a worker process with ``concurrency`` 1 runs them, and blocking action code never
    stalls the event loop. A call that times out or is cancelled leaves its job to finish in the thread; the
    reply is then dropped.

    Args:
        transport: The local transport (or a subclass, such as the stub transport) to run requests through.
        reopen: Makes a new one like it, for calls made after :meth:`aclose` tore the server down (``None``: such
            calls use the torn-down server).
    """

    def __init__(
        self, transport: LocalClientTransport, reopen: Callable[[], LocalClientTransport] | None = None
    ) -> None:
        super().__init__(transport.service_name, transport.metrics)
        #: The wrapped blocking transport (its ``server`` is the service's).
        self.transport = transport
        self.server = transport.server
        self._reopen = reopen
        self._closed = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        # (event loop, request id) -> the job's future: loops in several threads may share this transport.
        self._calls: dict[tuple[asyncio.AbstractEventLoop | None, Any], asyncio.Future[ReceivedMessage]] = {}

    def _run(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any], expiry: float | None
    ) -> ReceivedMessage:
        """In the worker thread: the request through the wrapped transport and its server, and the reply."""
        transport = self.transport
        transport.send_request_message(request_id, meta, body, expiry)
        return transport.receive_response_message()

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        """Hand the request to the worker thread; its reply (or error) is what :meth:`receive_response_message` gets."""
        if self._closed and self._reopen is not None:
            # Used again after aclose(): a new server, set up as the first one was.
            self.transport = self._reopen()
            self.server = self.transport.server
        self._closed = False
        with self._executor_lock:  # one worker thread, even when loops in two threads send at once
            executor = self._executor
            if executor is None:
                executor = self._executor = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix=f"pysoa-like-local-{self.service_name}"
                )
        loop = asyncio.get_running_loop()
        self._calls[loop, request_id] = loop.run_in_executor(
            executor, self._run, request_id, meta, body, message_expiry_in_seconds
        )

    async def receive_response_message(
        self, request_id: int, receive_timeout_in_seconds: float | None = None
    ) -> ReceivedMessage:
        """The reply to ``request_id``, once the server has run it (errors of the request are raised here).

        Raises:
            MessageReceiveTimeout: The job did not finish within ``receive_timeout_in_seconds`` (when given), or
                ``request_id`` is not awaited.
            InvalidField, MessageTooLarge: The request could not be serialized.
        """
        key = _call_key(request_id)
        call = self._calls.get(key)
        if call is None:
            raise MessageReceiveTimeout(f"No request {request_id!r} to service {self.service_name} is awaited")
        try:
            if receive_timeout_in_seconds:
                # Shielded: the job goes on in its thread; only this wait ends.
                done, _pending = await asyncio.wait((call,), timeout=receive_timeout_in_seconds)
                if not done:
                    raise MessageReceiveTimeout(
                        f"No response from service {self.service_name} for request {request_id} within "
                        f"{receive_timeout_in_seconds} seconds"
                    )
            return await call
        finally:
            self._calls.pop(key, None)

    def forget(self, request_id: int) -> None:
        """Drop the reply of a request nobody will wait for (its job still runs)."""
        self._forget_call(_call_key(request_id))

    def _forget_call(self, key: tuple[asyncio.AbstractEventLoop | None, Any]) -> None:
        call = self._calls.pop(key, None)
        if call is not None and not call.done():
            call.add_done_callback(_consume)

    async def aclose(self) -> None:
        """Tear the server down (in the worker thread, after the jobs sent before) and stop the thread.

        The replies this event loop still owes are dropped. Those of other loops sharing the transport (other
        threads) are left to them: their jobs run before the server is torn down, and a future belongs to its
        own loop's thread, so it is not touched from this one.
        """
        executor, self._executor = self._executor, None
        loop = asyncio.get_running_loop()
        for key in list(self._calls):
            if key[0] is loop:
                self._forget_call(key)
        if executor is None:
            return
        self._closed = True
        try:
            await loop.run_in_executor(executor, self.transport.close)
        finally:
            executor.shutdown(wait=False)


def _call_key(request_id: Any) -> tuple[asyncio.AbstractEventLoop | None, Any]:
    """A request's key among the calls: its id, with the event loop running in this thread (if any)."""
    try:
        return asyncio.get_running_loop(), request_id
    except RuntimeError:
        return None, request_id


def _consume(call: asyncio.Future[Any]) -> None:
    """Read a forgotten job's outcome, so that its error is not reported as never retrieved."""
    if not call.cancelled():
        call.exception()
