"""The nesting bound checked on every decoded message: exact at the limit, whatever the serializer."""

from __future__ import annotations

import datetime
import decimal
import json
from typing import Any

import msgpack  # type: ignore[import-untyped,unused-ignore]
import pytest

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.core.message import nesting_too_deep
from pysoa_like.core.nesting import MAXIMUM_NESTING_DEPTH, too_deep_message


def _nested(depth: int, leaf: Any = 1) -> Any:
    """Maps and lists alternating, ``depth`` levels deep counting the outermost."""
    value: Any = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("mime", ["application/msgpack", "application/json", "application/x-other"])
@pytest.mark.parametrize("pad", [0, 40_000], ids=["small", "big"])
def test_depth_is_allowed_up_to_the_limit_and_refused_beyond(mime: str, pad: int) -> None:
    """A message exactly at the limit passes and one level more is refused, small or big, for any serializer."""
    for depth, expected in ((MAXIMUM_NESTING_DEPTH, False), (MAXIMUM_NESTING_DEPTH + 1, True)):
        message = {"pad": "p" * pad, "v": _nested(depth - 1)}
        if mime == "application/json":
            payload = json.dumps(message).encode()
        else:
            payload = msgpack.packb(message, use_bin_type=True)
        assert nesting_too_deep(message, payload, mime) is expected
        assert nesting_too_deep(message, memoryview(bytearray(payload)), mime) is expected


def test_wide_shallow_messages_with_ext_values_pass() -> None:
    """Thousands of maps side by side, dates, times and decimals are not mistaken for depth."""
    row = {"when": datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc), "d": decimal.Decimal("1.5")}
    message = {"rows": [dict(row, i=i) for i in range(5000)]}
    payload = MsgpackSerializer().dict_to_blob(message)
    assert not nesting_too_deep(message, payload, "application/msgpack")


class _Money:
    """A value of a user's ext type: an instance of a class written in Python (a heap type)."""

    def __init__(self, cents: int) -> None:
        self.cents = cents


def test_values_of_heap_types_are_not_followed_into_the_interpreter() -> None:
    """A big message holding instances of a Python class (which refer to their class, and it to everything) is
    checked in a few levels, on every Python (Python 3.13 also makes timezone.utc such an instance)."""
    message = {
        "rows": [{"price": _Money(i), "when": datetime.datetime.now(datetime.timezone.utc)} for i in range(5000)]
    }
    assert not nesting_too_deep(message, b"\x80" * 20_000, None)


def test_the_error_text_names_the_limit() -> None:
    """The refusal says how deep a message may nest."""
    assert str(MAXIMUM_NESTING_DEPTH) in too_deep_message()
