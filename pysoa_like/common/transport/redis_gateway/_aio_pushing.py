"""The asyncio driver's pushes: the send script, the queue-full retries, redirects, and what became of a push.

A base class of :class:`~pysoa_like.common.transport.redis_gateway.asyncio_client.AsyncRedisClientTransport` (its
methods are the transport's). A call that waits for its reply does not wait for Redis' answer to its push
(:meth:`Pushing._push_awaited`): the answer is read when it comes, and a push refused for a full queue or a missing
script is made again in a task (:class:`PushRetry`), whose error fails the call's wait. When such a call times out,
:meth:`Pushing._refused_push` says whether its push surely never reached the queue, and
:meth:`Pushing._timeout_error` whether its request still waits there.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError, QueueFullSendError
from pysoa_like.common.transport.redis_gateway._aio_connection import AioConnection, RedisConnectionError
from pysoa_like.common.transport.redis_gateway._call_timeout import (
    MINIMUM_LOOK_SECONDS,
    QUEUE_CHECK_SECONDS,
    timeout_error,
)
from pysoa_like.common.transport.redis_gateway._lanes import READ_MARGIN_SECONDS
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS, STANDARD_BACKEND_HINT, Redirect, parse_redirect
from pysoa_like.core.push_outcomes import (
    PushVerdict,
    push_outcome,
    queue_full_backoff_seconds,
    queue_full_come_back_seconds,
    queue_full_error_message,
)
from pysoa_like.core.redis_protocol import RespError, script_command

if TYPE_CHECKING:
    from pysoa_like.common.metrics import MetricsRecorder
    from pysoa_like.common.transport.redis_gateway._aio_replies import CallKey, Calls, LoopState

__all__ = ["PushRetry", "Pushing"]


def _is_redirect(reply: Any) -> bool:
    return isinstance(reply, RespError) and parse_redirect(reply.text) is not None


async def _summed(looks: list[asyncio.Future[list[Any]]], deadline: float) -> int | None:
    """The sum of the ``LLEN`` replies ``looks`` get by ``deadline``; None when one fails or is not answered."""
    if not looks:
        return 0
    _done, pending = await asyncio.wait(looks, timeout=max(deadline - time.monotonic(), 0))
    if pending:
        return None
    waiting = 0
    for look in looks:
        if look.cancelled() or look.exception() is not None:
            return None
        [reply] = look.result()
        if not isinstance(reply, int):
            return None
        waiting += reply
    return waiting


class PushRetry:
    """A call's push made again after Redis refused it: the task, and how far its full-queue retries went."""

    __slots__ = ("queue_full_retries", "sleeping", "task")

    def __init__(self) -> None:
        self.task: asyncio.Future[None] | None = None
        self.queue_full_retries = 0  # the retries made so far because the request list was full
        self.sleeping = False  # between two attempts (the request is then surely not in the queue)


class Pushing:
    """The pushes of an :class:`~pysoa_like.common.transport.redis_gateway.asyncio_client.AsyncRedisClientTransport`."""

    # The transport's (set in its __init__).
    service_name: str
    metrics: MetricsRecorder
    queue_capacity: int
    queue_full_retries: int
    _prefix: str
    _queue_name: str
    _queue_key: str

    if TYPE_CHECKING:

        def _calls(self) -> Calls: ...

    async def _slot_of(self, key: str, deadline: float) -> int:
        return await self._calls().state.pool.slot_of(key, deadline)

    async def _connection(self, state: LoopState, index: int, deadline: float | None = None) -> AioConnection:
        """The loop's push connection to ring slot ``index`` (shared by the transports of the same backend); a master
        lookup (Sentinel) is waited for until ``deadline`` (``time.monotonic()``), no longer."""
        return await state.pool.connection(index, deadline)

    def _failed(self, state: LoopState, index: int, connection: AioConnection | None) -> None:
        """Forget a slot's connection after an error (Sentinel then asks for the master again)."""
        state.pool.failed(index, connection)

    async def _push(
        self,
        state: LoopState,
        item: tuple[str, list[Any], int],
        deadline: float,
        first: tuple[Any, int, AioConnection] | None = None,
        retry: PushRetry | None = None,
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
                # The ring's size may have to be asked (Sentinel's services): inside the try, as the connection.
                slot: int | None = None
                opened: AioConnection | None = None
                try:
                    index = slot = await self._slot_of(key, deadline)
                    connection = opened = await self._connection(state, index, deadline)
                    # A new connection's first push sends the script's text, which loads it; later pushes its SHA.
                    command = script_command(not connection.scripts_loaded, item, self.queue_capacity)
                    [reply] = await connection.execute([command], max(deadline - time.monotonic(), 0.001))
                except RedisConnectionError as exc:
                    raise self._send_failed(state, slot, opened, exc) from exc
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
        self, state: LoopState, item: tuple[str, list[Any], int], deadline: float, index: int, redirect: Redirect
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
        self, state: LoopState, index: int, reply: Any, connection: AioConnection | None
    ) -> Redirect | None:
        """The ``MOVED``/``ASK`` answer ``reply`` is (counted; the ring learned from it), or None."""
        redirect = state.pool.redirect_of(index, reply, connection)
        if redirect is not None:
            self.metrics.counter(self._prefix + ("redirect.ask" if redirect.ask else "redirect.moved")).increment()
        return redirect

    def _send_failed(
        self, state: LoopState, index: int | None, connection: AioConnection | None, error: Exception
    ) -> MessageSendError:
        """Forget a slot's connection after a failed push (None: the slot was not known yet); the error to raise."""
        if index is not None:
            self._failed(state, index, connection)
        self.metrics.counter(self._prefix + "send.error.connection").increment()
        return MessageSendError(f"Redis error sending to service {self.service_name}: {error}")

    async def _push_connection(
        self, state: LoopState, key: str, index: int | None, deadline: float
    ) -> tuple[int, AioConnection]:
        """The ring slot of ``key`` (``index`` when the caller drew it already) and its push connection, opened if
        need be (a master lookup waited for until the push's ``deadline``, no longer).

        Raises:
            MessageSendError: No connection could be had (or no master was found by ``deadline``).
        """
        try:
            if index is None:
                index = await state.pool.slot_of(key, deadline)
            return index, await self._connection(state, index, deadline)
        except RedisConnectionError as exc:
            raise self._send_failed(state, index, None, exc) from exc

    def _push_awaited(
        self,
        calls: Calls,
        call_key: CallKey,
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
        calls: Calls,
        call_key: CallKey,
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
        retry = PushRetry()
        task = retry.task = asyncio.ensure_future(self._push(state, item, deadline, (reply, index, connection), retry))
        calls.retries[call_key] = retry
        task.add_done_callback(lambda done: self._pushed_again(calls, call_key, done))

    def _pushed_again(self, calls: Calls, call_key: CallKey, task: asyncio.Future[None]) -> None:
        """The end of a push made again (:meth:`_pushed`): its error fails the call's wait."""
        retry = calls.retries.get(call_key)
        if retry is not None and retry.task is task:
            del calls.retries[call_key]
        error = None if task.cancelled() else task.exception()
        call = calls.state.futures.get(call_key)
        if error is not None and call is not None and not call.done():
            call.set_exception(error)

    async def _refused_push(self, calls: Calls, call_key: CallKey) -> MessageSendError | None:
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

    async def _timeout_error(self, state: LoopState, timeout: float) -> MessageReceiveTimeout:
        """What a timed-out call says: whether its request still waits in the service's queue.

        One ``LLEN`` on each master of a ring (the request went to one of them round-robin; the look takes no turn
        of the round-robin), all sent before any answer is awaited and awaited for at most ``QUEUE_CHECK_SECONDS``
        in all (a frozen Redis gets the plain message at once). With less than ``MINIMUM_LOOK_SECONDS`` left before
        a master's connection is had, or once it is, that master is not asked (the message is the plain one). A look
        given up closes nothing: its reply is read and dropped when it comes (the connection is the loop's push
        connection, shared by every call; its replies go to their callers in order, a given-up one to nobody).
        """
        deadline = time.monotonic() + QUEUE_CHECK_SECONDS
        looks: list[asyncio.Future[list[Any]]] = []
        waiting: int | None = None
        try:
            slots = await asyncio.wait_for(state.pool.queue_slots(self._queue_key), QUEUE_CHECK_SECONDS)
            for index in slots:
                if deadline - time.monotonic() < MINIMUM_LOOK_SECONDS:
                    break
                connection = await asyncio.wait_for(self._connection(state, index), deadline - time.monotonic())
                if deadline - time.monotonic() < MINIMUM_LOOK_SECONDS:
                    break
                looks.append(connection.send([("LLEN", self._queue_key)], None))
            else:
                waiting = await _summed(looks, deadline)
        except (RedisConnectionError, asyncio.TimeoutError):
            waiting = None
        finally:
            for look in looks:
                look.cancel()  # (one still unanswered: its reply is read and dropped)
        return timeout_error(self.service_name, self._queue_name, timeout, waiting)
