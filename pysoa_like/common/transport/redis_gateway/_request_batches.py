"""A thread's requests held back and pushed together: the sends of a parallel call, one write and one read per Redis
master for all its services' transports that share a backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import ClientTransport
from pysoa_like.common.transport.errors import PySOATransportError
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway.client import _ThreadState

__all__ = ["RequestBatches"]


class RequestBatches:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.client.RedisClientTransport`: its send batches."""

    metrics: MetricsRecorder
    core: RedisTransportCore
    _state: _ThreadState
    _prefix: str
    _send_queue_name: str

    def begin_send_batch(self) -> bool:
        """Hold this thread's requests back until :meth:`flush_send_batch` pushes them in one round trip."""
        state = self._state
        if state.batch is not None:
            return False
        state.batch = []
        return True

    def flush_send_batch(self) -> dict[int, PySOATransportError]:
        """Push every held request (one write and one read per Redis master) and end the batch.

        Returns:
            The request ids that could not be pushed, with their ``MessageSendError``.
        """
        return self.flush_send_batches([cast(ClientTransport, self)])[0]

    @classmethod
    def flush_send_batches(cls, transports: Sequence[ClientTransport]) -> list[dict[int, PySOATransportError]]:
        """Push the requests held by several transports together: one write and one read per Redis master for
        all of them when they share a backend (equal ``backend_type`` and ``backend_layer_kwargs``), whatever
        the services; each transport's batch ends.

        Returns:
            Per transport, the request ids that could not be pushed, with their ``MessageSendError``.
        """
        failures: list[dict[int, PySOATransportError]] = [{} for _transport in transports]
        # The transport's module imports this one: its class is looked up when needed.
        from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport

        held: list[tuple[int, RedisClientTransport, list[Any]]] = []
        for number, transport in enumerate(transports):
            if not isinstance(transport, RedisClientTransport):
                failures[number] = transport.flush_send_batch()
                continue
            state = transport._state
            batch, state.batch = state.batch, None
            if batch:
                held.append((number, transport, batch))
        if not held:
            return failures
        first = held[0][1]
        # One write per master for all: Redis has the longest of their times to answer (a parallel call's jobs
        # share theirs).
        deadline = max(entry[4] for _number, _transport, batch in held for entry in batch)
        with first.metrics.timer(first._prefix + "send.batch"):
            errors = RedisTransportCore.send_batches(
                [
                    (
                        transport.core,
                        [(transport._send_queue_name, [message], expiry) for _id, message, expiry, _a, _d in batch],
                    )
                    for _number, transport, batch in held
                ],
                deadline,
            )
        for (number, transport, batch), batch_errors in zip(held, errors, strict=True):
            state = transport._state
            for (request_id, _message, _expiry, _awaited, _deadline), error in zip(batch, batch_errors, strict=True):
                if error is not None:
                    failures[number][request_id] = error
                    state.pending.forget(request_id)
                    state.watched.forget(request_id)
        return failures
