"""How deeply a received message may nest: the limit, the walks that measure a decoded message, the refusal.

The decoders themselves stop around 1,000 levels (msgpack's C stack, Python's recursion limit for JSON), but
everything that later walks a message in Python (validation, log censoring, the conversion of a reply that
echoes its request) would hit the recursion limit well before that, with a 200 kB traceback as the answer. A
message nested deeper than ``MAXIMUM_NESTING_DEPTH`` is therefore refused as soon as it is decoded.

The check must cost next to nothing for ordinary messages: a cheap upper bound on the depth is computed first
(the number of container headers in a small payload, or a walk over the objects' references done in C for a
big one) and the exact walk only runs when that bound is over the limit.

The check itself (``nesting_too_deep`` of :mod:`pysoa_like.core.message`) runs on every received request: its
cheap bound is there, the walks here.
"""

from __future__ import annotations

import gc
from typing import Any

from pysoa_like.common.transport.errors import InvalidMessageError

__all__ = [
    "MAXIMUM_NESTING_DEPTH",
    "MessageTooDeep",
    "container_depth_over",
    "reference_depth_over",
    "too_deep_message",
]


#: The deepest nesting of maps and lists a received message may have, counting the envelope map as 1 (so a job
#: request's action bodies may nest about 95 levels).
MAXIMUM_NESTING_DEPTH = 100

# How many objects of a level the reference walk asks for the referents of at once.
_REFERENT_SLICE = 1024


def reference_depth_over(message: Any, limit: int, budget: int) -> bool:
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


def container_depth_over(message: Any, limit: int) -> bool:
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


class MessageTooDeep(InvalidMessageError):
    """A received message nests maps and lists more deeply than :data:`MAXIMUM_NESTING_DEPTH` allows."""


def too_deep_message(limit: int = MAXIMUM_NESTING_DEPTH) -> str:
    """The error text for a message refused by :func:`nesting_too_deep`."""
    return f"The message nests maps and lists more than {limit} levels deep"
