"""The pure rules of dead-worker detection: which requests are watched, and what a liveness check means."""

from __future__ import annotations

from pysoa_like.common.transport.redis_gateway._liveness_key import watched_key
from pysoa_like.core.worker_watch import (
    WatchedRequests,
    WatchVerdict,
    released_key_ttl_milliseconds,
    worker_key,
)

REPLY_TO = "service.echo.0123456789abcdef0123456789abcdef!0123456789abcdef"


def test_a_key_seen_then_gone_means_the_worker_ended_and_one_never_seen_means_waiting() -> None:
    """Never seen: still queued; seen: alive; seen then gone: the worker ended (a reply may just have come)."""
    watched = WatchedRequests()
    watched.watch(1, "k1")
    assert watched.observe(1, exists=False) is WatchVerdict.WAITING
    assert watched.observe(1, exists=True) is WatchVerdict.ALIVE
    assert watched.observe(1, exists=False) is WatchVerdict.GONE
    watched.forget(1)
    assert not watched
    assert watched.observe(1, exists=False) is WatchVerdict.WAITING


def test_the_liveness_key_lives_on_the_reply_lists_master() -> None:
    """The key contains the reply queue name (and so its ``!``), so it hashes to the reply list's master."""
    key = worker_key(REPLY_TO, "00ff")
    assert key == f"pysoa:{REPLY_TO}.worker.00ff"


def test_only_requests_that_ask_with_a_nonce_and_a_valid_reply_queue_are_watched() -> None:
    """``watch_worker`` must be exactly True, with a short string nonce and a reply queue name."""
    meta = {"reply_to": REPLY_TO, "reply_nonce": "00ff", "watch_worker": True}
    assert watched_key(meta) == worker_key(REPLY_TO, "00ff")
    assert watched_key({**meta, "watch_worker": 1}) is None
    assert watched_key({**meta, "reply_nonce": 5}) is None
    assert watched_key({**meta, "reply_nonce": "x" * 65}) is None
    assert watched_key({**meta, "reply_to": "service.echo"}) is None
    assert watched_key([meta]) is None


def test_a_key_given_no_reply_lives_until_the_requests_deadline_and_a_little_more() -> None:
    """A watched request that will get no reply leaves its key to the request's deadline plus the key's usual 3 s
    life (its client times out before the key ends); without a deadline, the transport's message expiry counts."""
    assert released_key_ttl_milliseconds(1000.0 + 2.5, 1000.0, 60) == 2500 + 3000
    assert released_key_ttl_milliseconds(1000.0 - 5, 1000.0, 60) == 3000
    assert released_key_ttl_milliseconds(None, 1000.0, 60) == 60000 + 3000
