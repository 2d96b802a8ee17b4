"""Regression tests for the PySOA 1.4.9 client bugs fixed by routing replies by request id."""

from __future__ import annotations

import logging
import threading

import pytest

from pysoa_like.common.transport.errors import MessageReceiveTimeout
from tests.unit.client.conftest import MakeClient, transport_of
from tests.unit.client.fakes import ThreadedFakeTransport


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
@pytest.mark.parametrize("resolve_first", [0, 1])
def test_two_futures_on_one_service_resolve_in_either_order(
    make_client: MakeClient, order: list[int], resolve_first: int
) -> None:
    """Two outstanding futures each get their own reply, whatever the arrival and resolution order (bug 2)."""
    client = make_client({"echo": {"hold": True}})
    futures = [client.call_action_future("echo", "a", {"n": 0}), client.call_action_future("echo", "b", {"n": 1})]
    transport_of(client).release(order)
    first = futures[resolve_first].result()
    second = futures[1 - resolve_first].result()
    assert first.body == {"n": resolve_first}
    assert second.body == {"n": 1 - resolve_first}


def test_suppressed_request_does_not_poison_the_next_call(make_client: MakeClient) -> None:
    """A suppress_response send is never waited for, so the next blocking call gets its reply (bug 3)."""
    client = make_client()
    client.send_request("echo", [{"action": "fire"}], suppress_response=True)
    assert client.call_action("echo", "a", {"x": 1}, timeout=1).body == {"x": 1}
    assert list(client.get_all_responses("echo")) == []


def test_late_reply_after_timeout_is_not_given_to_the_next_call(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """After a timed-out call, its late reply is dropped (and logged) and the next call gets its own reply (bug 4)."""
    client = make_client({"echo": {"hold": True}})
    with pytest.raises(MessageReceiveTimeout):
        client.call_action("echo", "slow", {"n": 1}, timeout=0.05)
    transport = transport_of(client)
    transport.release()  # the late reply lands first in the queue
    transport.hold = False
    with caplog.at_level(logging.INFO, logger="pysoa_like.client"):
        assert client.call_action("echo", "fast", {"n": 2}).body == {"n": 2}
    assert sum(r.getMessage().startswith("Dropped a reply from service echo") for r in caplog.records) == 1


def test_future_retry_after_timeout_still_gets_the_late_reply(make_client: MakeClient) -> None:
    """A future whose result() timed out can be asked again and receives the reply that came late."""
    client = make_client({"echo": {"hold": True}})
    future = client.call_action_future("echo", "slow", {"n": 1})
    with pytest.raises(MessageReceiveTimeout):
        future.result(0.05)
    transport_of(client).release()
    assert future.result().body == {"n": 1}


def test_blocking_call_between_future_send_and_result(make_client: MakeClient) -> None:
    """Mixing a blocking call with an outstanding future loses neither reply."""
    client = make_client()
    future = client.call_action_future("echo", "f", {"n": 1})
    assert client.call_action("echo", "b", {"n": 2}).body == {"n": 2}
    assert future.result().body == {"n": 1}


def test_get_all_responses_does_not_steal_future_replies(make_client: MakeClient) -> None:
    """get_all_responses yields only send_request replies while a future is outstanding."""
    client = make_client()
    future = client.call_action_future("echo", "f", {"n": 1})
    request_id = client.send_request("echo", [{"action": "s"}])
    assert [rid for rid, _ in client.get_all_responses("echo")] == [request_id]
    assert future.result().body == {"n": 1}


def test_one_client_shared_by_eight_threads(make_client: MakeClient) -> None:
    """Eight threads calling through one Client concurrently each get exactly their own replies (bug 16)."""
    client = make_client(transport_class=ThreadedFakeTransport)
    failures: list[str] = []
    start = threading.Barrier(8)

    def work(thread_index: int) -> None:
        start.wait()
        for call_index in range(25):
            tag = f"{thread_index}-{call_index}"
            try:
                futures = [client.call_action_future("echo", "f", {"tag": tag, "i": i}) for i in range(2)]
                blocking = client.call_action("echo", "b", {"tag": tag}, timeout=5)
                parallel = list(
                    client.call_actions_parallel(
                        "echo", [{"action": "p", "body": {"tag": tag, "i": i}} for i in range(3)], timeout=5
                    )
                )
                if blocking.body != {"tag": tag}:
                    failures.append(f"blocking {tag}: {blocking.body}")
                if [p.body for p in parallel] != [{"tag": tag, "i": i} for i in range(3)]:
                    failures.append(f"parallel {tag}")
                for i, future in reversed(list(enumerate(futures))):
                    if future.result(5).body != {"tag": tag, "i": i}:
                        failures.append(f"future {tag}")
            except Exception as exc:
                failures.append(f"{tag}: {exc!r}")

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(client.handlers) == 1


def test_a_timed_out_blocking_call_does_not_make_an_outstanding_future_lose_its_reply(make_client: MakeClient) -> None:
    """A blocking call that times out gives up on its own request only: an earlier future still gets its reply."""
    client = make_client({"echo": {"hold": True}})
    future = client.call_action_future("echo", "early", {"n": 1})
    with pytest.raises(MessageReceiveTimeout):
        client.call_action("echo", "late", {"n": 2}, timeout=0.05)
    transport = transport_of(client)
    transport.release()
    assert future.result(timeout=5).body == {"n": 1}


def test_control_extra_suppressing_the_response_makes_a_blocking_call_return_at_once(
    make_client: MakeClient,
) -> None:
    """control_extra={"suppress_response": True} means no reply will come: the call returns None without waiting."""
    client = make_client({"echo": {"hold": True}})
    assert client.call_action("echo", "a", control_extra={"suppress_response": True}, timeout=0.05) is None
    assert transport_of(client).sent[0][2]["control"]["suppress_response"] is True
