"""The lanes' RESP reader (``ReplyReader`` in ``redis_gateway/_lanes.py``), fed replies in pieces as small as one byte.

Redis cannot be made to split its replies at chosen places, so these tests give the reader a socket stand-in
that hands out bytes a few at a time; the reader is exercised against a real Redis in
``tests/integration/redis_transport/test_resp_reader_redis.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from pysoa_like.common.transport.redis_gateway._lanes import ReplyReader


class _Trickle:
    """A socket whose recv_into hands out at most ``step`` bytes of ``data`` per call."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.position, self.calls = data, step, 0, 0

    def recv_into(self, target: memoryview) -> int:
        self.calls += 1
        count = min(self.step, len(target), len(self.data) - self.position)
        target[:count] = self.data[self.position : self.position + count]
        self.position += count
        return count


class _Connection:
    def __init__(self, sock: Any) -> None:
        self.sock, self.endpoint = sock, "127.0.0.1:1"


def _read_all(data: bytes, step: int, replies: int) -> list[Any]:
    reader = ReplyReader(_Connection(_Trickle(data, step)))
    return [reader.read() for _ in range(replies)]


_BIG = bytes(range(256)) * 1000  # 256,000 bytes: bigger than the reader's buffer
_STREAM = (
    b"$-1\r\n"
    b"*-1\r\n"
    b"_\r\n"
    b":42\r\n"
    b"+OK\r\n"
    b"*2\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"
    b"*3\r\n$1\r\na\r\n$0\r\n\r\n$%d\r\n%b\r\n"
    b"$%d\r\n%b\r\n"
    b"%%1\r\n+k\r\n:1\r\n"
    b"~2\r\n:1\r\n:2\r\n"
    b"#t\r\n"
    b",1.5\r\n"
    b"(123456789012345678901234567890\r\n"
    b"=7\r\ntxt:abc\r\n"
    b">2\r\n+invalidate\r\n*0\r\n:7\r\n"
    b"|1\r\n+ttl\r\n:3\r\n:8\r\n"
) % (len(_BIG), _BIG, 70_000, b"q" * 70_000)
_EXPECTED = [
    None,
    None,
    None,
    42,
    b"OK",
    [b"key", b"va\r\nl"],
    [b"a", b"", _BIG],
    b"q" * 70_000,
    {b"k": 1},
    [1, 2],
    True,
    1.5,
    123456789012345678901234567890,
    b"abc",
    7,  # the push message before it is skipped
    8,  # the attribute before it is skipped
]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 4096, 65536, 1 << 20])
def test_every_reply_type_read_whatever_the_pieces(step: int) -> None:
    """Replies come out whole and in order however the bytes are split, big bulk strings included."""
    assert _read_all(_STREAM, step, len(_EXPECTED)) == _EXPECTED


def test_big_bulk_strings_are_bytearrays_received_in_place() -> None:
    """A bulk string bigger than the buffer is a bytearray; a small one is bytes."""
    small, big = _read_all(b"$2\r\nhi\r\n$%d\r\n%b\r\n" % (len(_BIG), _BIG), 65536, 2)
    assert type(small) is bytes and type(big) is bytearray and big == _BIG


def test_errors_are_returned_as_redis_py_exceptions() -> None:
    """Error replies become redis-py's exception objects (NOSCRIPT -> NoScriptError), returned not raised."""
    noscript, other, blob = _read_all(b"-NOSCRIPT No matching script\r\n-queue full\r\n!5\r\nERR x\r\n", 3, 3)
    assert isinstance(noscript, redis.exceptions.NoScriptError)
    assert type(other) is redis.ResponseError and str(other) == "queue full"
    assert isinstance(blob, redis.ResponseError) and "x" in str(blob)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"$5\r\nab", "Connection closed by server"),
        (b"", "Connection closed by server"),
        (b"?1\r\n", "unexpected reply type"),
        (b"\r\n", "empty reply line"),
        (b"+" + b"x" * 70_000 + b"\r\n", "longer than 64 KiB"),
        (b"$12x\r\nabc\r\n", "Protocol error"),
        (b"*2\r\n:1\r\n:zz\r\n", "Protocol error"),
    ],
    ids=["cut short", "nothing", "unknown type", "empty line", "endless line", "bad length", "bad integer"],
)
def test_broken_streams_raise_connection_errors(data: bytes, message: str) -> None:
    """A cut or garbled stream is a ConnectionError (the lane then closes the connection)."""
    with pytest.raises(redis.ConnectionError, match=message):
        _read_all(data, 4096, 1)


def test_socket_timeout_and_os_errors_become_redis_errors() -> None:
    class Failing:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def recv_into(self, target: memoryview) -> int:
            raise self.error

    with pytest.raises(redis.TimeoutError):
        ReplyReader(_Connection(Failing(TimeoutError("timed out")))).read()
    with pytest.raises(redis.ConnectionError, match=r"127\.0\.0\.1:1"):
        ReplyReader(_Connection(Failing(ConnectionResetError("reset")))).read()


def test_a_new_socket_drops_what_was_buffered_for_the_old_one() -> None:
    """After a reconnection, bytes buffered from the old socket are not read as the new socket's replies."""
    connection = _Connection(_Trickle(b":1\r\n:2\r\n", 65536))
    reader = ReplyReader(connection)
    assert reader.read() == 1  # ":2" is buffered now
    connection.sock = _Trickle(b":3\r\n", 65536)
    assert reader.read() == 3
    connection.sock = None
    with pytest.raises(redis.ConnectionError, match="closed"):
        reader.read()


def test_reset_forgets_buffered_bytes() -> None:
    sock = _Trickle(b":1\r\n:2\r\n", 65536)
    connection = _Connection(sock)
    reader = ReplyReader(connection)
    assert reader.read() == 1
    reader.reset()
    connection.sock = _Trickle(b":5\r\n", 65536)
    assert reader.read() == 5


@pytest.mark.parametrize(
    ("line", "error_class"),
    [
        (b"-LOADING Redis is loading the dataset in memory", redis.exceptions.BusyLoadingError),
        (b"-NOAUTH Authentication required.", redis.exceptions.AuthenticationError),
    ],
)
def test_errors_that_redis_py_counts_as_connection_errors_are_raised(line: bytes, error_class: type) -> None:
    """LOADING, NOAUTH, ...: the command did not run and the connection is unusable, so they are raised."""
    assert issubclass(error_class, redis.ConnectionError)
    with pytest.raises(error_class):
        _read_all(line + b"\r\n", 4096, 1)


def test_a_closed_connection_is_reported_after_a_reset() -> None:
    """After reset(), a connection without a socket is a ConnectionError (not an AttributeError)."""
    connection = _Connection(_Trickle(b":1\r\n", 65536))
    reader = ReplyReader(connection)
    reader.reset()
    connection.sock = None
    with pytest.raises(redis.ConnectionError, match="closed"):
        reader.read()


def test_big_map_keys_are_hashable() -> None:
    """A RESP3 map key received in place (a bytearray) is made bytes so it can be a dict key."""
    key = b"k" * 70_000
    (reply,) = _read_all(b"%%1\r\n$%d\r\n%b\r\n:1\r\n" % (len(key), key), 65536, 1)
    assert reply == {key: 1}


class _TimesOut:
    """A socket that times out ``timeouts`` times, then hands out ``data``; records each settimeout."""

    def __init__(self, timeouts: int, data: bytes, error: Exception | None = None) -> None:
        self.timeouts, self.data, self.error = timeouts, data, error
        self.set_to: list[float] = []

    def settimeout(self, seconds: float) -> None:
        if self.error is not None:
            raise self.error
        self.set_to.append(seconds)

    def recv_into(self, target: memoryview) -> int:
        if self.timeouts:
            self.timeouts -= 1
            raise TimeoutError("timed out")
        target[: len(self.data)] = self.data
        return len(self.data)


def test_a_receive_that_times_out_is_tried_again_until_the_read_deadline() -> None:
    sock = _TimesOut(3, b"$2\r\nok\r\n")
    reader = ReplyReader(_Connection(sock))
    reader.read_deadline = time.monotonic() + 30
    assert reader.read() == b"ok"
    assert len(sock.set_to) == 3 and all(0 < seconds <= 30 for seconds in sock.set_to)
    assert reader.timeout_extended
    reader.reset()
    assert reader.read_deadline == 0.0 and not reader.timeout_extended


def test_without_a_read_deadline_or_after_it_a_timeout_is_raised_at_once() -> None:
    for deadline in (0.0, time.monotonic() - 1):
        sock = _TimesOut(1, b"+OK\r\n")
        reader = ReplyReader(_Connection(sock))
        reader.read_deadline = deadline
        with pytest.raises(redis.TimeoutError):
            reader.read()
        assert sock.set_to == [] and not reader.timeout_extended


def test_a_socket_closed_while_extending_its_timeout_is_a_connection_error() -> None:
    reader = ReplyReader(_Connection(_TimesOut(1, b"+OK\r\n", OSError(9, "Bad file descriptor"))))
    reader.read_deadline = time.monotonic() + 30
    with pytest.raises(redis.ConnectionError, match="Bad file descriptor"):
        reader.read()


def test_a_push_reply_is_read_as_its_outcome() -> None:
    """``read(push=True)``: a send script's reply is None when pushed, else what the refusal means."""
    from pysoa_like.common.transport.redis_gateway._lanes import QueueFullError

    data = b":1\r\n-queue full\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:1\r\n"
    reader = ReplyReader(_Connection(_Trickle(data, 3)))
    assert reader.read(push=True) is None
    assert isinstance(reader.read(push=True), QueueFullError)
    refused = reader.read(push=True)
    assert isinstance(refused, redis.ResponseError) and "WRONGTYPE" in str(refused)
    assert reader.read() == 1  # an ordinary read still gives the reply itself


@pytest.mark.parametrize("step", [1, 3, 4096])
def test_the_replies_of_one_write_are_read_in_one_go_up_to_an_error(step: int) -> None:
    """``read_replies``: replies as ``read`` gives them, until the count or an error reply (mapped to redis-py's)."""
    data = b":1\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n-NOSCRIPT No matching script\r\n+OK\r\n"
    reader = ReplyReader(_Connection(_Trickle(data, step)))
    replies: list[Any] = []
    reader.read_replies(replies, 2)
    assert replies == [1, [b"k", b"v"]]
    reader.read_replies(replies, 4)  # stops after the error reply
    assert len(replies) == 3 and isinstance(replies[2], redis.exceptions.NoScriptError)
    reader.read_replies(replies, 4)  # the same list reads on
    assert replies[3] == b"OK"


def test_a_connection_error_reply_among_a_writes_replies_is_raised() -> None:
    """An error reply that means the connection is unusable (``LOADING``) is raised, as ``read`` raises it."""
    reader = ReplyReader(_Connection(_Trickle(b":1\r\n-LOADING Redis is loading the dataset in memory\r\n", 64)))
    with pytest.raises(redis.exceptions.BusyLoadingError):
        reader.read_replies([], 2)
