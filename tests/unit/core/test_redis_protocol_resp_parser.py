"""The core's incremental RESP parser: bytes in, replies out, however the bytes are split."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.core.redis_protocol import (
    _NOT_SMALL,  # (to compare the shortcut with the general parser)
    NEED_DATA,
    RespError,
    RespParser,
    RespProtocolError,
)

_BIG = bytes(range(256)) * 1000  # 256,000 bytes: bigger than the parser's buffer

# Replies Redis sends to the transport's commands (PROTOCOL.md section 3), then every other RESP2/RESP3 type.
_VECTORS: list[tuple[bytes, Any]] = [
    (b"$-1\r\n", None),  # a push that went through (the send script returns nil... or 1)
    (b":1\r\n", 1),  # the send script's count
    (b"-queue full\r\n", RespError("queue full")),  # the send script's refusal
    (b"*-1\r\n", None),  # BLPOP timed out
    (b"*2\r\n$18\r\npysoa:service.echo\r\n$5\r\nhello\r\n", [b"pysoa:service.echo", b"hello"]),  # BLPOP
    (b"*3\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n", [b"a", None, b""]),  # LPOP key count
    (b"+OK\r\n", b"OK"),
    (b"+QUEUED\r\n", b"QUEUED"),
    (b"*2\r\n:1\r\n*1\r\n:2\r\n", [1, [2]]),  # EXEC's replies, nested
    (b"*0\r\n", []),
    (b"_\r\n", None),
    (b"%1\r\n$1\r\nk\r\n:1\r\n", {b"k": 1}),
    (b"~2\r\n:1\r\n:2\r\n", [1, 2]),
    (b"#t\r\n", True),
    (b"#f\r\n", False),
    (b",1.5\r\n", 1.5),
    (b"(123456789012345678901234567890\r\n", 123456789012345678901234567890),
    (b"=7\r\ntxt:abc\r\n", b"abc"),
    (b"!9\r\nERR oops!\r\n", RespError("ERR oops!")),
    (b">2\r\n$7\r\nmessage\r\n:1\r\n:7\r\n", 7),  # a push message is skipped: the reply is what follows
    (b"|1\r\n+ttl\r\n:3\r\n:8\r\n", 8),  # an attribute is skipped too
    (b"*2\r\n|1\r\n+a\r\n:1\r\n:2\r\n:3\r\n", [2, 3]),  # ... also inside an array
    (b"$%d\r\n%b\r\n" % (len(_BIG), _BIG), _BIG),
    (b"*2\r\n$1\r\nk\r\n$%d\r\n%b\r\n" % (len(_BIG), _BIG), [b"k", _BIG]),  # BLPOP of a big message
    (b"$70000\r\n" + b"q" * 70_000 + b"\r\n", b"q" * 70_000),
]
_STREAM = b"".join(data for data, _ in _VECTORS)


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, RespError):
        return type(got) is RespError and got.text == expected.text and got.code == expected.code
    return bool(got == expected)


def _parse(data: bytes, step: int, count: int) -> list[Any]:
    """Receive ``data`` ``step`` bytes at a time into the parser's buffers, as a driver does."""
    parser, position, replies = RespParser(), 0, []
    while len(replies) < count:
        reply = parser.next_reply()
        if reply is NEED_DATA:
            target = parser.recv_buffer()
            size = min(step, len(target), len(data) - position)
            assert size > 0, "the parser wants more bytes than the stream has"
            target[:size] = data[position : position + size]
            position += size
            parser.received(size)
            continue
        replies.append(reply)
    assert position == len(data) and not parser.has_buffered
    return replies


@pytest.mark.parametrize("step", [1, 2, 3, 7, 4096, 65536, 1 << 20])
def test_every_reply_comes_out_whole_and_in_order_however_the_bytes_are_split(step: int) -> None:
    replies = _parse(_STREAM, step, len(_VECTORS))
    for got, (data, expected) in zip(replies, _VECTORS, strict=True):
        assert _same(got, expected), data[:40]


def _receiver(data: bytes, step: int, calls: list[int] | None = None) -> Callable[[memoryview], int]:
    """``recv_into`` over ``data``: at most ``step`` bytes a call, 0 once all is out; each count noted in ``calls``."""
    stream = io.BytesIO(data)

    def recv_into(target: memoryview) -> int:
        count = stream.readinto(target[:step])
        if calls is not None:
            calls.append(count)
        return count

    return recv_into


@pytest.mark.parametrize("step", [1, 3, 4096, 1 << 20])
def test_read_reply_receives_only_what_each_reply_still_needs(step: int) -> None:
    """read_reply hands out every reply whole, in order, receiving through the given function as it needs to."""
    parser, recv_into = RespParser(), _receiver(_STREAM, step)
    replies = [parser.read_reply(recv_into) for _vector in _VECTORS]
    assert all(_same(got, expected) for got, (_data, expected) in zip(replies, _VECTORS, strict=True))
    assert parser.read_reply(recv_into) is NEED_DATA  # the peer closed: nothing more comes


def test_read_reply_parses_a_buffered_reply_without_receiving() -> None:
    """Two replies that came in one receive cost one receive: the second is parsed from the buffer."""
    calls: list[int] = []
    parser, recv_into = RespParser(), _receiver(b"+OK\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n", 1 << 20, calls)
    assert parser.read_reply(recv_into) == b"OK"
    assert parser.read_reply(recv_into) == [b"k", b"v"]
    assert len(calls) == 1


def test_read_reply_receives_a_big_bulk_string_in_place() -> None:
    """A bulk string bigger than the buffer comes out as the bytearray it was received into."""
    parser = RespParser()
    reply = parser.read_reply(_receiver(b"$%d\r\n%b\r\n" % (len(_BIG), _BIG), 50_000))
    assert type(reply) is bytearray and reply == _BIG


@pytest.mark.parametrize("step", [1, 3, 4096])
def test_read_replies_reads_the_replies_of_one_write_in_one_go(step: int) -> None:
    """read_replies fills the list with the number of replies asked for, whole and in order, however they come."""
    parser, recv_into = RespParser(), _receiver(b":1\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n+OK\r\n", step)
    replies: list[Any] = []
    assert parser.read_replies(recv_into, replies, 2)
    assert replies == [1, [b"k", b"v"]]
    assert parser.read_reply(recv_into) == b"OK"  # the next reply is left for the next read


def test_read_replies_reads_nothing_when_the_list_holds_the_count_already() -> None:
    """A list already holding ``count`` replies is complete: nothing more is parsed or received."""
    calls: list[int] = []
    parser, recv_into = RespParser(), _receiver(b":2\r\n", 1 << 20, calls)
    replies: list[Any] = [1]
    assert parser.read_replies(recv_into, replies, 1)
    assert replies == [1] and calls == []


def test_read_replies_stops_after_an_error_reply_and_reads_on_when_asked() -> None:
    """An error reply ends the read (a refused push's wait may be long to answer); the same list reads on."""
    calls: list[int] = []
    parser, recv_into = RespParser(), _receiver(b"-queue full\r\n*-1\r\n", 1 << 20, calls)
    replies: list[Any] = []
    assert parser.read_replies(recv_into, replies, 2)
    assert len(replies) == 1 and isinstance(replies[0], RespError) and replies[0].text == "queue full"
    assert parser.read_replies(recv_into, replies, 2)
    assert replies[1] is None and len(calls) == 1


def test_read_replies_keeps_what_it_read_when_a_receive_fails() -> None:
    """A receive that raises (a timeout) leaves the replies read so far in the list, and the read can go on."""
    chunks = [b":1\r\n:2", None, b"\r\n"]

    def recv_into(target: memoryview) -> int:
        chunk = chunks.pop(0)
        if chunk is None:
            raise TimeoutError
        target[: len(chunk)] = chunk
        return len(chunk)

    parser, replies = RespParser(), []
    with pytest.raises(TimeoutError):
        parser.read_replies(recv_into, replies, 2)
    assert replies == [1]
    assert parser.read_replies(recv_into, replies, 2) and replies == [1, 2]


def test_read_replies_says_when_the_peer_closed_first() -> None:
    parser, replies = RespParser(), []
    assert not parser.read_replies(_receiver(b":1\r\n", 1 << 20), replies, 2)
    assert replies == [1]


def test_feed_takes_bytes_in_any_pieces() -> None:
    parser = RespParser()
    replies: list[Any] = []
    for start in range(0, len(_STREAM), 5000):
        parser.feed(_STREAM[start : start + 5000])
        while (reply := parser.next_reply()) is not NEED_DATA:
            replies.append(reply)
    assert len(replies) == len(_VECTORS)
    assert all(_same(got, expected) for got, (_data, expected) in zip(replies, _VECTORS, strict=True))


def test_a_bulk_string_bigger_than_the_buffer_is_received_in_place() -> None:
    """The driver receives straight into the reply's own bytearray: no copy after the first bytes."""
    parser = RespParser()
    parser.feed(b"$%d\r\n" % len(_BIG) + _BIG[:100])
    assert parser.next_reply() is NEED_DATA
    target = parser.recv_buffer()
    assert len(target) == len(_BIG) - 100  # exactly the rest of the string
    target[:] = _BIG[100:]
    parser.received(len(target))
    parser.feed(b"\r\n")
    reply = parser.next_reply()
    assert type(reply) is bytearray and reply == _BIG
    assert type(_parse(b"$2\r\nhi\r\n", 65536, 1)[0]) is bytes


def test_error_replies_carry_their_code() -> None:
    (noscript,) = _parse(b"-NOSCRIPT No matching script. Please use EVAL.\r\n", 3, 1)
    assert noscript.code == "NOSCRIPT" and noscript.text.endswith("EVAL.")


def test_big_map_keys_are_hashable() -> None:
    key = b"k" * 70_000
    assert _parse(b"%%1\r\n$%d\r\n%b\r\n:1\r\n" % (len(key), key), 65536, 1) == [{key: 1}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"?1\r\n", "unexpected reply type"),
        (b"\r\n", "empty reply line"),
        (b"$12x\r\nabc\r\n", "not a number"),
        (b"*2\r\n:1\r\n:zz\r\n", "not a number"),
        (b":1x\r\n", "not a number"),
        (b"*1\r\n$zz\r\nab\r\n", "not a number"),
        (b"*2\r\n$1\r\na\r\n?\r\n", "unexpected reply type"),
        (b",x\r\n", "not a double"),
    ],
)
def test_what_is_not_resp_is_a_protocol_error(data: bytes, message: str) -> None:
    parser = RespParser()
    parser.feed(data)
    with pytest.raises(RespProtocolError, match=message):
        parser.next_reply()


def test_a_line_longer_than_the_buffer_is_a_protocol_error() -> None:
    parser = RespParser()
    parser.feed(b"+" + b"x" * 70_000 + b"\r\n")
    with pytest.raises(RespProtocolError, match="longer than 64 KiB"):
        parser.next_reply()


_HUGE = b"h" * 200_000
# A big bulk string, a big array (as a big LPOP ... count reply), then a small reply behind them.
_HUGE_STREAM = (
    b"$%d\r\n%b\r\n" % (len(_HUGE), _HUGE)
    + b"*3000\r\n"
    + b"".join(b"$40\r\n%040d\r\n" % index for index in range(3000))
    + b":7\r\n"
)


@pytest.mark.parametrize("chunk", [len(_HUGE_STREAM), 1, 4099, 65535, 65537, 150_001])
def test_feed_takes_more_bytes_than_the_buffer_holds_between_replies(chunk: int) -> None:
    """Feeding far more than 64 KiB before asking for replies loses nothing (one chunk, or odd-sized ones)."""
    parser = RespParser()
    step = chunk if chunk > 1 else 997
    for start in range(0, len(_HUGE_STREAM), step):
        parser.feed(_HUGE_STREAM[start : start + step])
    replies = []
    while (reply := parser.next_reply()) is not NEED_DATA:
        replies.append(reply)
    assert replies[0] == _HUGE
    assert replies[1] == [b"%040d" % index for index in range(3000)]
    assert replies[2] == 7 and len(replies) == 3 and not parser.has_buffered


def test_reset_forgets_a_half_received_reply() -> None:
    parser = RespParser()
    parser.feed(b"*2\r\n:1\r\n")
    assert parser.next_reply() is NEED_DATA and parser.has_buffered
    parser.reset()
    parser.feed(b":5\r\n")
    assert parser.next_reply() == 5


def test_receiving_into_the_buffer_while_fed_bytes_wait_is_refused_not_reordered() -> None:
    """Bytes fed beyond the buffer wait their turn; receiving more through recv_buffer then would put them first.

    So recv_buffer refuses while fed bytes wait, and works again once the replies before them are parsed.
    """
    parser = RespParser(buffer_bytes=64)
    parser.feed(b":1\r\n" * 40)  # 160 bytes: more than the buffer holds
    with pytest.raises(RuntimeError, match="feed"):
        parser.recv_buffer()
    replies = []
    while (reply := parser.next_reply()) is not NEED_DATA:
        replies.append(reply)
    assert replies == [1] * 40 and not parser.has_buffered
    target = parser.recv_buffer()
    target[:4] = b":2\r\n"
    parser.received(4)
    assert parser.next_reply() == 2


@pytest.mark.parametrize("cut", range(1, 40))
def test_a_small_reply_cut_anywhere_comes_out_whole_once_the_rest_is_received(cut: int) -> None:
    """A reply received in two parts (a BLPOP's array, then the next one) is handed out once, whole, after the rest."""
    data = b"*2\r\n$18\r\npysoa:service.echo\r\n$5\r\nhello\r\n:1\r\n"
    parser = RespParser()
    parser.feed(data[:cut])
    replies = []
    while (reply := parser.next_reply()) is not NEED_DATA:
        replies.append(reply)
    parser.feed(data[cut:])
    while (reply := parser.next_reply()) is not NEED_DATA:
        replies.append(reply)
    assert replies == [[b"pysoa:service.echo", b"hello"], 1]


# The small replies of a call's path (a push's, a wait's, a drain's, a transaction's steps), one after another.
_SMALL_STREAM: list[tuple[bytes, Any]] = [
    (b":1\r\n", 1),
    (b"*2\r\n$18\r\npysoa:service.echo\r\n$5\r\nhello\r\n", [b"pysoa:service.echo", b"hello"]),
    (b"$-1\r\n", None),
    (b"*3\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n", [b"a", None, b""]),
    (b"+OK\r\n", b"OK"),
    (b"*-1\r\n", None),
    (b"$4\r\n\r\n\r\n\r\n", b"\r\n\r\n"),
    (b":-42\r\n", -42),
    (b"*0\r\n", []),
]


@pytest.mark.parametrize("cut", range(1, len(b"".join(data for data, _ in _SMALL_STREAM))))
def test_read_replies_of_small_replies_cut_at_any_byte_come_out_whole(cut: int) -> None:
    """The small replies of one write received in two parts, cut at any byte, are read whole and in order."""
    data = b"".join(data for data, _ in _SMALL_STREAM)
    pieces = [data[:cut], data[cut:]]

    def recv_into(target: memoryview) -> int:
        piece = pieces[0] if pieces else b""
        count = min(len(piece), len(target))
        target[:count] = piece[:count]
        if pieces:
            pieces[0] = piece[count:]
            if not pieces[0]:
                pieces.pop(0)
        return count

    parser, replies = RespParser(), list[Any]()
    assert parser.read_replies(recv_into, replies, len(_SMALL_STREAM))
    assert replies == [expected for _, expected in _SMALL_STREAM]
    assert not parser.has_buffered


def _random_reply(rng: random.Random) -> tuple[bytes, Any]:
    """A random reply and its value: mostly the small kinds (with their edge cases), some of every other kind."""
    kind = rng.randrange(9)
    if kind == 0:
        number = rng.choice([0, 1, -1, rng.randrange(-(10**18), 10**18)])
        return b":%d\r\n" % number, number
    if kind == 1:
        text = bytes(rng.choice(b"abcXYZ019 -_:") for _ in range(rng.randrange(12)))
        return b"+%b\r\n" % text, text
    if kind in (2, 3):
        value = _random_bulk(rng)
        return _bulk(value), value
    if kind in (4, 5):
        if rng.random() < 0.1:
            return b"*-1\r\n", None
        items = [_random_bulk(rng) for _ in range(rng.randrange(5))]
        return b"*%d\r\n%b" % (len(items), b"".join(_bulk(item) for item in items)), items
    if kind == 6:
        message = "ERR " + "".join(rng.choice("abc ") for _ in range(rng.randrange(10)))
        return b"-%b\r\n" % message.encode(), RespError(message)
    if kind == 7:
        inner = [rng.randrange(100) for _ in range(rng.randrange(3))]
        nested = b"*%d\r\n" % len(inner) + b"".join(b":%d\r\n" % number for number in inner)
        return b"*2\r\n:7\r\n" + nested, [7, inner]  # an array holding more than bulk strings
    data, value = rng.choice(_VECTORS[10:21])  # RESP3 types
    return data, value


def _random_bulk(rng: random.Random) -> bytes | None:
    if rng.random() < 0.1:
        return None
    size = rng.choice([0, 1, 2, rng.randrange(300), rng.randrange(20000)])
    return bytes(rng.choice(b"ab\r\n\x00\xff$*:") for _ in range(size))


def _bulk(value: bytes | None) -> bytes:
    return b"$-1\r\n" if value is None else b"$%d\r\n%b\r\n" % (len(value), value)


def _read_all(data: bytes, steps: random.Random, count: int) -> list[Any]:
    """read_replies over ``data`` received in pieces of random sizes (1 byte to 64 KiB)."""
    stream = io.BytesIO(data)
    parser, replies = RespParser(), list[Any]()
    while len(replies) < count:
        assert parser.read_replies(
            lambda target: stream.readinto(target[: steps.choice([1, 2, 5, 100, 65536])]), replies, count
        )
    assert not parser.has_buffered
    return replies


@pytest.mark.parametrize("seed", range(20))
def test_small_replies_parse_as_the_general_parser_parses_them(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random streams of replies (seeded), received in random pieces, give the values they encode, with the
    small-reply shortcut and without it (every reply then goes through the general, incremental parser)."""
    rng = random.Random(seed)
    vectors = [_random_reply(rng) for _ in range(200)]
    data = b"".join(data for data, _ in vectors)
    with_shortcut = _read_all(data, random.Random(seed), len(vectors))
    monkeypatch.setattr(RespParser, "_small_reply", lambda _parser: _NOT_SMALL)
    general = _read_all(data, random.Random(seed + 1000), len(vectors))
    for shortcut_reply, general_reply, (encoded, expected) in zip(with_shortcut, general, vectors, strict=True):
        assert _same(shortcut_reply, expected) and _same(general_reply, expected), encoded[:60]
