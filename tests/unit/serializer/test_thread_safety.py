"""One MsgpackSerializer can be used from several threads at once."""

from __future__ import annotations

import datetime
import threading
from typing import Any

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.common.serializer.errors import InvalidField


def test_concurrent_packing_from_several_threads_is_correct() -> None:
    """Threads sharing one serializer each get exactly their own bytes, even with failures interleaved."""
    serializer = MsgpackSerializer()
    expected = {n: MsgpackSerializer().dict_to_blob(_message(n)) for n in range(6)}
    problems: list[str] = []
    start = threading.Barrier(6)

    def work(n: int) -> None:
        start.wait()
        for i in range(1500):
            if i % 10 == 0:
                try:
                    serializer.dict_to_blob({"bad": {n}})
                except InvalidField:
                    pass
                else:
                    problems.append(f"thread {n}: a set was encoded")
            blob = serializer.dict_to_blob(_message(n))
            if blob != expected[n] or serializer.blob_to_dict(blob) != _message(n):
                problems.append(f"thread {n}, iteration {i}: wrong bytes")
                return

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []


def _message(n: int) -> dict[str, Any]:
    return {
        "thread": n,
        "payload": "x" * (n * 100),
        "when": datetime.datetime(2020, 1, n + 1, tzinfo=datetime.timezone.utc),
        "items": list(range(n * 10)),
    }
