"""Tests of Redis host selection: reply key hashing and request round-robin (PROTOCOL.md section 2)."""

from __future__ import annotations

import itertools
import random
import zlib

import pytest

from pysoa_like.common.transport.redis_gateway.protocol import (
    choose_host_index,
    make_request_host_cycle,
    reply_key_host_index,
)
from pysoa_like.core.keys import HostRing

KEY_ECHO = "pysoa:service.echo.0425470283144176877966b684ee7d10!7fd60aa24b80"
KEY_USER = "pysoa:service.user.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!000000000001"
# A key whose CRC-32 low 12 bits are 2048, where the float and integer formulas first disagree (N = 186).
KEY_LOW12_2048 = "pysoa:service.echo.000000000000000000000000000040f8!000000000001"


@pytest.mark.parametrize(
    ("key", "crc", "low12", "indexes"),
    [
        (KEY_ECHO, 0x8CDB0A56, 2646, [0, 1, 1, 2, 3]),
        (KEY_USER, 0x0B14C506, 1286, [0, 0, 0, 1, 1]),
    ],
)
def test_reply_key_hash_vectors(key: str, crc: int, low12: int, indexes: list[int]) -> None:
    """The PROTOCOL.md hash table holds for N = 1..5."""
    assert zlib.crc32(key.encode()) == crc
    assert crc & 0xFFF == low12
    assert [reply_key_host_index(key, n) for n in range(1, 6)] == indexes


def test_reply_key_hash_uses_float_formula_at_186() -> None:
    """At N = 186 and low bits 2048, PySOA's float formula gives 92 where integer math would give 93."""
    assert zlib.crc32(KEY_LOW12_2048.encode()) & 0xFFF == 2048
    assert 2048 * 186 // 4096 == 93
    assert reply_key_host_index(KEY_LOW12_2048, 186) == 92
    assert reply_key_host_index(KEY_LOW12_2048, 185) == 2048 * 185 // 4096


def test_reply_key_hash_hashes_utf8() -> None:
    """Non-ASCII keys are hashed as UTF-8 and always land inside the ring."""
    key = "pysoa:service.caf\u00e9.x!1"
    expected = int((zlib.crc32(key.encode("utf-8")) & 0xFFF) / (4096.0 / 7))
    assert reply_key_host_index(key, 7) == expected
    assert all(0 <= reply_key_host_index(f"k{i}!", n) < n for i in range(200) for n in (1, 2, 3, 186, 500))


def test_host_count_must_be_positive() -> None:
    """A ring of zero hosts is refused."""
    with pytest.raises(ValueError, match="at least one host"):
        reply_key_host_index(KEY_ECHO, 0)
    with pytest.raises(ValueError, match="at least one host"):
        make_request_host_cycle(0)


def test_request_cycle_is_a_repeating_permutation() -> None:
    """The request round-robin visits every host once per round, in the same order each round."""
    cycle = make_request_host_cycle(5, random.Random(3))
    first_round = list(itertools.islice(cycle, 5))
    assert sorted(first_round) == [0, 1, 2, 3, 4]
    assert list(itertools.islice(cycle, 10)) == first_round * 2


def test_request_cycle_start_is_random() -> None:
    """Different random draws start at different hosts, so workers do not all start on host 0."""
    firsts = {next(make_request_host_cycle(4, random.Random(seed))) for seed in range(30)}
    assert firsts == {0, 1, 2, 3}


@pytest.mark.parametrize("host_count", [2, 3, 5])
def test_every_request_cycle_walks_the_ring_in_the_same_direction(host_count: int) -> None:
    """Whatever its start, a round-robin goes to the next host of the ring each time, so a client's and a worker's
    cycles, once they met, stay in step (two cycles walking opposite ways would part at every call)."""
    for seed in range(20):
        walked = list(itertools.islice(make_request_host_cycle(host_count, random.Random(seed)), 2 * host_count))
        assert all(after == (before + 1) % host_count for before, after in itertools.pairwise(walked)), walked


def test_choose_host_hashes_keys_with_bang_anywhere() -> None:
    """Keys with ``!`` anywhere are hashed and do not advance the round-robin."""
    cycle = make_request_host_cycle(3, random.Random(1))
    expected_next = list(itertools.islice(make_request_host_cycle(3, random.Random(1)), 2))
    assert choose_host_index(KEY_ECHO, 3, cycle) == 1
    assert choose_host_index("pysoa:odd!key", 3, cycle) == reply_key_host_index("pysoa:odd!key", 3)
    assert [choose_host_index("pysoa:service.echo", 3, cycle) for _ in range(2)] == expected_next


def test_choose_host_single_host_is_always_zero() -> None:
    """With one host every key maps to index 0."""
    cycle = make_request_host_cycle(1)
    assert {choose_host_index(k, 1, cycle) for k in (KEY_ECHO, "pysoa:service.echo")} == {0}


def test_a_host_ring_hashes_reply_keys_and_walks_every_host_for_the_others() -> None:
    ring = HostRing(5, random.Random(7))
    reply_key = "pysoa:service.echo.abc!def"
    assert {ring.index_for(reply_key) for _ in range(10)} == {reply_key_host_index(reply_key, 5)}
    walked = [ring.index_for("pysoa:service.echo") for _ in range(10)]
    assert sorted(walked[:5]) == [0, 1, 2, 3, 4] and walked[5:] == walked[:5]
    assert HostRing(1).index_for("pysoa:service.echo") == 0
