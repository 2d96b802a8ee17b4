"""Every kind of malformed request in the corpus is handled by a real server over a real Redis, one by one.

A hardened server answers each kind it can (an error where the message is wrong, a normal reply where it is
acceptable after all), drops the others, logs at most one bounded line for it and serves the next request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pysoa_like.common.serializer import Serializer
from pysoa_like.common.transport.redis_gateway.protocol import parse_message
from tests.functional.hardening import raw_request
from tests.functional.service import FunctionalServer
from tests.malformed_corpus import REPLY_TO, Kind, corpus, prepare_redis, valid_envelope

QUEUE = "pysoa:service.functional"
GOOD_REPLY_TO = "service.functional.good!1"


@pytest.fixture
def server(redis_url: str) -> Iterator[FunctionalServer]:
    """The functional service's server over the session Redis, run in this process."""
    transport = {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [redis_url]},
            "receive_timeout_in_seconds": 0.5,
        },
    }
    server = FunctionalServer({"transport": transport})
    yield server
    server.close()


def _reply(raw_redis: redis.Redis, reply_to: str) -> dict[str, Any] | None:
    raw = raw_redis.lpop("pysoa:" + reply_to)
    if raw is None:
        return None
    assert isinstance(raw, bytes)
    parsed = parse_message(raw)
    decoded: dict[str, Any] = Serializer.resolve_serializer(parsed.content_type or "application/msgpack").blob_to_dict(
        parsed.payload
    )
    return decoded


def _has_errors(body: dict[str, Any]) -> bool:
    return bool(body.get("errors")) or any(action.get("errors") for action in body.get("actions") or ())


@pytest.mark.parametrize("kind", corpus(), ids=lambda kind: kind.name)
def test_a_malformed_request_is_handled_and_the_next_one_served(
    kind: Kind, server: FunctionalServer, raw_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The kind is answered (or not) as it says, with at most one bounded log line, and a good request follows."""
    prepare_redis(raw_redis)
    good = raw_request(valid_envelope(request_id=99, reply_to=GOOD_REPLY_TO))
    raw_redis.rpush(QUEUE, kind.raw, good)
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            if not raw_redis.llen(QUEUE):
                break
            server.handle_next_request()
        server.transport.flush_responses()
    answer = _reply(raw_redis, REPLY_TO)
    assert (answer is not None) == kind.answered
    if answer is not None:
        assert _has_errors(answer["body"]) == kind.has_errors
        for error in answer["body"]["errors"]:
            assert not error.get("traceback")
    served = _reply(raw_redis, GOOD_REPLY_TO)
    assert served is not None and served["request_id"] == 99 and not _has_errors(served["body"])
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) <= 2, [r.getMessage()[:200] for r in problems]
    assert all(len(r.getMessage()) <= 1200 for r in problems)
    # Nothing was pushed anywhere the corpus does not name.
    assert raw_redis.llen("pysoa:service.other") == 0
