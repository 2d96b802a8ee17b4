"""One asyncio connection to Redis: commands pipelined, replies parsed by the core and handed out in order.

:class:`AioConnection` is the asyncio driver's whole I/O: a protocol that receives into the core's
:class:`~pysoa_like.core.redis_protocol.RespParser`, and a FIFO of the callers waiting for replies (Redis
answers in command order). Any number of callers may use one connection at once: each writes its commands
(encoded by :func:`~pysoa_like.core.redis_protocol.pack_commands`) and waits for its own replies. A caller that gives
up (cancelled) leaves its place in the FIFO, so its replies are read and dropped and the next caller still
gets its own. A reply that does not come within the caller's deadline means Redis or the network is stuck:
the connection is closed and every caller waiting on it gets the error (one watchdog timer per connection
watches the deadlines, not a timer per command).

Bytes are received straight into the parser's buffer (``asyncio.BufferedProtocol``), so a big bulk string is
received in place, never copied. Nothing here blocks: the connection is opened with ``loop.create_connection``
(TLS through its ``ssl`` argument) within the endpoint's connect timeout, and authenticated with the endpoint's
handshake commands.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from pysoa_like.common.transport.redis_gateway._connect import keep_alive, tls_context
from pysoa_like.core.endpoint import Endpoint, handshake_refusal
from pysoa_like.core.redis_protocol import NEED_DATA, RespParser, RespProtocolError, pack_commands

__all__ = ["AioConnection", "RedisConnectionError", "RedisReplyTimeout"]


class RedisConnectionError(ConnectionError):
    """The connection could not be opened, was closed, or Redis refused the handshake."""


class RedisReplyTimeout(RedisConnectionError, TimeoutError):
    """Redis did not answer within the caller's deadline (the connection is then closed)."""


#: What :meth:`AioConnection.send_then` calls back with: the replies, or the connection's error.
Then = Callable[[list[Any] | None, BaseException | None], None]


class _Waiter:
    __slots__ = ("count", "deadline", "future", "replies", "then", "timeout")

    def __init__(
        self,
        future: asyncio.Future[list[Any]] | None,
        then: Then | None,
        count: int,
        timeout: float | None,
        deadline: float,
    ) -> None:
        self.future = future
        self.then = then
        self.count = count
        self.replies: list[Any] = []
        self.timeout = timeout
        #: ``loop.time()`` by which the replies must have come (when ``timeout`` is not None).
        self.deadline = deadline


async def _connected(opening: Coroutine[Any, Any, tuple[Any, Any]], timeout: float) -> asyncio.Transport:
    """The transport ``opening`` connects, within ``timeout`` seconds.

    Unlike ``asyncio.wait_for`` before Python 3.12, a connection that is made just as the wait ends (timed out or
    cancelled) is closed, not left open and unowned.

    Raises:
        asyncio.TimeoutError: Not connected in time.
        OSError: Connecting failed.
    """
    task: asyncio.Future[tuple[Any, Any]] = asyncio.ensure_future(opening)
    try:
        done, _pending = await asyncio.wait((task,), timeout=timeout)
    except BaseException:
        _abandon(task)
        raise
    if not done:
        _abandon(task)
        raise asyncio.TimeoutError
    transport: asyncio.Transport = task.result()[0]
    return transport


def _abandon(task: asyncio.Future[tuple[Any, Any]]) -> None:
    """Stop an opening nobody waits for any more; a connection it made all the same is closed."""

    def close(done: asyncio.Future[tuple[Any, Any]]) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result()[0].close()

    task.cancel()
    task.add_done_callback(close)


def _reason(exc: BaseException) -> str:
    """Why an opening failed, in the words of ``RedisConnectionError``'s message."""
    if isinstance(exc, RedisConnectionError):
        return str(exc)  # the handshake's connection failed: its own message says how
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class _RespProtocol(asyncio.BufferedProtocol):
    """Receives straight into the parser's buffer (a big reply in place) and hands each caller its replies."""

    def __init__(self, connection: AioConnection) -> None:
        self.connection = connection
        self.parser = connection._parser

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.parser.recv_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.parser.received(nbytes)
        self.connection._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection._lost(exc)

    def pause_writing(self) -> None:
        self.connection._paused = True

    def resume_writing(self) -> None:
        self.connection._resume()


class AioConnection:
    """A Redis connection on the running event loop (open it with :meth:`open`).

    Attributes:
        endpoint: Where it is connected.
        scripts_loaded: Whether the send scripts were loaded on this connection's server (set by the driver).
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.scripts_loaded = False
        self._parser = RespParser()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._closed_because: BaseException | None = None
        self._paused = False
        self._drained: asyncio.Future[None] | None = None
        # Buffers sent in this turn of the loop, written together by _flush.
        self._outgoing: list[bytes] = []
        # One timer per connection watches the waiters' deadlines (not one per send): armed for the earliest
        # deadline it knows of, it looks at every waiter when it fires.
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = 0.0

    @classmethod
    async def open(cls, endpoint: Endpoint) -> AioConnection:
        """Connect to ``endpoint`` and run its handshake, within its connect timeout.

        Raises:
            RedisConnectionError: Connecting failed, timed out, or Redis refused the handshake (``WRONGPASS``...).
        """
        connection = cls(endpoint)
        loop = asyncio.get_running_loop()
        try:
            try:
                if endpoint.path is not None:
                    opening = loop.create_unix_connection(lambda: _RespProtocol(connection), endpoint.path)
                else:
                    opening = loop.create_connection(
                        lambda: _RespProtocol(connection),
                        endpoint.host or "localhost",
                        endpoint.port or 6379,
                        ssl=None if endpoint.tls is None else tls_context(endpoint.tls),
                        server_hostname=endpoint.host if endpoint.tls is not None else None,
                    )
                transport = connection._transport = await _connected(opening, endpoint.connect_timeout)
                if endpoint.keepalive:
                    keep_alive(transport.get_extra_info("socket"), endpoint.keepalive_options)
                handshake = endpoint.handshake()
                replies = await connection.execute(handshake, endpoint.connect_timeout) if handshake else []
            except (OSError, asyncio.TimeoutError) as exc:
                # The one place where the opening's socket errors become the driver's: connecting, the socket's
                # options (a keepalive value the system refuses), the handshake.
                raise RedisConnectionError(f"Error connecting to {endpoint}: {_reason(exc)}") from exc
            refused = handshake_refusal(handshake, replies) if handshake else None
            if refused is not None:
                raise RedisConnectionError(f"Error connecting to {endpoint}: {refused}")
        except BaseException:
            # Refused, failed, or given up (cancelled) while opening: the socket is closed, never left open.
            connection.close()
            raise
        return connection

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (a new one must be opened)."""
        return self._closed_because is not None or self._transport is None

    async def execute(self, commands: Sequence[tuple[Any, ...]], timeout: float | None) -> list[Any]:
        """Send ``commands`` and return their replies (error replies as :class:`RespError` values, not raised).

        Args:
            commands: The commands, each a tuple of its arguments.
            timeout: The most seconds to wait for the replies (``None``: the endpoint's ``socket_timeout``, else
                no limit). Past it the connection is closed.

        Raises:
            RedisConnectionError: The connection is or became closed; :class:`RedisReplyTimeout` when Redis did
                not answer in time.
        """
        future = self.send(commands, timeout)
        if self._paused:
            await self._drain()
        return await future

    def send(self, commands: Sequence[tuple[Any, ...]], timeout: float | None) -> asyncio.Future[list[Any]]:
        """Send ``commands`` now; the future gets their replies (as :meth:`execute` returns them) or its error.

        The commands of every caller in one turn of the loop go out in one write. Nobody needs to await the
        future (a caller that gives up just cancels it: its replies are then read and dropped).

        Raises:
            RedisConnectionError: The connection is closed.
        """
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue(commands, timeout, future, None)
        return future

    def send_then(self, commands: Sequence[tuple[Any, ...]], timeout: float | None, then: Then) -> None:
        """:meth:`send`, for a caller that never gives up: ``then(replies, None)`` is called with the replies as
        soon as they are read (``then(None, error)`` if the connection fails or times out first), with no future.

        ``then`` must not raise.

        Raises:
            RedisConnectionError: The connection is closed.
        """
        self._queue(commands, timeout, None, then)

    def _queue(
        self,
        commands: Sequence[tuple[Any, ...]],
        timeout: float | None,
        future: asyncio.Future[list[Any]] | None,
        then: Then | None,
    ) -> None:
        if self._closed_because is not None or self._transport is None:
            raise RedisConnectionError(f"The connection to {self.endpoint} is closed: {self._closed_because}")
        loop = asyncio.get_running_loop()
        if timeout is None:
            timeout = self.endpoint.socket_timeout
        deadline = 0.0
        if timeout is not None:
            deadline = loop.time() + timeout
            if self._watchdog is None or deadline < self._watchdog_at:
                self._arm(loop, deadline)
        self._waiters.append(_Waiter(future, then, len(commands), timeout, deadline))
        outgoing = self._outgoing
        if not outgoing:
            loop.call_soon(self._flush)
        outgoing.extend(pack_commands(commands))

    def _flush(self) -> None:
        """Write what the callers of this turn of the loop sent, at once."""
        outgoing, self._outgoing = self._outgoing, []
        transport = self._transport
        if transport is not None and self._closed_because is None:
            transport.writelines(outgoing)

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = loop.call_at(deadline, self._watch, loop)
        self._watchdog_at = deadline

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """The watchdog: a waiter still waiting past its deadline closes the connection (Redis is stuck)."""
        self._watchdog = None
        # A timer may run up to the loop's clock resolution early: a deadline that near has passed.
        now = loop.time() + 0.001
        earliest: float | None = None
        for waiter in self._waiters:
            if waiter.timeout is None or (waiter.future is not None and waiter.future.done()):
                continue  # no deadline, or a caller that gave up
            if waiter.deadline <= now:
                self._close(RedisReplyTimeout(f"Redis at {self.endpoint} did not answer within {waiter.timeout:.1f} s"))
                return
            if earliest is None or waiter.deadline < earliest:
                earliest = waiter.deadline
        if earliest is not None:
            self._arm(loop, earliest)

    async def _drain(self) -> None:
        if not self._paused:
            return
        drained = self._drained
        if drained is None:
            drained = self._drained = asyncio.get_running_loop().create_future()
        await asyncio.shield(drained)

    def _resume(self) -> None:
        self._paused = False
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _parse(self) -> None:
        parser = self._parser
        try:
            waiters = self._waiters
            while True:
                reply = parser.next_reply()
                if reply is NEED_DATA:
                    return
                if not waiters:
                    raise RespProtocolError("a reply nobody asked for")
                waiter = waiters[0]
                waiter.replies.append(reply)
                if len(waiter.replies) == waiter.count:
                    waiters.popleft()
                    future = waiter.future
                    if future is None:
                        waiter.then(waiter.replies, None)  # type: ignore[misc]  # one of the two is set
                    elif not future.done():  # a caller that gave up: its replies are dropped
                        future.set_result(waiter.replies)
        except RespProtocolError as exc:
            self._close(RedisConnectionError(f"Unreadable reply from Redis at {self.endpoint}: {exc}"))

    def _lost(self, exc: Exception | None) -> None:
        self._fail_waiters(RedisConnectionError(f"Redis at {self.endpoint} closed the connection ({exc})"))

    def _close(self, reason: BaseException) -> None:
        self._fail_waiters(reason)
        transport = self._transport
        if transport is not None:
            transport.abort()

    def _fail_waiters(self, reason: BaseException) -> None:
        if self._closed_because is None:
            self._closed_because = reason
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            future = waiter.future
            if future is None:
                waiter.then(None, self._closed_because)  # type: ignore[misc]  # one of the two is set
            elif not future.done():
                future.set_exception(self._closed_because)
        self._resume()

    def close(self) -> None:
        """Close the connection; callers still waiting get ``RedisConnectionError``."""
        self._close(RedisConnectionError(f"The connection to {self.endpoint} was closed by the client"))
