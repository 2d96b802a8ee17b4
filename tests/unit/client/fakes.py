"""In-test client transports: replies are built by a callback and queued per sending thread."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import ClientTransport, ReceivedMessage
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError

Responder = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def echo_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Answer every action with its own request body, like a server of echo actions."""
    return {
        "errors": [],
        "context": {"correlation_id": body["context"]["correlation_id"]},
        "actions": [{"action": a["action"], "errors": [], "body": dict(a["body"])} for a in body["actions"]],
    }


class FakeClientTransport(ClientTransport):
    """Replies at send time into the sending thread's queue; ``hold=True`` keeps replies until :meth:`release`.

    A responder returning ``None`` simulates a server that never answers (receives then time out).
    """

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder,
        responder: Responder = echo_responder,
        hold: bool = False,
        fail_sends: bool = False,
    ) -> None:
        super().__init__(service_name, metrics)
        self.responder = responder
        self.hold = hold
        self.fail_sends = fail_sends
        self.sent: list[tuple[int, dict[str, Any], dict[str, Any], float | None]] = []
        self.held: list[tuple[deque[ReceivedMessage], ReceivedMessage]] = []
        self.receive_timeouts: list[float | None] = []
        self.unanswered = 0
        self._queues: dict[int, deque[ReceivedMessage]] = {}
        self._lock = threading.Lock()

    def _queue(self) -> deque[ReceivedMessage]:
        with self._lock:
            return self._queues.setdefault(threading.get_ident(), deque())

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        if self.fail_sends:
            raise MessageSendError("the fake refuses to send")
        self.sent.append((request_id, meta, body, message_expiry_in_seconds))
        if body["control"].get("suppress_response"):
            return
        reply = self.responder(body)
        if reply is None:
            self.unanswered += 1
            return
        message = ReceivedMessage(request_id, dict(meta), reply)
        if self.hold:
            self.held.append((self._queue(), message))
        else:
            self._queue().append(message)

    def release(self, order: list[int] | None = None) -> None:
        """Deliver held replies, in ``order`` (indices into the held list) or as sent."""
        held, self.held = self.held, []
        for index in order if order is not None else range(len(held)):
            target, message = held[index]
            target.append(message)

    def inject(self, request_id: Any, body: dict[str, Any]) -> None:
        """Put an arbitrary reply into the current thread's queue."""
        self._queue().append(ReceivedMessage(request_id, {}, body))

    def receive_response_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        self.receive_timeouts.append(receive_timeout_in_seconds)
        pending = self._queue()
        if pending:
            return pending.popleft()
        if self.held or self.unanswered:
            raise MessageReceiveTimeout("the fake has no reply yet")
        return ReceivedMessage(None, None, None)


class ThreadedFakeTransport(ClientTransport):
    """Replies from worker threads after a random delay, so replies arrive late and out of order."""

    def __init__(
        self, service_name: str, metrics: MetricsRecorder, max_delay: float = 0.003, min_delay: float = 0.0
    ) -> None:
        super().__init__(service_name, metrics)
        self.max_delay = max_delay
        self.min_delay = min_delay
        self._queues: dict[int, queue.Queue[ReceivedMessage]] = {}
        self._lock = threading.Lock()

    def _queue(self) -> queue.Queue[ReceivedMessage]:
        with self._lock:
            return self._queues.setdefault(threading.get_ident(), queue.Queue())

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        target = self._queue()
        delay = random.uniform(self.min_delay, self.max_delay)

        def reply() -> None:
            time.sleep(delay)
            target.put(ReceivedMessage(request_id, dict(meta), echo_responder(body)))

        threading.Thread(target=reply, daemon=True).start()

    def receive_response_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        try:
            return self._queue().get(timeout=receive_timeout_in_seconds or 5)
        except queue.Empty:
            raise MessageReceiveTimeout("no reply in time") from None


def transport_config(cls: type = FakeClientTransport, **kwargs: Any) -> dict[str, Any]:
    """A client settings ``transport`` entry for one of these fakes."""
    return {"path": f"{cls.__module__}:{cls.__qualname__}", "kwargs": kwargs}
