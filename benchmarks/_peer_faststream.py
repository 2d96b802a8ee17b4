"""FastStream's side of ``benchmarks.peers``: its Redis request/reply, served from a Redis list.

The server runs as ``python -m benchmarks._peer_faststream server '<json>'`` (``{"redis": [host, port],
"list": name}``): a ``RedisBroker`` whose subscriber pops ``{"number": n}`` messages from the list, one at a
time as its list subscriber does, and returns ``{"square": n * n}``, which FastStream publishes to the
request's reply channel. It prints ``READY <pid>`` once subscribed and stops on SIGTERM. As with pysoa_like's
workers, several such processes share the list.

The client is one ``RedisBroker`` in the benchmark's process calling ``broker.request(body, list=name)``: each
request subscribes to a reply channel of its own (on a connection of its own: the broker's connection pool is
raised from redis-py's 100 to hold the 1,000 requests in flight), pushes the message and waits for the published
reply.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from benchmarks._procs import announce_ready

__all__ = ["FastStreamCalls"]


def _url(address: Sequence[Any]) -> str:
    host, port = address
    return f"redis://{host}:{port}/0"


class FastStreamCalls:
    """One connected ``RedisBroker`` making requests to the list (make it, and :meth:`start` it, inside the loop)."""

    def __init__(self, address: Sequence[Any], list_name: str, in_flight: int) -> None:
        from faststream.redis import RedisBroker

        # Each request holds a Pub/Sub connection of its own until its reply comes, and borrows another to push:
        # redis-py's pool (100 by default) must hold twice the requests in flight.
        self._broker = RedisBroker(_url(address), max_connections=2 * in_flight + 10)
        self._list = list_name

    async def start(self) -> None:
        """Connect the broker."""
        await self._broker.connect()

    async def square(self, number: int) -> int:
        """One request/reply: ``number`` squared by a server process."""
        reply = await self._broker.request({"number": number}, list=self._list, timeout=60.0)
        body = await reply.decode()
        result: int = body["square"]  # type: ignore[index,call-overload]
        return result

    async def aclose(self) -> None:
        """Disconnect the broker."""
        await self._broker.stop()


async def _serve(config: dict[str, Any]) -> None:
    from faststream.redis import RedisBroker

    broker = RedisBroker(_url(config["redis"]))

    @broker.subscriber(list=config["list"])
    async def square(body: dict[str, int]) -> dict[str, int]:
        number = body["number"]
        return {"square": number * number}

    await broker.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    announce_ready()
    await stop.wait()
    await broker.stop()


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[2])))
