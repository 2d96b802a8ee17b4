"""Shared helpers of the Redis transport tests: a recording metrics recorder, message builders, command counts."""

from __future__ import annotations

import collections
from types import TracebackType
from typing import Any

from pysoa_like.common.serializer import JSONSerializer, MsgpackSerializer

SERIALIZERS = {
    "msgpack": {"path": "pysoa_like.common.serializer:MsgpackSerializer"},
    "json": {"path": "pysoa_like.common.serializer:JSONSerializer"},
}
SERIALIZER_CLASSES = {"msgpack": MsgpackSerializer, "json": JSONSerializer}


class _Instrument:
    def __init__(self, recorder: RecordingMetrics, name: str) -> None:
        self.recorder = recorder
        self.name = name

    def increment(self, amount: int = 1) -> None:
        self.recorder.counters[self.name] += amount

    def set(self, value: float) -> None:
        self.recorder.values[self.name].append(value)

    def start(self) -> None:
        self.recorder.timers[self.name] += 1

    def stop(self) -> None:
        pass

    def __enter__(self) -> _Instrument:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass


class RecordingMetrics:
    """A metrics recorder that remembers counters, histogram/gauge values and timer uses by name."""

    def __init__(self) -> None:
        self.counters: collections.Counter[str] = collections.Counter()
        self.values: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
        self.timers: collections.Counter[str] = collections.Counter()

    def counter(self, name: str, **tags: Any) -> _Instrument:
        return _Instrument(self, name)

    def gauge(self, name: str, **tags: Any) -> _Instrument:
        return _Instrument(self, name)

    def histogram(self, name: str, **tags: Any) -> _Instrument:
        return _Instrument(self, name)

    def timer(self, name: str, **tags: Any) -> _Instrument:
        return _Instrument(self, name)

    def publish_all(self) -> None:
        pass


def job_request(**control: Any) -> dict[str, Any]:
    """A minimal valid job request body."""
    return {
        "control": {"continue_on_error": False, "suppress_response": False, **control},
        "context": {"correlation_id": "cid-1", "switches": []},
        "actions": [{"action": "echo", "body": {"x": 1}}],
    }


def job_response(**body: Any) -> dict[str, Any]:
    """A minimal job response body."""
    return {
        "errors": [],
        "context": {"correlation_id": "cid-1"},
        "actions": [{"action": "echo", "errors": [], "body": body}],
    }


def commands_run(raw_redis: Any, command: str) -> int:
    """How many times Redis ran ``command`` since the last ``CONFIG RESETSTAT``."""
    stats: Any = raw_redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def queued_request(raw_redis: Any, service: str = "echo") -> tuple[Any, dict[str, Any]]:
    """Take the oldest request off ``service``'s queue, as a server would: its request id and meta (with nonce)."""
    from pysoa_like.common.serializer import Serializer
    from pysoa_like.common.transport.redis_gateway.protocol import parse_message

    raw = raw_redis.lpop("pysoa:service." + service)
    assert raw is not None, "no request queued"
    parsed = parse_message(raw)
    envelope = Serializer.resolve_serializer(parsed.content_type or "application/msgpack").blob_to_dict(parsed.payload)
    return envelope["request_id"], envelope["meta"]
