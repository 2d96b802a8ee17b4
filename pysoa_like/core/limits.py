"""How deeply a received message may nest, checked right after it is decoded.

The decoders themselves stop around 1,000 levels (msgpack's C stack, Python's recursion limit for JSON), but
everything that later walks a message in Python (validation, log censoring, the conversion of a reply that
echoes its request) would hit the recursion limit well before that, with a 200 kB traceback as the answer. A
message nested deeper than :data:`MAXIMUM_NESTING_DEPTH` is therefore refused as soon as it is decoded.

The check must cost next to nothing for ordinary messages: a cheap upper bound on the depth is computed first
(the number of container headers in a small payload, or a walk over the objects' references done in C for a
big one) and the exact walk only runs when that bound is over the limit.
"""

from __future__ import annotations

import gc
from typing import Any

__all__ = ["MAXIMUM_NESTING_DEPTH", "nesting_too_deep", "too_deep_message"]

#: The deepest nesting of maps and lists a received message may have, counting the envelope map as 1 (so a job
#: request's action bodies may nest about 95 levels).
MAXIMUM_NESTING_DEPTH = 100

# Every byte that starts a MessagePack map or array (fixmap, fixarray, map16/32, array16/32): a message cannot
# nest deeper than it has such bytes.
_MSGPACK_CONTAINER_BYTES = bytes(range(0x80, 0xA0)) + b"\xdc\xdd\xde\xdf"
# How many objects of a level the reference walk asks for the referents of at once.
_REFERENT_SLICE = 1024
# Above this size, counting header bytes costs more than walking the decoded objects.
_COUNTING_LIMIT_BYTES = 16384


def _container_bound(payload: Any, mime_type: str | None) -> int | None:
    """An upper bound on the nesting of a small payload from its bytes alone, or None when unknown."""
    if len(payload) > _COUNTING_LIMIT_BYTES:
        return None
    data = payload
    if isinstance(data, memoryview):
        data = data.obj if isinstance(data.obj, bytes | bytearray) else bytes(data)
    if mime_type == "application/msgpack":
        return len(data) - len(data.translate(None, _MSGPACK_CONTAINER_BYTES))
    if mime_type == "application/json":
        return int(data.count(b"[") + data.count(b"{"))
    return None


def _reference_depth_over(message: Any, limit: int, budget: int) -> bool:
    """Whether the chain of references from ``message`` is longer than ``limit`` (an upper bound of nesting).

    Each level is one C call: strings and numbers have no references, so only containers (and the few objects
    such as time zones that ext types carry) lead further. An instance of a heap type also refers to its type,
    whose references reach the whole interpreter (on Python 3.13 even ``datetime.timezone.utc`` is one): once
    the levels hold more references than the payload has bytes (a decoded message cannot), the walk has left
    the message and the answer is "maybe", for the exact walk to settle.
    """
    level: list[Any] = [message]
    seen = 0
    for _ in range(limit):
        following: list[Any] = []
        # A slice at a time, so that leaving the message costs at most one slice's references.
        for start in range(0, len(level), _REFERENT_SLICE):
            referents = gc.get_referents(*level[start : start + _REFERENT_SLICE])
            seen += len(referents)
            if seen > budget:
                return True
            following += referents
        if not following:
            return False
        level = following
    return True


def _container_depth_over(message: Any, limit: int) -> bool:
    """Whether maps and lists in ``message`` nest deeper than ``limit`` (the exact, slower walk)."""
    stack: list[tuple[Any, int]] = [(message, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if type(value) is dict else value
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


def nesting_too_deep(message: Any, payload: Any, mime_type: str | None, limit: int = MAXIMUM_NESTING_DEPTH) -> bool:
    """Whether a decoded message nests maps and lists deeper than ``limit`` levels.

    Args:
        message: The decoded message.
        payload: The bytes it was decoded from (``bytes``, ``bytearray`` or ``memoryview``).
        mime_type: The serializer's MIME type (None or another type: no byte-level bound).
        limit: The deepest nesting allowed (the message itself is level 1).
    """
    if len(payload) <= limit:
        return False
    bound = _container_bound(payload, mime_type)
    if bound is not None and bound <= limit:
        return False
    if type(message) is not dict and type(message) is not list:
        return False
    return _reference_depth_over(message, limit, len(payload)) and _container_depth_over(message, limit)


def too_deep_message(limit: int = MAXIMUM_NESTING_DEPTH) -> str:
    """The error text for a message refused by :func:`nesting_too_deep`."""
    return f"The message nests maps and lists more than {limit} levels deep"
