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
* **Replies** go to one reply list per transport and loop. While any call waits, one reader task pops it
  (``BLPOP`` and, written with it, ``LPOP`` with a count for the replies that came with the first: one round
  trip per batch) and hands each reply to the call that sent its request, by request id (a future per awaited
  request); a reply nobody waits for (late after a timeout or a cancellation, duplicated, forged, expired) is
  dropped and counted. While many calls wait the reader pauses a millisecond between pops, so that replies are
  taken in bigger batches (fewer wake-ups per reply). The reader stops once no call waits.
* **Waits**: ``asyncio.sleep`` for the queue-full backoff; every wait for Redis has a deadline. The calls'
  timeouts are kept in one heap per reply list with one timer (``_LoopState.watch``), the commands' deadlines
  by one watchdog timer per connection (``AioConnection``), not by a timer per call or per command.

* **Dead workers** (``detect_dead_workers``): the blocking driver's protocol, looked at by one task per
  transport and loop while its watched calls wait (``_aio_worker_watch.py``), never by the calls themselves.

Not done by this driver (the blocking one does): transactions for big pushes (every push runs the send script),
and the blocking driver's timers.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import time
import weakref
from collections.abc import Mapping
from typing import Any

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common._short_text import cap_line, short_repr
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.serializer import Serializer
from pysoa_like.common.serializer.errors import InvalidMessage
from pysoa_like.common.transport.base import AsyncClientTransport, ReceivedMessage
from pysoa_like.common.transport.errors import (
    InvalidMessageError,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    MessageTooLarge,
    QueueFullSendError,
)
from pysoa_like.common.transport.redis_gateway._aio_connection import AioConnection, RedisConnectionError
from pysoa_like.common.transport.redis_gateway._aio_pool import AioPool, pool_for, release_pool
from pysoa_like.common.transport.redis_gateway._aio_ring import AioRing, aio_ring_of
from pysoa_like.common.transport.redis_gateway._aio_worker_watch import AioWorkerWatch
from pysoa_like.common.transport.redis_gateway._call_timeout import QUEUE_CHECK_SECONDS, timeout_error
from pysoa_like.common.transport.redis_gateway._lanes import READ_MARGIN_SECONDS
from pysoa_like.common.transport.redis_gateway._settings_schema import RedisTransportSchema, check_transport_kwargs
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import SerializersByType, backend_key, make_serializer
from pysoa_like.common.transport.redis_gateway.protocol import (
    ChunkReassembler,
    ParsedMessage,
    check_envelope,
    envelope_to_send,
    frame_for_sending,
    make_reply_to,
    new_client_id,
    parse_message,
)
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS, STANDARD_BACKEND_HINT, Redirect, parse_redirect
from pysoa_like.core.constants import (
    ProtocolVersion,
)
from pysoa_like.core.endpoint import Endpoint
from pysoa_like.core.keys import new_reply_queue_suffix, queue_key, request_queue_name
from pysoa_like.core.message import (
    REPLY_NONCE_META_KEY,
    PendingReplies,
    ReplyVerdict,
    batch_pause,
    new_reply_nonce,
    suppress_response_requested,
)
from pysoa_like.core.push_outcomes import (
    PushVerdict,
    push_outcome,
    queue_full_backoff_seconds,
    queue_full_come_back_seconds,
    queue_full_error_message,
)
from pysoa_like.core.redis_protocol import RespError, script_command
from pysoa_like.core.worker_watch import WATCH_META_KEY, worker_key

__all__ = ["AsyncRedisClientTransport"]

_logger = logging.getLogger("pysoa_like.transport")
_oversized_logger = logging.getLogger("pysoa_like.transport.oversized_message")
# How long after a request's expiry its reply is still awaited (as the blocking driver).
_REPLY_GRACE_SECONDS = 70.0
# The reader's blocking pop waits this long at most, then looks whether any call still waits.
_READ_SLICE_SECONDS = 1.0
# Replies bigger than this are deserialized in a worker thread, so the loop is never held by one.
_THREAD_DECODE_BYTES = 256 * 1024
# A reader whose connection failed tries a new one this many times before failing the waiting calls.
_READER_RECONNECTS = 2


class _Redirected(Exception):
    """Redis Cluster answered the reader's pop with ``MOVED`` or ``ASK``."""

    def __init__(self, redirect: Redirect) -> None:
        super().__init__(f"{'ASK' if redirect.ask else 'MOVED'} {redirect.slot} {redirect.address}")
        self.redirect = redirect


def _is_redirect(reply: Any) -> bool:
    return isinstance(reply, RespError) and parse_redirect(reply.text) is not None


class _Dropped(Exception):
    """A reply that is no waiting call's (foreign, forged, duplicate, expired, malformed)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


#: A waiting call, as the reply list of an event loop knows it: ``(request id, nonce)`` (the transports sharing
#: the list number their requests independently; the nonce tells them apart).
_CallKey = tuple[Any, Any]


class _LoopState:
    """One event loop's reply list for one service, shared by the transports with the same settings.

    Clients made per request (as a server makes one per job) then share one reader and its connection.
    """

    def __init__(self, service_name: str, require_nonce: bool, pool: AioPool) -> None:
        self.reply_to = make_reply_to(service_name, new_client_id(), new_reply_queue_suffix())
        self.reply_key = queue_key(self.reply_to)
        self.pending = PendingReplies(require_nonce)
        self.futures: dict[_CallKey, asyncio.Future[ReceivedMessage]] = {}
        # Request id -> call key, for replies that echo no nonce (require_reply_nonce off).
        self.by_id: dict[Any, _CallKey] | None = None if require_nonce else {}
        self.pool = pool
        self.users: weakref.WeakSet[Any] = weakref.WeakSet()
        self.reader: asyncio.Task[None] | None = None
        self.chunks: ChunkReassembler | None = None
        self.chunk_bytes = 0
        # The waiting calls' deadlines, one timer for them all (armed for the earliest): entries
        # [loop time, order, future or None once the call ended].
        self.deadlines: list[list[Any]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def watch(self, future: asyncio.Future[ReceivedMessage], timeout: float) -> list[Any]:
        """Time ``future`` out (``_TimedOut``) unless it is done within ``timeout`` seconds.

        Returns:
            Its entry, whose future the call sets to None when it ends (so that nothing holds it until then).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        entry = [deadline, next(self._order), future]
        deadlines = self.deadlines
        while deadlines and deadlines[0][2] is None:  # calls that ended first (most do)
            heapq.heappop(deadlines)
        heapq.heappush(deadlines, entry)
        if self._timer is None or deadline < self._timer_at:
            self._arm(loop, deadline)
        return entry

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._expire, loop)
        self._timer_at = deadline

    def stop_timer(self) -> None:
        """Cancel the deadlines' timer (the reply list is given up: no call waits on it any more)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time out the calls whose deadline passed; arm the timer for the next one."""
        self._timer = None
        deadlines = self.deadlines
        # A timer may run up to the loop's clock resolution early: a deadline that near has passed.
        now = loop.time() + 0.001
        while deadlines and (deadlines[0][2] is None or deadlines[0][0] <= now):
            future = heapq.heappop(deadlines)[2]
            if future is not None and not future.done():
                future.set_exception(_TimedOut())
        if deadlines:
            self._arm(loop, deadlines[0][0])

    def key_of(self, request_id: Any, meta: Any) -> _CallKey | None:
        """The call a reply with this request id and meta answers, if any could be."""
        nonce = meta.get(REPLY_NONCE_META_KEY) if isinstance(meta, Mapping) else None
        if nonce is not None or self.by_id is None:
            return (request_id, nonce)
        try:
            return self.by_id.get(request_id)
        except TypeError:  # an unhashable id: nobody's
            return None


class _PushRetry:
    """A call's push made again after Redis refused it: the task, and how far its full-queue retries went."""

    __slots__ = ("queue_full_retries", "sleeping", "task")

    def __init__(self) -> None:
        self.task: asyncio.Future[None] | None = None
        self.queue_full_retries = 0  # the retries made so far because the request list was full
        self.sleeping = False  # between two attempts (the request is then surely not in the queue)


class _Calls:
    """A transport's calls on one event loop: its request ids' keys on the loop's shared reply list."""

    def __init__(self, state: _LoopState) -> None:
        self.state = state
        self.keys: dict[int, _CallKey] = {}
        # Pushes made again after Redis' first answer refused them (full queue, missing script), by call.
        self.retries: dict[_CallKey, _PushRetry] = {}
        # The workers of its watched calls (detect_dead_workers), once it made one.
        self.workers: AioWorkerWatch | None = None


class AsyncRedisClientTransport(AsyncClientTransport):
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
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Calls] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _Calls] | None = None
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

    def _calls(self) -> _Calls:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]  # the loop of the previous call (a weak reference: it is not kept alive by it)
        calls = self._loops.get(loop)
        if calls is None:
            pool = pool_for(self._backend_key, self.ring, self)
            state = pool.replies.get(self._replies_key)
            if state is None:
                state = pool.replies[self._replies_key] = _LoopState(self.service_name, self.require_reply_nonce, pool)
            state.users.add(self)
            calls = self._loops[loop] = _Calls(state)
        self._last = (weakref.ref(loop), calls)
        return calls

    async def _slot_of(self, key: str) -> int:
        return await self._calls().state.pool.slot_of(key)

    async def _connection(self, state: _LoopState, index: int) -> AioConnection:
        """The loop's push connection to ring slot ``index`` (shared by the transports of the same backend)."""
        return await state.pool.connection(index)

    def _failed(self, state: _LoopState, index: int, connection: AioConnection | None) -> None:
        """Forget a slot's connection after an error (Sentinel then asks for the master again)."""
        state.pool.failed(index, connection)

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
            ready = state.pool.ready_connection(item[0]) or await self._push_connection(state, item[0])
            self._push_awaited(calls, call_key, item, now + budget, *ready)
        except BaseException:
            _forget(calls, request_id)
            raise
        if self.detect_dead_workers:
            self._watch_worker(calls, call_key, request_id, worker_key(state.reply_to, nonce))
        if state.reader is None:
            state.reader = asyncio.ensure_future(self._read_replies(state))

    def _watch_worker(self, calls: _Calls, call_key: _CallKey, request_id: int, key: str) -> None:
        """Have the worker of a pushed, awaited request watched (``detect_dead_workers``)."""
        if calls.workers is None:
            name = self._prefix + "receive.error.worker_died"
            calls.workers = AioWorkerWatch(calls.state, lambda: self.metrics.counter(name).increment())
        calls.workers.watch(call_key, request_id, key)

    async def _push(
        self,
        state: _LoopState,
        item: tuple[str, list[Any], int],
        deadline: float,
        first: tuple[Any, int, AioConnection] | None = None,
        retry: _PushRetry | None = None,
    ) -> None:
        """Push one item with the send script, retrying a full queue with backoff, within ``deadline``.

        ``first``: Redis' reply to a push already made, with its slot and connection (its outcome is acted on
        before any new attempt). ``retry``: where a call's push made again records its progress.

        Raises:
            MessageSendError: Redis failed or refused the push, or the queue stayed full.
        """
        key = item[0]
        read_only_retried = False
        attempt = 0
        redirects = 0
        while True:
            if first is not None:
                (reply, index, connection), first = first, None
            else:
                index = await self._slot_of(key)
                opened: AioConnection | None = None
                try:
                    connection = opened = await self._connection(state, index)
                    # A new connection's first push sends the script's text, which loads it; later pushes its SHA.
                    command = script_command(not connection.scripts_loaded, item, self.queue_capacity)
                    [reply] = await connection.execute([command], max(deadline - time.monotonic(), 0.001))
                except RedisConnectionError as exc:
                    raise self._send_failed(state, index, opened, exc) from exc
            redirect = self._redirect_of(state, index, reply, connection)
            if redirect is not None and redirects < MAXIMUM_REDIRECTS:
                # Redis Cluster: the slot moved (looked up again) or is moving (this push goes where ASK says).
                redirects += 1
                if redirect.ask:
                    first = await self._push_asking(state, item, deadline, index, redirect)
                continue
            verdict = push_outcome(reply)
            if verdict is PushVerdict.PUSHED:
                connection.scripts_loaded = True
                return
            if verdict is PushVerdict.PUSH_AGAIN:
                connection.scripts_loaded = False
                continue
            if verdict is PushVerdict.QUEUE_FULL:
                connection.scripts_loaded = True
                pause = queue_full_backoff_seconds(attempt)
                if attempt >= self.queue_full_retries or time.monotonic() + pause > deadline - READ_MARGIN_SECONDS:
                    self.metrics.counter(self._prefix + "send.error.redis_queue_full").increment()
                    raise QueueFullSendError(
                        queue_full_error_message(self._queue_name, attempt), queue_full_come_back_seconds(attempt)
                    )
                self.metrics.counter(self._prefix + "send.queue_full_retry").increment()
                attempt += 1
                if retry is not None:
                    retry.queue_full_retries = attempt
                    retry.sleeping = True
                await asyncio.sleep(pause)
                if retry is not None:
                    retry.sleeping = False
                continue
            if isinstance(reply, RespError) and reply.code == "READONLY" and not read_only_retried:
                # A failover demoted this master: find the new one (Sentinel) and push there.
                read_only_retried = True
                self._failed(state, index, connection)
                continue
            self.metrics.counter(self._prefix + "send.error.response").increment()
            hint = STANDARD_BACKEND_HINT if not state.pool.ring.follows_redirects and _is_redirect(reply) else ""
            raise MessageSendError(f"Redis error sending to service {self.service_name}: {reply}{hint}")

    async def _push_asking(
        self, state: _LoopState, item: tuple[str, list[Any], int], deadline: float, index: int, redirect: Redirect
    ) -> tuple[Any, int, AioConnection]:
        """Push ``item`` on the node an ``ASK`` answer names, after ``ASKING``: Redis' reply, slot and connection.

        Raises:
            MessageSendError: The node cannot be reached.
        """
        connection = None
        try:
            connection = await state.pool.connection_to(state.pool.ring.endpoint_for(redirect.address))
            command = script_command(not connection.scripts_loaded, item, self.queue_capacity)
            [_asking, reply] = await connection.execute([("ASKING",), command], max(deadline - time.monotonic(), 0.001))
        except RedisConnectionError as exc:
            raise self._send_failed(state, index, connection, exc) from exc
        return reply, index, connection

    def _redirect_of(
        self, state: _LoopState, index: int, reply: Any, connection: AioConnection | None
    ) -> Redirect | None:
        """The ``MOVED``/``ASK`` answer ``reply`` is (counted; the ring learned from it), or None."""
        redirect = state.pool.redirect_of(index, reply, connection)
        if redirect is not None:
            self.metrics.counter(self._prefix + ("redirect.ask" if redirect.ask else "redirect.moved")).increment()
        return redirect

    def _send_failed(
        self, state: _LoopState, index: int, connection: AioConnection | None, error: Exception
    ) -> MessageSendError:
        """Forget a slot's connection after a failed push; the error to raise."""
        self._failed(state, index, connection)
        self.metrics.counter(self._prefix + "send.error.connection").increment()
        return MessageSendError(f"Redis error sending to service {self.service_name}: {error}")

    async def _push_connection(self, state: _LoopState, key: str) -> tuple[int, AioConnection]:
        """The ring slot of ``key`` and its push connection, opened if need be.

        Raises:
            MessageSendError: No connection could be had.
        """
        index = await state.pool.slot_of(key)
        try:
            return index, await self._connection(state, index)
        except RedisConnectionError as exc:
            raise self._send_failed(state, index, None, exc) from exc

    def _push_awaited(
        self,
        calls: _Calls,
        call_key: _CallKey,
        item: tuple[str, list[Any], int],
        deadline: float,
        index: int,
        connection: AioConnection,
    ) -> None:
        """Push the request of a call that waits for its reply, without waiting for Redis' answer to the push.

        The call goes on to wait for its reply at once (it saves a wake-up of the call per request); Redis'
        answer is read when it comes (:meth:`_pushed`): a push refused for good fails the call's wait with the
        ``MessageSendError`` the send would have raised, a full queue or a missing script is pushed again.

        Raises:
            MessageSendError: The connection is closed.
        """
        state = calls.state
        try:
            command = script_command(not connection.scripts_loaded, item, self.queue_capacity)
            connection.send_then(
                [command],
                max(deadline - time.monotonic(), 0.001),
                lambda replies, error: self._pushed(calls, call_key, item, deadline, index, connection, replies, error),
            )
        except RedisConnectionError as exc:
            raise self._send_failed(state, index, connection, exc) from exc
        # Later pushes on this connection come after this one, which loads the script if it was not.
        connection.scripts_loaded = True

    def _pushed(
        self,
        calls: _Calls,
        call_key: _CallKey,
        item: tuple[str, list[Any], int],
        deadline: float,
        index: int,
        connection: AioConnection,
        replies: list[Any] | None,
        error: BaseException | None,
    ) -> None:
        """Act on Redis' answer to a push made by :meth:`_push_awaited` (called by the connection as it reads it)."""
        if replies is not None:
            [reply] = replies
            if push_outcome(reply) is PushVerdict.PUSHED:
                return
        state = calls.state
        call = state.futures.get(call_key)
        if error is not None:
            failure: BaseException = self._send_failed(state, index, connection, error)  # type: ignore[arg-type]
            if call is not None and not call.done():
                call.set_exception(failure)
            return
        if call is None or call.done():
            return  # nobody waits for this request any more
        retry = _PushRetry()
        task = retry.task = asyncio.ensure_future(self._push(state, item, deadline, (reply, index, connection), retry))
        calls.retries[call_key] = retry
        task.add_done_callback(lambda done: self._pushed_again(calls, call_key, done))

    def _pushed_again(self, calls: _Calls, call_key: _CallKey, task: asyncio.Future[None]) -> None:
        """The end of a push made again (:meth:`_pushed`): its error fails the call's wait."""
        retry = calls.retries.get(call_key)
        if retry is not None and retry.task is task:
            del calls.retries[call_key]
        error = None if task.cancelled() else task.exception()
        call = calls.state.futures.get(call_key)
        if error is not None and call is not None and not call.done():
            call.set_exception(error)

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
        except _TimedOut:
            refused = await self._refused_push(calls, call_key)
            if refused is not None:
                raise refused from None
            self.metrics.counter(self._prefix + "receive.error.timeout").increment()
            raise await self._timeout_error(state, timeout) from None
        finally:
            watched[2] = None  # the deadline's entry no longer holds the call's future (nor its reply)
            _forget(calls, request_id)

    async def _refused_push(self, calls: _Calls, call_key: _CallKey) -> MessageSendError | None:
        """The send error that stands for a timed-out call whose push was still being made again, if any.

        A push that Redis refused as full and that waits for its next attempt is surely not in the queue: the call
        fails with the ``QueueFullSendError`` its retries would have raised (a caller may send the request again),
        not a receive timeout. An attempt in flight gets its answer first (at most ``QUEUE_CHECK_SECONDS``): the
        send error it ends with, if any. One still unanswered then may have pushed the request, so the call gets
        the plain receive timeout (None). Either way the retries stop: nobody waits for the request any more.
        """
        retry = calls.retries.pop(call_key, None)
        if retry is None or retry.task is None:
            return None
        task = retry.task
        if not task.done() and not retry.sleeping:
            await asyncio.wait((task,), timeout=QUEUE_CHECK_SECONDS)
        if task.done():
            error = None if task.cancelled() else task.exception()
            return error if isinstance(error, MessageSendError) else None
        task.cancel()
        if not retry.sleeping:
            return None  # the attempt's push may have reached the queue
        self.metrics.counter(self._prefix + "send.error.redis_queue_full").increment()
        retries = retry.queue_full_retries
        return QueueFullSendError(
            queue_full_error_message(self._queue_name, retries), queue_full_come_back_seconds(retries)
        )

    async def _timeout_error(self, state: _LoopState, timeout: float) -> MessageReceiveTimeout:
        """What a timed-out call says: whether its request still waits in the service's queue.

        One ``LLEN``, waited for at most ``QUEUE_CHECK_SECONDS`` (a frozen Redis gets the plain message at once).
        """
        waiting = None
        try:
            connection = await asyncio.wait_for(
                self._connection(state, await self._slot_of(self._queue_key)), QUEUE_CHECK_SECONDS
            )
            looked = connection.send([("LLEN", self._queue_key)], None)
            done, _pending = await asyncio.wait((looked,), timeout=QUEUE_CHECK_SECONDS)
            if done and not looked.cancelled() and looked.exception() is None:
                [reply] = looked.result()
                waiting = reply if isinstance(reply, int) else None
            else:
                looked.cancel()  # its reply, if it comes, is read and dropped
        except (RedisConnectionError, asyncio.TimeoutError):
            pass
        return timeout_error(self.service_name, self._queue_name, timeout, waiting)

    def forget(self, request_id: int) -> None:
        """Stop waiting for a request; a reply that still comes is dropped."""
        for calls in list(self._loops.values()):
            if _forget(calls, request_id):
                return

    async def _read_replies(self, state: _LoopState) -> None:
        """Pop the loop's reply list while any call waits, handing each reply to its call."""
        failures = 0
        redirects = 0
        index = await state.pool.slot_of(state.reply_key)
        connection: AioConnection | None = None
        # Redis Cluster: the node an ASK answer named, for the next pop only (the reply list's slot is moving).
        asking: Endpoint | None = None
        try:
            while state.futures:
                try:
                    if connection is None or connection.closed:
                        connection = await state.pool.reader_connection(index, asking)
                    replies = await self._pop(state, connection, index, asking is not None)
                except _Redirected as redirected:
                    # Nothing was popped: the connection is fine, and the next pop goes where the answer says.
                    state.pool.release_reader(index, connection)  # type: ignore[arg-type]
                    connection = None
                    redirects += 1
                    if redirects > MAXIMUM_REDIRECTS:
                        self._fail_waiting(state, RedisConnectionError(f"Redirected too often: {redirected}"))
                        return
                    redirect = redirected.redirect
                    asking = state.pool.ring.endpoint_for(redirect.address) if redirect.ask else None
                    continue
                except RedisConnectionError as exc:
                    if connection is not None:
                        connection.close()
                    connection = None
                    asking = None
                    failures += 1
                    self.metrics.counter(self._prefix + "receive.error.connection").increment()
                    if failures > _READER_RECONNECTS:
                        self._fail_waiting(state, exc)
                        return
                    await asyncio.sleep(0.05 * failures)
                    continue
                failures = redirects = 0
                if asking is not None:
                    # The ASK was for that pop only: the next one goes to the slot's master again.
                    state.pool.release_reader(index, connection)
                    connection = asking = None
                for raw in replies:
                    await self._deliver(state, raw)
                pause = batch_pause(len(state.futures) - len(replies))
                if pause:
                    await asyncio.sleep(pause)
        except BaseException:
            # Stopped during a pop (cancelled): what the connection reads next is unknown, so it is not reused.
            if connection is not None:
                connection.close()
            raise
        finally:
            state.reader = None
            if connection is not None:
                state.pool.release_reader(index, connection)

    async def _pop(self, state: _LoopState, connection: AioConnection, index: int, asking: bool = False) -> list[Any]:
        """The replies waiting on the loop's reply list (at least one, unless the pop's slice ended first).

        One round trip: ``BLPOP`` and, when more than one call waits, ``LPOP`` with a count written right behind
        it, which Redis runs as soon as the ``BLPOP`` is answered (it takes the replies that came with the first).

        Args:
            index: The reply list's ring slot.
            asking: Each command goes after ``ASKING`` (Redis Cluster: the node an ``ASK`` answer named).

        Raises:
            RedisConnectionError: The connection failed, or Redis refused the pop.
            _Redirected: Redis Cluster answered ``MOVED`` or ``ASK`` (nothing was popped).
        """
        key = state.reply_key
        commands: list[tuple[Any, ...]] = [("ASKING",)] if asking else []
        commands.append(("BLPOP", key, _READ_SLICE_SECONDS))
        more = len(state.futures) - 1
        if more > 0:
            if asking:
                commands.append(("ASKING",))
            commands.append(("LPOP", key, more))
        answers = await connection.execute(commands, _READ_SLICE_SECONDS + READ_MARGIN_SECONDS)
        if more > 0:
            popped, rest = answers[-3 if asking else -2], answers[-1]
        else:
            popped, rest = answers[-1], None
        if isinstance(popped, RespError):
            redirect = self._redirect_of(state, index, popped, connection)
            if redirect is not None:
                raise _Redirected(redirect)
            raise RedisConnectionError(f"Redis refused the pop of the reply list: {popped}")
        # A reply may come between the end of the BLPOP's slice and the LPOP: it is the LPOP's.
        replies = [] if popped is None else [popped[1]]
        if isinstance(rest, list):
            replies.extend(rest)
        return replies

    def _fail_waiting(self, state: _LoopState, error: Exception) -> None:
        failure = MessageReceiveError(f"Redis error receiving from service {self.service_name}: {error}")
        for future in list(state.futures.values()):
            if not future.done():
                future.set_exception(failure)

    async def _deliver(self, state: _LoopState, raw: Any) -> None:
        """Decode one popped reply and hand it to its call, or drop it (counted, and logged now and then)."""
        try:
            received = await self._decode(state, raw)
        except _Dropped as dropped:
            self.metrics.counter(f"{self._prefix}receive.error.{dropped.reason}").increment()
            log_bounded(
                _logger,
                logging.WARNING,
                self._log_throttle,
                dropped.reason,
                "Dropped a reply for service %s (%s): %s",
                self.service_name,
                dropped.reason,
                cap_line(str(dropped), 300),
            )
            return
        if received is None:
            return  # a chunk of a reply not complete yet
        call_key, message = received
        future = state.futures.get(call_key)
        if future is not None and not future.done():
            future.set_result(message)

    async def _decode(self, state: _LoopState, raw: Any) -> tuple[_CallKey, ReceivedMessage] | None:
        try:
            parsed: ParsedMessage = parse_message(raw, view=True)
            payload: Any = parsed.payload
            if parsed.is_chunk:
                payload = self._add_chunk(state, parsed, len(raw))
                if payload is None:
                    return None
            serializer = self._serializers[parsed.content_type]
            if len(payload) > _THREAD_DECODE_BYTES:
                message = await asyncio.to_thread(serializer.buffer_to_dict, payload)
            else:
                message = serializer.buffer_to_dict(payload)
        except (InvalidMessageError, InvalidMessage) as exc:
            raise _Dropped("invalid_message", str(exc)) from exc
        try:
            received = check_envelope(message, time.time(), self.service_name)
        except MessageReceiveTimeout:
            self._fail_if_ours(state, message, MessageReceiveTimeout("The reply expired before it was received"))
            raise _Dropped("message_expired", "the reply had expired") from None
        except InvalidMessageError as exc:
            self._fail_if_ours(state, message, InvalidMessageError(f"The reply is unusable: {exc}"))
            raise _Dropped("invalid_message", str(exc)) from exc
        call_key = state.key_of(received.request_id, received.meta)
        verdict = ReplyVerdict.UNKNOWN if call_key is None else state.pending.verdict(call_key, received.meta)
        if verdict is ReplyVerdict.ACCEPTED:
            assert call_key is not None
            return call_key, received
        if verdict is ReplyVerdict.FORGED:
            raise _Dropped(
                "forged_reply",
                f"the reply to request {short_repr(received.request_id)} does not echo its request's nonce",
            )
        raise _Dropped(
            "unknown_reply", f"no request {short_repr(received.request_id)} is awaited (late, duplicate or foreign)"
        )

    def _add_chunk(self, state: _LoopState, chunk: ParsedMessage, size: int) -> bytes | None:
        """Add one chunk of a chunked reply; the whole payload once the last one is in."""
        if chunk.chunk_id == 1 or state.chunks is None:
            state.chunks = ChunkReassembler(chunk)
            state.chunk_bytes = size
        else:
            state.chunk_bytes += size
            if state.chunk_bytes > self.maximum_reply_size_in_bytes:
                state.chunks = None
                raise InvalidMessageError(
                    f"Chunked reply larger than {self.maximum_reply_size_in_bytes} bytes (maximum_reply_size_in_bytes)"
                )
            state.chunks.add(chunk)
        if not state.chunks.complete:
            return None
        payload, state.chunks = state.chunks.payload(), None
        return payload

    def _fail_if_ours(self, state: _LoopState, message: Any, error: Exception) -> None:
        """Fail the call an unusable ``message`` answers (its id and nonce match), if one waits."""
        if not isinstance(message, dict):
            return
        call_key = state.key_of(message.get("request_id"), message.get("meta"))
        if call_key is None:
            return
        try:
            accepted = state.pending.verdict(call_key, message.get("meta")) is ReplyVerdict.ACCEPTED
        except TypeError:
            return
        future = state.futures.get(call_key) if accepted else None
        if future is not None and not future.done():
            future.set_exception(error)

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


def _forget(calls: _Calls, request_id: Any) -> bool:
    """Stop waiting for one of a transport's requests on one loop; whether it was awaited there."""
    call_key = calls.keys.pop(request_id, None)
    if call_key is None:
        return False
    state = calls.state
    retry = calls.retries.pop(call_key, None)
    if retry is not None and retry.task is not None:
        retry.task.cancel()  # a request nobody waits for is not pushed later
    state.pending.forget(call_key)
    if state.by_id is not None and state.by_id.get(request_id) == call_key:
        del state.by_id[request_id]
    future = state.futures.pop(call_key, None)
    if future is not None and not future.done():
        future.cancel()
    return True


# The keyword arguments (and defaults) both Redis client transports take.
_CLIENT_SIGNATURE = inspect.signature(RedisClientTransport.__init__)


class _TimedOut(Exception):
    """A receive's timeout fired before its reply came."""
