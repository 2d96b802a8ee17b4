"""The pure decisions of at-least-once delivery: keys and slots, claims, recoveries, kept replies, TTLs."""

from __future__ import annotations

import pytest

from pysoa_like.core.delivery import (
    Claim,
    ClaimVerdict,
    DeliveryOptions,
    Recovery,
    claim_outcome,
    decode_finished,
    delivery_keys,
    encode_finished,
    finished_state,
    job_needs_claim,
    recovery_outcome,
    request_identity,
    state_ttl_milliseconds,
)
from pysoa_like.core.keys import request_queue_key
from pysoa_like.core.message import FramedMessage
from pysoa_like.fleet.keys import key_slot


def test_every_key_shares_the_queue_slot_and_the_queue_keeps_pysoas_name() -> None:
    """The queue key is PySOA's; every other key carries a hash tag that puts it in the queue's Cluster slot."""
    keys = delivery_keys("user.profile")
    assert keys.queue == request_queue_key("user.profile") == "pysoa:service.user.profile"
    others = [keys.workers, keys.deliveries, keys.dead_letter, keys.in_progress("h:1:ab"), keys.request_state("f0")]
    assert {key_slot(key) for key in others} == {key_slot(keys.queue)}
    assert all(key.startswith("{pysoa:service.user.profile}:") for key in others)
    assert len(set(others)) == len(others)


def test_in_progress_lists_are_per_worker() -> None:
    """Two workers never share an in-progress list."""
    keys = delivery_keys("svc")
    assert keys.in_progress("a:1:x") != keys.in_progress("a:2:x")


@pytest.mark.parametrize("name", ["a{b}c", "open{", "close}"])
def test_service_names_with_braces_are_refused(name: str) -> None:
    """A brace in the name would give the queue key a hash tag of its own: refused, saying why."""
    with pytest.raises(ValueError, match="brace"):
        delivery_keys(name)


def test_request_identity_needs_both_reply_queue_and_request_id() -> None:
    """The same request id from two clients, or two ids from one, are different requests; the same is the same."""
    first = request_identity("service.s.aaa!1", 7)
    assert first == request_identity("service.s.aaa!1", 7)
    assert first != request_identity("service.s.bbb!1", 7)
    assert first != request_identity("service.s.aaa!1", 8)
    assert request_identity("service.s.aaa!1", "7") != first  # a string id is not the int id


def _job(*names: object) -> dict[str, object]:
    return {"actions": [{"action": name, "body": {}} for name in names]}


@pytest.mark.parametrize(
    ("body", "needed"),
    [
        (_job("read"), False),
        (_job("read", "charge"), True),
        (_job("charge"), True),
        (_job(), False),
        ({"actions": "charge"}, False),  # invalid: answered with validation errors, nothing runs
        ("not a job", False),
        ({"actions": [{"action": 5}, "junk"]}, False),
    ],
)
def test_a_job_is_claimed_when_any_action_is_not_idempotent(body: object, needed: bool) -> None:
    """Only jobs that would run an action not declared idempotent are claimed."""
    assert job_needs_claim(body, lambda name: name == "read") is needed


def test_kept_state_lives_as_long_as_the_request_may_arrive_within_the_window() -> None:
    """The claim and kept reply last until the request's expiry plus a margin, capped by the window."""
    now = 1_000_000.0
    assert state_ttl_milliseconds(now + 60, now, 300) == 90_000
    assert state_ttl_milliseconds(now + 3600, now, 300) == 300_000
    assert state_ttl_milliseconds(now - 10, now, 300) == 30_000  # expired already: the margin only
    assert state_ttl_milliseconds(None, now, 300) == 300_000
    assert state_ttl_milliseconds(float("nan"), now, 300) == 300_000
    assert state_ttl_milliseconds(True, now, 300) == 300_000
    assert state_ttl_milliseconds(now, now, 0.1) == 1000  # never below a second


def test_a_finished_reply_is_kept_byte_for_byte() -> None:
    """Every chunk of the reply and the reply list's TTL come back as they were kept."""
    chunks = [b"pysoa-redis/3//chunk-count:2;chunk-id:1;ab", b"pysoa-redis/3//chunk-count:2;chunk-id:2;cd"]
    assert decode_finished(encode_finished(chunks, 70)) == (chunks, 70)
    framed = FramedMessage(b"pysoa-redis/3//", b"x" * 20000)
    assert decode_finished(finished_state([framed], 60)) == ([bytes(framed)], 60)


@pytest.mark.parametrize("state", [b"run:h:1:x", b"done:\xc1", b"done:" + b"\x92\x01\x90", b"done:\x92\xa1x\x91\x01"])
def test_unreadable_kept_states_are_refused(state: bytes) -> None:
    """A claim still running, or a damaged kept reply, is not taken for a reply."""
    with pytest.raises(ValueError):
        decode_finished(state)


def test_claim_replies_mean_what_the_script_says() -> None:
    """Each reply of the claim script maps to its verdict, with the kept state or the holder."""
    assert claim_outcome([b"run"]) == Claim(ClaimVerdict.RUN)
    assert claim_outcome([b"done", b"done:xyz"]) == Claim(ClaimVerdict.DONE, state=b"done:xyz")
    assert claim_outcome([b"busy", b"h:1:x"]) == Claim(ClaimVerdict.BUSY, holder="h:1:x")
    assert claim_outcome(["interrupted", "h:2:y"]) == Claim(ClaimVerdict.INTERRUPTED, holder="h:2:y")


@pytest.mark.parametrize("reply", [None, [], [b"maybe"], [b"busy"], [b"done", b"a", b"b"], b"run"])
def test_unexpected_claim_replies_are_errors(reply: object) -> None:
    """Anything else is a ValueError, never a guess."""
    with pytest.raises(ValueError):
        claim_outcome(reply)


def test_recovery_replies_mean_what_the_script_says() -> None:
    """{-1}: the worker is alive; else how many went back, and which requests were dead-lettered."""
    assert recovery_outcome([-1]) == Recovery(alive=True)
    assert recovery_outcome([2]) == Recovery(alive=False, requeued=2)
    assert recovery_outcome([0, b"r1", b"r2"]) == Recovery(alive=False, requeued=0, dead_lettered=(b"r1", b"r2"))


@pytest.mark.parametrize("reply", [None, [], [b"1"], "x"])
def test_unexpected_recovery_replies_are_errors(reply: object) -> None:
    """A reply the recovery script never gives is a ValueError."""
    with pytest.raises(ValueError):
        recovery_outcome(reply)


def test_workers_advertise_and_look_for_dead_ones_often_enough() -> None:
    """A worker advertises 4 times per TTL and looks for dead workers twice per TTL."""
    options = DeliveryOptions(worker_ttl_seconds=8)
    assert options.heartbeat_seconds == 2
    assert options.recovery_seconds == 4
