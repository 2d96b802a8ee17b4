"""The asyncio twin of the Redis client transport: the same settings and bytes, over asyncio streams.

:class:`AsyncRedisClientTransport` is what an :class:`~pysoa_like.client.async_client.AsyncClient` uses for a
service configured with :class:`~pysoa_like.common.transport.redis_gateway.client.RedisClientTransport`.
Everything about bytes and keys is the sans-I/O core's, shared with the blocking driver: envelopes and
expiry, framing, the send script and what its replies mean, the reply nonces (``PendingReplies``), chunk
reassembly, the host ring. What is asyncio's own:

* **Connections**, per event loop, shared by every transport with the same backend settings (``_aio_pool.py``,
  so clients made per request open none of their own): one per ring slot for pushes (any number of concurrent
  pushes pipelined on it, ``AioConnection`` in ``_aio_connection.py``), and, while a transport's calls wait,
  one that blocks on its reply list (taken from the pool's idle ones, given back after).
* **Replies** go to one reply list per transport and loop (``LoopState`` in ``_aio_replies.py``). While any call
  waits, one reader task pops it (``BLPOP`` and, written with it, ``LPOP`` with a count for the replies that came
  with the first: one round trip per batch) and hands each reply to the call that sent its request, by request id
  (a future per awaited request); a reply nobody waits for (late after a timeout or a cancellation, duplicated,
  forged, expired) is dropped and counted. While many calls wait the reader pauses a millisecond between pops, so
  that replies are taken in bigger batches (fewer wake-ups per reply). The reader stops once no call waits
  (``_aio_reply_reader.py``, a base class of the transport).
* **Pushes** (``_aio_pushing.py``, a base class of the transport): the send script, the queue-full retries,
  Redis Cluster's redirects; a call that waits for its reply does not wait for Redis' answer to its push.
* **Waits**: ``asyncio.sleep`` for the queue-full backoff; every wait for Redis has a deadline. The calls'
  timeouts are kept in one heap per reply list with one timer (``LoopState.watch``), the commands' deadlines
  by one watchdog timer per connection (``AioConnection``), not by a timer per call or per command.

* **Dead workers** (``detect_dead_workers``): the blocking driver's protocol, looked at by one task per
  transport and loop while its watched calls wait (``_aio_worker_watch.py``), never by the calls themselves.

Not done by this driver (the blocking one does): transactions for big pushes (every push runs the send script),
and the blocking driver's timers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import weakref
from collections.abc import Mapping
from typing import Any

from pysoa_like.common._bounded_logs import LogThrottle
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.serializer import Serializer
from pysoa_like.common.transport.base import AsyncClientTransport, ReceivedMessage
from pysoa_like.common.transport.errors import (
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageTooLarge,
)
from pysoa_like.common.transport.redis_gateway._aio_pool import pool_for, release_pool
from pysoa_like.common.transport.redis_gateway._aio_pushing import Pushing
from pysoa_like.common.transport.redis_gateway._aio_replies import CallKey, Calls, LoopState, TimedOut, forget_call
from pysoa_like.common.transport.redis_gateway._aio_reply_reader import ReplyReading
from pysoa_like.common.transport.redis_gateway._aio_ring import AioRing, aio_ring_of
from pysoa_like.common.transport.redis_gateway._aio_worker_watch import AioWorkerWatch
from pysoa_like.common.transport.redis_gateway._lanes import READ_MARGIN_SECONDS
from pysoa_like.common.transport.redis_gateway._settings_schema import RedisTransportSchema, check_transport_kwargs
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import SerializersByType, backend_key, make_serializer
from pysoa_like.common.transport.redis_gateway.protocol import (
    envelope_to_send,
    frame_for_sending,
    make_reply_to,
    new_client_id,
)
from pysoa_like.core.constants import ProtocolVersion
from pysoa_like.core.keys import new_reply_queue_suffix, queue_key, request_queue_name
from pysoa_like.core.message import (
    REPLY_NONCE_META_KEY,
    new_reply_nonce,
    suppress_response_requested,
)
from pysoa_like.core.worker_watch import WATCH_META_KEY, worker_key

__all__ = ["AsyncRedisClientTransport"]

_oversized_logger = logging.getLogger("pysoa_like.transport.oversized_message")
# How long after a request's expiry its reply is still awaited (as the blocking driver).
_REPLY_GRACE_SECONDS = 70.0


class AsyncRedisClientTransport(Pushing, ReplyReading, AsyncClientTransport):
    """Sends requests to ``pysoa:service.<name>`` and routes the replies, over asyncio (see the module docstring).

    Takes exactly :class:`~pysoa_like.common.transport.redis_gateway.client.RedisClientTransport`'s settings (its
    keyword arguments, with its defaults);
    ``connection_kwargs`` may hold the connection keys the driver honours (``username``, ``password``, ``db``,
    ``ssl`` and the ``ssl_*`` keys, ``socket_timeout``, ``socket_connect_timeout``, ``client_name``) and
    redis-py's own tuning keys (ignored). Nothing is contacted until the first call.

    Raises:
        ValueError: A setting is invalid (the message names the key).
    """

    def __init__(self, service_name: str, metrics: MetricsRecorder | None = None, **settings: Any) -> None:
        super().__init__(service_name, metrics)
        # RedisClientTransport's keyword arguments and defaults, read from its signature (one list of them).
        try:
            bound = _CLIENT_SIGNATURE.bind(None, service_name, metrics, **settings)
        except TypeError as exc:
            raise ValueError(f"Invalid {type(self).__name__} settings: {exc}") from None
        bound.apply_defaults()
        given = {key: value for key, value in bound.arguments.items() if key not in ("self", "service_name", "metrics")}
        check_transport_kwargs(RedisTransportSchema, given, type(self).__name__)
        backend_type: str = given["backend_type"]
        backend_layer_kwargs: Mapping[str, Any] | None = given["backend_layer_kwargs"]
        message_expiry_in_seconds: float = given["message_expiry_in_seconds"]
        queue_capacity: int = given["queue_capacity"]
        queue_full_retries: int = given["queue_full_retries"]
        receive_timeout_in_seconds: float = given["receive_timeout_in_seconds"]
        default_serializer_config: Mapping[str, Any] | None = given["default_serializer_config"]
        maximum_message_size_in_bytes: int = given["maximum_message_size_in_bytes"]
        log_messages_larger_than_bytes: int = given["log_messages_larger_than_bytes"]
        protocol_version: int | ProtocolVersion = given["protocol_version"]
        maximum_reply_size_in_bytes: int = given["maximum_reply_size_in_bytes"]
        require_reply_nonce: bool = given["require_reply_nonce"]
        self.detect_dead_workers: bool = bool(given["detect_dead_workers"])
        self.ring: AioRing = aio_ring_of(backend_type, backend_layer_kwargs or {})
        self.client_id = new_client_id()
        self.message_expiry_in_seconds = message_expiry_in_seconds
        self.queue_capacity = queue_capacity
        self.queue_full_retries = queue_full_retries
        self.receive_timeout_in_seconds = receive_timeout_in_seconds
        self._receive_timeout = float(receive_timeout_in_seconds)
        self.maximum_message_size_in_bytes = maximum_message_size_in_bytes
        self.log_messages_larger_than_bytes = log_messages_larger_than_bytes
        self.protocol_version = ProtocolVersion(protocol_version)
        self.maximum_reply_size_in_bytes = maximum_reply_size_in_bytes
        self.require_reply_nonce = require_reply_nonce
        self.serializer: Serializer = make_serializer(default_serializer_config)
        self._serializers = SerializersByType(self.serializer)
        self._queue_name = request_queue_name(service_name)
        self._queue_key = queue_key(self._queue_name)
        self._prefix = "client.transport.redis_gateway."
        self._backend_key = backend_key(backend_type, backend_layer_kwargs or {})
        self._log_throttle = LogThrottle()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Calls] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], Calls] | None = None
        # Transports with these equal share a reply list per event loop.
        self._replies_key = (
            service_name,
            require_reply_nonce,
            maximum_reply_size_in_bytes,
            backend_key("serializer", default_serializer_config or {}),
        )
        # Validates the service name for key use once (it must not contain "!").
        make_reply_to(service_name, self.client_id, new_reply_queue_suffix())

    # State and connections

    def _calls(self) -> Calls:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]  # the loop of the previous call (a weak reference: it is not kept alive by it)
        calls = self._loops.get(loop)
        if calls is None:
            pool = pool_for(self._backend_key, self.ring, self)
            state = pool.replies.get(self._replies_key)
            if state is None:
                state = pool.replies[self._replies_key] = LoopState(self.service_name, self.require_reply_nonce, pool)
            state.users.add(self)
            calls = self._loops[loop] = Calls(state)
        self._last = (weakref.ref(loop), calls)
        return calls

    # Sending

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        """Push one request; unless it asks for no reply, its reply is awaited from now on.

        Raises:
            MessageTooLarge: The serialized request exceeds ``maximum_message_size_in_bytes``.
            InvalidField: The body cannot be serialized.
            MessageSendError: Redis failed, or the request list stayed full.
        """
        calls = self._calls()
        state = calls.state
        request_meta = dict(meta)
        request_meta["reply_to"] = state.reply_to
        nonce = request_meta[REPLY_NONCE_META_KEY] = new_reply_nonce()
        if self.detect_dead_workers:
            request_meta[WATCH_META_KEY] = True
        envelope, redis_expiry = envelope_to_send(
            request_id, request_meta, body, time.time(), self.message_expiry_in_seconds, message_expiry_in_seconds
        )
        payload = self.serializer.dict_to_blob(envelope)
        try:
            messages, oversized, _chunked = frame_for_sending(
                payload,
                self.serializer.mime_type or "",
                self.protocol_version,
                self.maximum_message_size_in_bytes,
                self.log_messages_larger_than_bytes,
            )
        except MessageTooLarge:
            self.metrics.counter(self._prefix + "send.error.message_too_large").increment()
            raise
        if oversized:
            _oversized_logger.warning(
                "Oversized message to service %s for request %r: %d bytes (threshold %d)",
                self.service_name,
                request_id,
                len(payload),
                self.log_messages_larger_than_bytes,
            )
        message = messages[0]
        control = body.get("control") if isinstance(body, dict) else None
        awaited = not suppress_response_requested(control)
        now = time.monotonic()
        call_key = (request_id, nonce)
        if awaited:
            # Before the push: the reply may come before the push's own answer is read.
            lifetime = message_expiry_in_seconds or self.message_expiry_in_seconds
            state.pending.expect(call_key, nonce, now + lifetime + _REPLY_GRACE_SECONDS, now)
            state.futures[call_key] = asyncio.get_running_loop().create_future()
            calls.keys[request_id] = call_key
            if state.by_id is not None:
                state.by_id[request_id] = call_key
        budget = (message_expiry_in_seconds or self._receive_timeout) + READ_MARGIN_SECONDS
        item = (self._queue_key, [message], redis_expiry)
        if not awaited:
            await self._push(state, item, now + budget)
            return
        try:
            # The slot and its open connection are known for every push but a new connection's first: no await.
            ready = state.pool.ready_connection(item[0])
            if ready is not None and ready[1] is not None:
                index, connection = ready[0], ready[1]
            else:
                drawn = None if ready is None else ready[0]
                index, connection = await self._push_connection(state, item[0], drawn, now + budget)
            self._push_awaited(calls, call_key, item, now + budget, index, connection)
        except BaseException:
            forget_call(calls, request_id)
            raise
        if self.detect_dead_workers:
            self._watch_worker(calls, call_key, request_id, worker_key(state.reply_to, nonce))
        if state.reader is None:
            state.reader = asyncio.ensure_future(self._read_replies(state))

    def _watch_worker(self, calls: Calls, call_key: CallKey, request_id: int, key: str) -> None:
        """Have the worker of a pushed, awaited request watched (``detect_dead_workers``)."""
        if calls.workers is None:
            name = self._prefix + "receive.error.worker_died"
            calls.workers = AioWorkerWatch(calls.state, lambda: self.metrics.counter(name).increment())
        calls.workers.watch(call_key, request_id, key)

    # Receiving

    async def receive_response_message(
        self, request_id: int, receive_timeout_in_seconds: float | None = None
    ) -> ReceivedMessage:
        """Wait for the reply to ``request_id`` (sent from this loop), within the timeout.

        Raises:
            MessageReceiveTimeout: No reply in time (its message says whether a worker took the request).
            MessageReceiveError: Redis failed while receiving.
            InvalidMessageError: The reply to this request is unusable.
        """
        calls = self._calls()
        state = calls.state
        call_key = calls.keys.get(request_id)
        future = state.futures.get(call_key) if call_key is not None else None
        if future is None or call_key is None:
            raise MessageReceiveTimeout(f"No request {short_repr(request_id)} to service {self.service_name} waits")
        timeout = receive_timeout_in_seconds or self._receive_timeout
        watched = state.watch(future, timeout)
        try:
            return await future
        except TimedOut:
            refused = await self._refused_push(calls, call_key)
            if refused is not None:
                raise refused from None
            self.metrics.counter(self._prefix + "receive.error.timeout").increment()
            raise await self._timeout_error(state, timeout) from None
        finally:
            watched[2] = None  # the deadline's entry no longer holds the call's future (nor its reply)
            forget_call(calls, request_id)

    def forget(self, request_id: int) -> None:
        """Stop waiting for a request; a reply that still comes is dropped."""
        for calls in list(self._loops.values()):
            if forget_call(calls, request_id):
                return

    # Closing

    async def aclose(self) -> None:
        """Stop the running loop's reader (calls still waiting get ``MessageReceiveError``) and leave its pool.

        The pool's connections are closed with the last transport of the same backend settings that leaves it.
        """
        loop = asyncio.get_running_loop()
        calls = self._loops.pop(loop, None)
        self._last = None
        if calls is None:
            return
        state = calls.state
        if calls.workers is not None:
            calls.workers.close()
        for retry in list(calls.retries.values()):
            if retry.task is not None:
                retry.task.cancel()
        closed = MessageReceiveError(f"The transport of service {self.service_name} was closed")
        for request_id in list(calls.keys):
            future = state.futures.get(calls.keys[request_id])
            if future is not None and not future.done():
                future.set_exception(closed)
        state.users.discard(self)
        if not state.users:
            if state.pool.replies.get(self._replies_key) is state:
                del state.pool.replies[self._replies_key]
            reader = state.reader
            if reader is not None:
                reader.cancel()
                await asyncio.wait([reader])
            state.stop_timer()
        await release_pool(self._backend_key, state.pool, self)


# The keyword arguments (and defaults) both Redis client transports take.
_CLIENT_SIGNATURE = inspect.signature(RedisClientTransport.__init__)
