"""The floor: a hand-written RPC over raw redis-py (with hiredis when installed) and msgpack.

A request is ``packb({"r": reply_list, "b": body})`` pushed with RPUSH onto the service's list; a
server BLPOPs it, decodes it, computes the reply (``{"square": n * n}`` or ``{"data": "x" * size}``),
encodes it and RPUSHes it onto the reply list, where the client BLPOPs it. That is the least any
Redis-list RPC must do: two round trips on each side and one msgpack encode and decode per message.
For throughput the client pipelines a whole wave of requests in one round trip and drains its reply
list with BLPOP plus ``LPOP count``.

Run as ``python -m benchmarks._floor server|client '<json>'``.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any

from benchmarks._driver import main_client

__all__ = ["FloorCalls", "serve"]

_TIMEOUT_SECONDS = 30


def _connect(config: dict[str, Any]) -> Any:
    import redis

    host, port = config["redis"]
    return redis.Redis(host=host, port=port)


def serve(config: dict[str, Any]) -> None:
    """BLPOP requests from the service's list and push each reply, forever (until SIGTERM)."""
    import msgpack  # type: ignore[import-untyped,unused-ignore]

    connection = _connect(config)
    queue = config["service"]
    packb, unpackb = msgpack.packb, msgpack.unpackb
    sys.stdout.write(f"READY {os.getpid()}\n")
    sys.stdout.flush()
    while True:
        item = connection.blpop([queue], timeout=1)
        if item is None:
            continue
        message = unpackb(item[1])
        body = message["b"]
        number = body.get("number")
        reply = {"square": number * number} if number is not None else {"data": "x" * body["size"]}
        connection.rpush(message["r"], packb(reply))


class FloorCalls:
    """The floor's client side."""

    def __init__(self, config: dict[str, Any]) -> None:
        import msgpack  # type: ignore[import-untyped,unused-ignore]

        self._redis = _connect(config)
        self._queue = config["service"]
        self._reply = f"{config['service']}.{uuid.uuid4().hex}!"
        self._packb, self._unpackb = msgpack.packb, msgpack.unpackb

    def _pop(self) -> bytes:
        item = self._redis.blpop([self._reply], timeout=_TIMEOUT_SECONDS)
        if item is None:
            raise TimeoutError("no reply from the floor server")
        raw: bytes = item[1]
        return raw

    def square(self, number: int) -> int:
        self._redis.rpush(self._queue, self._packb({"r": self._reply, "b": {"number": number}}))
        result: int = self._unpackb(self._pop())["square"]
        return result

    def squares(self, numbers: list[int]) -> list[int]:
        pipe = self._redis.pipeline(transaction=False)
        for number in numbers:
            pipe.rpush(self._queue, self._packb({"r": self._reply, "b": {"number": number}}))
        pipe.execute()
        raws = [self._pop()]
        while len(raws) < len(numbers):
            more = self._redis.lpop(self._reply, len(numbers) - len(raws))
            if more:
                raws.extend(more)
            else:
                raws.append(self._pop())
        return [self._unpackb(raw)["square"] for raw in raws]

    def big(self, size: int) -> int:
        self._redis.rpush(self._queue, self._packb({"r": self._reply, "b": {"size": size}}))
        return len(self._unpackb(self._pop())["data"])


if __name__ == "__main__":
    _config = json.loads(sys.argv[2])
    if sys.argv[1] == "server":
        serve(_config)
    else:
        main_client(FloorCalls, _config)
