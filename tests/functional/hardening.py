"""Helpers of the hardening tests: raw requests pushed straight into a running service, and their replies read back."""

from __future__ import annotations

import time
from typing import Any

import redis

from pysoa_like.common.serializer import Serializer
from pysoa_like.common.transport.redis_gateway.protocol import frame_message, parse_message
from tests.malformed_corpus import REPLY_TO, valid_envelope

REQUEST_QUEUE = "pysoa:service.functional"


def raw_request(envelope: dict[str, Any], mime: str = "application/msgpack") -> bytes:
    """A version 3 request message holding ``envelope``."""
    serializer = Serializer.resolve_serializer(mime)
    return frame_message(serializer.dict_to_blob(envelope), mime)


def request_to(reply_to: str, request_id: int = 7, **body: Any) -> bytes:
    """A well-formed request for ``who`` (or the given job body) naming ``reply_to``."""
    return raw_request(valid_envelope(request_id, reply_to, body or None))


def read_reply(raw_redis: redis.Redis, reply_to: str = REPLY_TO, timeout: float = 5) -> dict[str, Any] | None:
    """The next reply pushed to ``reply_to``, decoded (None if none came within ``timeout``)."""
    popped: Any = raw_redis.blpop(["pysoa:" + reply_to], timeout)
    if popped is None:
        return None
    parsed = parse_message(popped[1])
    envelope: dict[str, Any] = Serializer.resolve_serializer(parsed.content_type or "application/msgpack").blob_to_dict(
        parsed.payload
    )
    return envelope


def job_error_codes(envelope: dict[str, Any]) -> list[str]:
    """The job-level error codes of a decoded reply."""
    return [error["code"] for error in envelope["body"]["errors"]]


def wait_until_empty(raw_redis: redis.Redis, key: str = REQUEST_QUEUE, timeout: float = 10) -> None:
    """Wait until the list ``key`` has been drained by the workers."""
    deadline = time.monotonic() + timeout
    while raw_redis.llen(key):
        assert time.monotonic() < deadline, f"{key} still holds {raw_redis.llen(key)} messages"
        time.sleep(0.05)
