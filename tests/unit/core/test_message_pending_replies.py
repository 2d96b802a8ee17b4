"""PendingReplies: which replies a client thread accepts (its own, each once, with its request's nonce)."""

from __future__ import annotations

from pysoa_like.core.message import PendingReplies, ReplyVerdict


def test_a_reply_is_accepted_once_with_its_nonce() -> None:
    """The awaited id with the right nonce is accepted, then no longer awaited: a duplicate is unknown."""
    pending = PendingReplies()
    assert not pending and len(pending) == 0
    pending.expect(7, "abc", forget_after=100.0, now=0.0)
    assert pending and len(pending) == 1
    assert pending.verdict(7, {"reply_nonce": "abc"}) is ReplyVerdict.ACCEPTED
    assert not pending
    assert pending.verdict(7, {"reply_nonce": "abc"}) is ReplyVerdict.UNKNOWN


def test_a_wrong_or_missing_nonce_is_forged_and_the_id_stays_awaited() -> None:
    pending = PendingReplies()
    pending.expect(7, "abc", forget_after=100.0, now=0.0)
    assert pending.verdict(7, {"reply_nonce": "xyz"}) is ReplyVerdict.FORGED
    assert pending.verdict(7, {}) is ReplyVerdict.FORGED
    assert len(pending) == 1
    assert PendingReplies(require_nonce=False).verdict(8, {}) is ReplyVerdict.UNKNOWN
    lenient = PendingReplies(require_nonce=False)
    lenient.expect(8, "abc", forget_after=100.0, now=0.0)
    assert lenient.verdict(8, {}) is ReplyVerdict.ACCEPTED


def test_forget_prune_and_unhashable_ids() -> None:
    pending = PendingReplies()
    pending.expect(1, "a", forget_after=10.0, now=0.0)
    pending.expect(2, "b", forget_after=30.0, now=0.0)
    pending.forget(1)
    pending.forget(99)
    assert len(pending) == 1
    pending.prune(now=40.0)
    assert not pending
    assert pending.verdict(["not", "hashable"], {}) is ReplyVerdict.UNKNOWN
