"""A lane's round trips: commands whose replies it reads before it returns.

Pushes made so (the send script, or for a big message a transaction once the connection has shown that its user
may run one) are those of a send to another master than the reply list's, of a big message, of a batch and of a
push made again; single commands (at-least-once delivery's, the liveness keys') and Redis Cluster's ``ASK``
redirections (``ASKING`` first, on the connection to the node the answer names) go so too. A call's own push goes
with the wait for its reply, and a server's reply without waiting for Redis' answer (both in :mod:`._lanes`).

A look at a timed-out call's queue is written (:meth:`RoundTrips.ask`) and its reply read later
(:meth:`RoundTrips.answer`), so that every master of a ring is asked at once; it goes on a lane kept for such looks
(see ``BaseRedisClient.look_lane``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis

from pysoa_like.common.transport.redis_gateway._reply_errors import (
    TransactionAbortedError,
    must_push_again,
    push_error,
    script_error,
)
from pysoa_like.core.message import OutgoingMessage
from pysoa_like.core.redis_protocol import (
    Command,
    PushItem,
    PushPlan,
    PushVerdict,
    pack_commands,
    push_commands,
    push_plan,
    script_command,
    transaction_outcome,
    transaction_probe_commands,
    transactions_allowed,
)

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway._connect import SocketConnection
    from pysoa_like.common.transport.redis_gateway._lanes import ReplyReader

__all__ = ["RoundTrips"]


class RoundTrips:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway._lanes.Lane`: its commands answered at once."""

    # _transactions: whether big items may be pushed in a transaction on this connection (None: not probed yet);
    # _last_write: when the lane last wrote (or found its connection alive); _owed: see below.
    __slots__ = ("_last_write", "_owed", "_transactions")

    _transactions: bool | None
    _reader: ReplyReader
    _loaded: set[int]
    _fused: Any
    _deferred: list[tuple[PushItem, bool, int]]
    _connection: SocketConnection
    _last_write: float
    #: How many replies to :meth:`ask`'s commands are still to be read on the connection.
    _owed: int

    if TYPE_CHECKING:

        def check_connection(self) -> bool: ...

        def _shorten_read(self, seconds: float) -> None: ...

        def _settle_fused(self) -> None: ...

        def settle(self) -> list[tuple[PushItem, Exception | None]]: ...

        def _send(self, buffers: list[bytes], deadline: float | None = None, blocking: bool = False) -> None: ...

        def _disconnect(self) -> None: ...

    def push(
        self,
        key: str,
        messages: Sequence[OutgoingMessage],
        expiry_seconds: int,
        capacity: int,
        script_only: bool = False,
        deadline: float | None = None,
    ) -> None:
        """Push one message, or all chunks of one message, to a list in one atomic step and refresh its TTL.

        Args:
            script_only: Use the send script even for a big item (see :meth:`push_many`).
            deadline: ``time.monotonic()`` by which Redis must have answered (default: ``socket_timeout``).

        Raises:
            QueueFullError: If the list is full.
            redis.RedisError: On any other Redis or connection failure.
        """
        error = self.push_many([(key, messages, expiry_seconds)], capacity, script_only, deadline)[0]
        if error is not None:
            raise error

    def push_many(
        self, items: Sequence[PushItem], capacity: int, script_only: bool = False, deadline: float | None = None
    ) -> list[Exception | None]:
        """Push every item in one write and one read of the replies.

        An item is pushed by the send script; a big one (32 KiB or more) in a transaction instead, once this
        connection has shown that it may run one (:meth:`_probe_transactions`), unless ``script_only``. A
        push that Redis did not run (``NOSCRIPT``, or a transaction discarded because a command was refused
        when queued) is made again with the script's text, whose answer is then the item's outcome.

        Returns:
            Per item, None when pushed, else its error (:class:`QueueFullError` or a ``redis.ResponseError``).

        Raises:
            redis.ConnectionError, redis.TimeoutError: The connection failed; nothing is known about which items
                were pushed.
        """
        if self._fused is not None:
            self._settle_fused()
        if self._deferred:
            self.settle()
        try:
            pushes = [push_plan(item, capacity) for item in items]
            plans = self._transaction_plans(items, pushes, script_only)
            commands: list[Command] = []
            for item, push, transaction in zip(items, pushes, plans, strict=True):
                if transaction:
                    commands.extend(push_commands(item, capacity, transaction))
                else:
                    commands.append(push.command)
            self._send(pack_commands(commands), deadline)
            read = self._reader.read
            errors: list[Exception | None] = []
            retry: list[int] = []
            for position, transaction in enumerate(plans):
                error = self._read_transaction_outcome() if transaction else read(push=True)
                errors.append(error)
                if error is not None and must_push_again(error):
                    retry.append(position)
            if retry:
                # The push did not run: EVAL sends the script's text (and caches it for the next EVALSHA).
                self._send(
                    pack_commands([script_command(True, items[position], capacity) for position in retry]), deadline
                )
                for position in retry:
                    errors[position] = read(push=True)
                    plans[position] = False
        except BaseException:
            self._disconnect()
            raise
        for push, transaction, error in zip(pushes, plans, errors, strict=True):
            if error is None and not transaction:
                self._loaded.add(push.script)
        return errors

    def _transaction_plans(self, items: Sequence[PushItem], pushes: list[PushPlan], script_only: bool) -> list[bool]:
        """Per item, whether it goes as a transaction (probing the connection at its first big item).

        Decided once per push, when its commands are written: its replies are read accordingly.
        """
        if script_only or self._transactions is False:
            return [False] * len(items)
        plans = [push.big for push in pushes]
        if self._transactions is None and True in plans:
            self._probe_transactions(items[plans.index(True)][0])
            if not self._transactions:
                return [False] * len(items)
        return plans

    def _probe_transactions(self, key: str) -> None:
        """Find out, once per connection, whether big items may go in a transaction (see the core's probe)."""
        self._send(pack_commands(transaction_probe_commands(key)))
        read = self._reader.read
        self._transactions = transactions_allowed(read(), read(), read())

    def _read_transaction_outcome(self) -> Exception | None:
        """Read the four replies of one item's transaction push: None when pushed, else the error.

        (A send script's push has one reply, read as its outcome by ``ReplyReader.read(push=True)``.)
        """
        read = self._reader.read
        return self._transaction_error(read(), read(), read(), read())

    def _transaction_error(self, started: Any, pushed: Any, checked: Any, result: Any) -> Exception | None:
        """What the four replies of a transaction push mean: None when pushed, else the error."""
        verdict, reply, multi_refused = transaction_outcome(started, pushed, checked, result)
        if multi_refused:
            self._transactions = False
        if verdict is PushVerdict.PUSH_AGAIN and not multi_refused:
            # Discarded (EXECABORT: a command was refused when queued): nothing ran.
            return TransactionAbortedError(f"Redis discarded the push: {reply}")
        return push_error(verdict, reply)

    def execute(self, *command: Any, deadline: float | None = None) -> Any:
        """Run one small command (not a push or pop) and return Redis' reply.

        Args:
            deadline: ``time.monotonic()`` by which Redis must have answered (default: ``socket_timeout`` from
                now); connecting counts too.

        Raises:
            redis.RedisError: Redis refused it, or the connection failed or did not answer in time (and is
                closed).
        """
        if self._fused is not None:
            self._settle_fused()
        if self._deferred:
            self.settle()
        try:
            self._send(pack_commands([command]), deadline)
            reply = self._reader.read()
        except BaseException:
            self._disconnect()
            raise
        if isinstance(reply, Exception):
            raise reply
        return reply

    def open_by(self, deadline: float) -> None:
        """Make the connection ready for :meth:`ask` within what is left until ``deadline`` (not a quarter second step
        more, see the module docstring of :mod:`._lanes`): for a caller that asks only if time is left then.

        The replies of looks given up (:meth:`answer` timed out) that have come are read and dropped; a connection
        Redis closed while it was idle is found here (and one not open is opened), not in :meth:`ask`.

        Raises:
            redis.ConnectionError, redis.TimeoutError: Connecting failed or timed out.
        """
        if self._connection.sock is not None:
            if self._owed:
                self._drop_owed()
            else:
                self.check_connection()
        if self._connection.sock is None:
            self._owed = 0
            budget = max(deadline - time.monotonic(), 0.001)
            self._connection.connect(budget)
            self._shorten_read(budget)  # (the socket's timeout as connecting left it; the next write sets it again)

    def _drop_owed(self) -> None:
        """Read and drop the replies owed to looks given up that have come (without waiting for the others); a
        connection found closed meanwhile is closed."""
        from pysoa_like.common.transport.redis_gateway._lanes import looks_closed  # (_lanes imports this module)

        sock = self._connection.sock
        reader = self._reader
        reader.read_deadline = 0.0  # (a receive that runs out is not tried again)
        self._shorten_read(0.001)
        try:
            while self._owed and looks_closed(sock):  # (readable: a reply came, or the end of the connection)
                reader.read()
                self._owed -= 1
        except redis.TimeoutError:
            return  # a reply partly come: the parser keeps it, and the rest is read before the next look's reply
        except redis.ConnectionError:
            self._disconnect()  # closed by Redis (idle timeout, restart): open_by connects anew
            return
        except BaseException:
            self._disconnect()
            raise
        if not self._owed:
            self.check_connection()

    def ask(self, command: tuple[Any, ...], deadline: float | None) -> None:
        """Write one small command whose reply :meth:`answer` reads by ``deadline`` (a look at a queue; None:
        ``socket_timeout`` from now); after :meth:`open_by`.

        Raises:
            redis.ConnectionError, redis.TimeoutError: Connecting or the write failed (the connection is closed).
        """
        if self._owed:
            # Replies still owed, and about to be read: the socket may be readable although the connection is alive.
            self._last_write = time.monotonic()
        self._owed += 1  # counted first: a write that fails closes the connection, which forgets the count
        try:
            self._send(pack_commands([command]), deadline)
        except BaseException:
            self._disconnect()
            raise

    def answer(self) -> Any:
        """The reply to the command :meth:`ask` wrote, read by its deadline exactly (a receive is not given the
        rest of a quarter second step, as a call's are); the replies still owed to looks given up come first, and
        are dropped.

        Raises:
            redis.ResponseError: Redis refused the command (the connection stays open).
            redis.TimeoutError: No reply came by the deadline: the look is given up, and the connection stays open
                (its reply is dropped when it comes, so the next look need not connect anew).
            redis.ConnectionError: The connection failed (and is closed).
        """
        self._shorten_read(self._reader.read_deadline - time.monotonic())
        read = self._reader.read
        try:
            while self._owed > 1:
                read()  # a look given up: its reply goes to nobody
                self._owed -= 1
            reply = read()
            self._owed = 0
        except redis.TimeoutError:
            raise
        except BaseException:
            self._disconnect()
            raise
        if isinstance(reply, Exception):
            raise reply
        return reply

    def execute_asking(self, command: tuple[Any, ...], deadline: float | None = None, blocking: bool = False) -> Any:
        """Run one command after ``ASKING``: Redis Cluster's ``ASK`` redirection (the slot migrates to this node).

        Args:
            command: The command (one key, of the migrating slot).
            deadline: ``time.monotonic()`` by which the reply must be read (default: ``socket_timeout``).
            blocking: The command blocks (``BLPOP``), so its reply may come after ``socket_timeout``.

        Returns:
            Redis' reply; an error reply (to ``ASKING`` or to the command) as a ``redis.ResponseError``, not raised.

        Raises:
            redis.ConnectionError, redis.TimeoutError: The connection failed (and is closed).
        """
        if self._fused is not None:
            self._settle_fused()
        if self._deferred:
            self.settle()
        read = self._reader.read
        try:
            self._send(pack_commands([("ASKING",), command]), deadline, blocking=blocking)
            asking = read()
            reply = read()
        except BaseException:
            self._disconnect()
            raise
        return asking if isinstance(asking, Exception) else reply

    def push_asking(self, item: PushItem, capacity: int, deadline: float | None = None) -> None:
        """Push ``item`` with the send script's text after ``ASKING`` (see :meth:`execute_asking`).

        Raises:
            QueueFullError: If the list is full.
            redis.RedisError: On any other Redis or connection failure.
        """
        error = script_error(self.execute_asking(script_command(True, item, capacity), deadline))
        if error is not None:
            raise error
        self._loaded.add(push_plan(item, capacity).script)
