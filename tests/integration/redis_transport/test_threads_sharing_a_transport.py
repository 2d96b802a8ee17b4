"""One server transport used by a receiving thread and a replying thread at once, as a concurrent worker uses it."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import pytest
import redis

from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport

_REPLY_TO = "threads.replies!1"


def test_replies_pushed_by_one_thread_are_settled_by_that_thread_while_another_receives(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Replies are pushed without waiting and Redis' answers read later: by the thread that pushed them (its own
    connection), never by the thread receiving meanwhile, whose receives would otherwise read a socket the replying
    thread is writing to. A reply list found full is reported from the replying thread, once per reply."""
    metrics = CountingMetricsRecorder()
    transport = RedisServerTransport(
        "threads",
        metrics,
        backend_type="redis.standard",
        backend_layer_kwargs={"hosts": [redis_url]},
        queue_capacity=2,
    )
    redis_client.rpush(f"pysoa:{_REPLY_TO}", b"a", b"b")  # the reply list is full
    receives = 0
    stop = threading.Event()

    def receive() -> None:
        nonlocal receives
        while not stop.is_set():
            with contextlib.suppress(MessageReceiveTimeout):
                transport.receive_request_message(receive_timeout_in_seconds=0.05)
            receives += 1

    receiver = threading.Thread(target=receive, name="receiver")
    caplog.set_level(logging.ERROR, logger="pysoa_like.transport")
    try:
        # The first push of the send script on a connection waits for Redis (it loads the script, here into a
        # reply list with room); later ones are deferred.
        transport.send_response_message(0, {"reply_to": "threads.other!1"}, {"n": 0})
        receiver.start()
        for number in range(1, 6):
            transport.send_response_message(number, {"reply_to": _REPLY_TO}, {"n": number})
        seen = receives
        deadline = time.monotonic() + 10
        while receives < seen + 3:  # the receiver went through several receives while the replies were unread
            assert time.monotonic() < deadline
            time.sleep(0.01)
        transport.flush_responses()
    finally:
        stop.set()
        receiver.join(5)
    assert metrics.get_count("server.transport.redis_gateway.send.error.redis_queue_full") == 5
    refusals = [r for r in caplog.records if "Could not deliver a reply" in r.getMessage()]
    assert refusals and {r.threadName for r in refusals} == {threading.current_thread().name}
