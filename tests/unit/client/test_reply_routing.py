"""Reply routing by request id: replies reach the call that sent their request, once; others are dropped."""

from __future__ import annotations

from pysoa_like.client.client import DELIVER, DROP, KEEP, ReplyRouter


def test_the_awaited_reply_is_delivered_once() -> None:
    """The reply to the request being waited for is delivered, and a duplicate of it is then dropped."""
    router = ReplyRouter()
    router.sent(7, claimed=True)
    assert router.route(7, wanted=7) == DELIVER
    assert router.route(7, wanted=8) == DROP


def test_a_reply_for_another_outstanding_request_is_kept_for_it() -> None:
    """A reply pulled while waiting for another request is kept until its own caller takes it."""
    router = ReplyRouter()
    router.sent(1, claimed=True)
    router.sent(2, claimed=True)
    assert router.route(2, wanted=1) == KEEP
    router.keep(2, "reply-2")
    assert router.start_waiting(2) == "reply-2"
    assert router.start_waiting(2) is None


def test_unknown_and_unhashable_ids_are_dropped() -> None:
    """A reply nobody sent a request for, even one with an unhashable id, is dropped."""
    router = ReplyRouter()
    router.sent(1, claimed=True)
    assert router.route(99, wanted=1) == DROP
    assert router.route(["not", "hashable"], wanted=1) == DROP
    assert router.route_open(["not", "hashable"]) == DROP


def test_a_forgotten_request_loses_its_kept_reply_and_its_late_one() -> None:
    """After forget, a kept reply is gone and a late one is dropped."""
    router = ReplyRouter()
    router.sent(1, claimed=True)
    router.sent(2, claimed=True)
    router.keep(2, "early")
    router.forget(2)
    assert router.start_waiting(2) is None
    router.sent(3, claimed=True)
    router.forget(3)
    assert router.route(3, wanted=1) == DROP


def test_waiting_again_after_giving_up_catches_the_late_reply() -> None:
    """A request given up on (done) and waited for again gets its late reply, even pulled by another wait."""
    router = ReplyRouter()
    router.sent(5, claimed=True)
    router.done(5)
    assert router.route(5, wanted=6) == DROP
    assert router.start_waiting(5) is None
    assert router.route(5, wanted=6) == KEEP


def test_open_requests_are_collected_in_arrival_order_and_claimed_ones_are_kept() -> None:
    """Collecting open replies delivers open ones, keeps claimed ones, and yields kept open ones in arrival order."""
    router = ReplyRouter()
    router.sent(1, claimed=False)
    router.sent(2, claimed=False)
    router.sent(3, claimed=True)
    assert router.route_open(3) == KEEP
    router.keep(3, "claimed")
    assert router.route(2, wanted=3) == KEEP  # pulled by another call's wait
    router.keep(2, "second")
    assert router.route(1, wanted=3) == KEEP
    router.keep(1, "first")
    assert router.take_open_kept() == [(2, "second"), (1, "first")]
    assert router.open == set()
    assert router.start_waiting(3) == "claimed"


def test_forgetting_open_requests_leaves_claimed_ones() -> None:
    """forget_open gives up on every open request (and its kept reply) but keeps waiting for claimed ones."""
    router = ReplyRouter()
    router.sent(1, claimed=False)
    router.sent(2, claimed=True)
    router.keep(1, "early")
    assert router.forget_open() == [1]
    assert router.route_open(1) == DROP
    assert router.route(2, wanted=3) == KEEP
