"""AsyncClient against real servers over the local transport: the same calls as Client's, as coroutines."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Coroutine, Generator
from typing import Any, ClassVar, TypeVar

import pytest

import pysoa_like
from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.errors import (
    CallActionError,
    CallJobError,
    CircuitOpenError,
    DeadlineExceededError,
    ImproperlyConfigured,
)
from pysoa_like.client.fallbacks import Fallback
from pysoa_like.client.middleware import ClientMiddleware
from pysoa_like.common.errors import Error
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.server.action.base import Action
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.server import Server
from tests.unit.client.fakes import FakeClientTransport, transport_config

_T = TypeVar("_T")


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coroutine)


class Echo(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {
            "body": request.body,
            "switches": sorted(request.switches),
            "cid": request.context["correlation_id"],
            "meta": {k: v for k, v in request.context.items() if k == "extra"},
        }


class Fail(Action):
    def run(self, request: Any) -> dict[str, Any]:
        raise ActionError([Error(code="NOPE", message="failed on purpose")])


class JobFail(Action):
    def run(self, request: Any) -> dict[str, Any]:
        raise JobError([Error(code="JOB_BROKE", message="the job failed")])


class Broken(Action):
    """Fails with a server error (not the caller's) while ``failures`` is above zero."""

    failures: ClassVar[int] = 0

    def run(self, request: Any) -> dict[str, Any]:
        if Broken.failures > 0:
            Broken.failures -= 1
            raise ActionError([Error(code="DOWN", message="down")], set_is_caller_error_to=False)
        return {"ok": True}


class Sleep(Action):
    def run(self, request: Any) -> dict[str, Any]:
        time.sleep(request.body["seconds"])
        return {"slept": request.body["seconds"], "tag": request.body.get("tag")}


class Authors(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"authors": {i: {"_type": "author", "id": i, "name": f"author {i}"} for i in request.body["ids"]}}


class Books(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"book": {"_type": "book", "id": 1, "author_id": 7}}


class EchoServer(Server):
    service_name = "echo"
    action_class_map = {
        "echo": Echo,
        "fail": Fail,
        "broken": Broken,
        "sleep": Sleep,
        "books": Books,
        "job_fail": JobFail,
    }


class AuthorServer(Server):
    service_name = "authors"
    action_class_map = {"get_authors": Authors}


def _local(server_class: type[Server]) -> dict[str, Any]:
    return {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": server_class, "server_settings": {}},
    }


class MetaMiddleware(ClientMiddleware):
    """Adds a meta key on the way out and notes every reply on the way back."""

    replies: ClassVar[list[Any]] = []

    def request(self, send_request: Any) -> Any:
        def handler(request_id: int, meta: dict[str, Any], job_request: Any, expiry: float | None) -> None:
            meta["from_middleware"] = True
            job_request.context["extra"] = "added by middleware"
            send_request(request_id, meta, job_request, expiry)

        return handler

    def response(self, get_response: Any) -> Any:
        def handler(timeout: float | None) -> Any:
            request_id, response = get_response(timeout)
            MetaMiddleware.replies.append(request_id)
            return request_id, response

        return handler


EXPANSIONS = {
    "type_routes": {
        "author_route": {
            "service": "authors",
            "action": "get_authors",
            "request_field": "ids",
            "response_field": "authors",
        }
    },
    "type_expansions": {
        "book": {
            "author": {
                "type": "author",
                "route": "author_route",
                "source_field": "author_id",
                "destination_field": "author",
            }
        }
    },
}


def make_client(**service_settings: Any) -> AsyncClient:
    return AsyncClient(
        {
            "echo": {"transport": _local(EchoServer), **service_settings},
            "authors": {"transport": _local(AuthorServer)},
        },
        expansion_config=EXPANSIONS,
    )


@pytest.fixture
def client() -> Generator[AsyncClient, None, None]:
    Broken.failures = 0
    client = make_client()
    yield client
    run(client.aclose())


def test_asyncclient_is_exported_at_the_top_and_beside_client() -> None:
    """``pysoa_like.AsyncClient`` and ``pysoa_like.client.AsyncClient`` are the asyncio client."""
    assert pysoa_like.AsyncClient is AsyncClient
    assert pysoa_like.client.AsyncClient is AsyncClient


def test_call_action_returns_the_action_response_with_context_headers(client: AsyncClient) -> None:
    """A call reaches the server and returns its ActionResponse, with switches and correlation id."""
    response = run(client.call_action("echo", "echo", {"x": [1, 2]}, switches=[3], correlation_id="cid-1"))
    assert isinstance(response, ActionResponse)
    assert response.body["body"] == {"x": [1, 2]}
    assert response.body["switches"] == [3] and response.body["cid"] == "cid-1"


def test_call_actions_returns_the_job_response(client: AsyncClient) -> None:
    """call_actions runs several actions in one job and returns the JobResponse."""
    response = run(client.call_actions("echo", [{"action": "echo", "body": {"n": 1}}, {"action": "echo"}]))
    assert isinstance(response, JobResponse)
    assert [action.body["body"] for action in response.actions] == [{"n": 1}, {}]


def test_parallel_calls_return_results_in_input_order_with_one_correlation_id(client: AsyncClient) -> None:
    """call_actions_parallel yields responses in input order; call_jobs_parallel spans services."""

    async def calls() -> tuple[list[Any], list[JobResponse]]:
        actions = [{"action": "echo", "body": {"n": i}} for i in range(5)]
        generated = await client.call_actions_parallel("echo", actions)
        assert isinstance(generated, Generator)
        jobs = await client.call_jobs_parallel(
            [
                {"service_name": "echo", "actions": [{"action": "echo"}]},
                {"service_name": "authors", "actions": [{"action": "get_authors", "body": {"ids": [2]}}]},
            ]
        )
        return list(generated), jobs

    parallel, jobs = run(calls())
    assert [r.body["body"] for r in parallel] == [{"n": i} for i in range(5)]
    assert len({r.body["cid"] for r in parallel}) == 1
    assert jobs[1].actions[0].body["authors"][2]["name"] == "author 2"


def test_errors_are_raised_or_returned_as_for_client(client: AsyncClient) -> None:
    """Action errors raise CallActionError, job errors CallJobError, each returned instead when asked."""
    with pytest.raises(CallActionError) as action_error:
        run(client.call_action("echo", "fail"))
    assert action_error.value.actions[0].errors[0].code == "NOPE"
    returned = run(client.call_action("echo", "fail", raise_action_errors=False))
    assert returned.errors[0].code == "NOPE"
    with pytest.raises(CallJobError):
        run(client.call_action("echo", "job_fail"))
    job_errors = run(client.call_action("echo", "job_fail", raise_job_errors=False))
    assert isinstance(job_errors, list) and job_errors[0].code == "JOB_BROKE"
    caught = run(
        client.call_jobs_parallel(
            [{"service_name": "echo", "actions": [{"action": "fail"}]}], raise_action_errors=False
        )
    )
    assert caught[0].actions[0].errors[0].code == "NOPE"


def test_bad_arguments_are_refused_before_sending_as_for_client(client: AsyncClient) -> None:
    """The same argument checks as Client's: a wrong type names the argument; unknown keywords are refused."""
    with pytest.raises(TypeError, match="switches"):
        run(client.call_action("echo", "echo", switches=5))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Unexpected keyword"):
        run(client.call_action("echo", "echo", no_such_keyword=1))  # type: ignore[call-arg]
    with pytest.raises(ImproperlyConfigured, match="Unrecognized service"):
        run(client.call_action("nope", "echo"))


def test_suppress_response_returns_none_and_later_calls_get_their_own_replies(client: AsyncClient) -> None:
    """A suppressed job returns None at once; the next call is not disturbed."""

    async def calls() -> tuple[Any, ActionResponse]:
        suppressed = await client.call_action("echo", "echo", {"n": 0}, suppress_response=True)
        return suppressed, await client.call_action("echo", "echo", {"n": 1})

    suppressed, response = run(calls())
    assert suppressed is None and response.body["body"] == {"n": 1}


def test_a_thousand_gathered_calls_each_get_their_own_answer(client: AsyncClient) -> None:
    """1,000 call_actions gathered at once on one client all get their own answers."""

    async def calls() -> list[ActionResponse]:
        return await asyncio.gather(*(client.call_action("echo", "echo", {"n": i}) for i in range(1000)))

    responses = run(calls())
    assert [r.body["body"]["n"] for r in responses] == list(range(1000))


def test_a_timed_out_call_raises_and_its_late_reply_never_reaches_another_call(client: AsyncClient) -> None:
    """A call past its timeout raises MessageReceiveTimeout; its reply, arriving later, is dropped."""

    async def calls() -> tuple[float, ActionResponse]:
        started = time.monotonic()
        with pytest.raises(MessageReceiveTimeout):
            await client.call_action("echo", "sleep", {"seconds": 0.4, "tag": "late"}, timeout=0.1)
        waited = time.monotonic() - started
        return waited, await client.call_action("echo", "sleep", {"seconds": 0, "tag": "mine"})

    waited, response = run(calls())
    assert waited < 0.35
    assert response.body["tag"] == "mine"


def test_a_cancelled_call_leaves_nothing_behind(client: AsyncClient) -> None:
    """Cancelling a call (its task, or asyncio.wait_for) ends it at once; later calls get their own replies."""

    async def calls() -> list[Any]:
        task = asyncio.ensure_future(client.call_action("echo", "sleep", {"seconds": 0.3, "tag": "cancelled"}))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.call_action("echo", "sleep", {"seconds": 0.3, "tag": "timed out"}), 0.05)
        return [
            (await client.call_action("echo", "sleep", {"seconds": 0, "tag": f"after {i}"})).body["tag"]
            for i in range(3)
        ]

    assert run(calls()) == ["after 0", "after 1", "after 2"]


def test_blocking_action_code_never_stalls_the_event_loop(client: AsyncClient) -> None:
    """While calls whose actions block for 0.5 s are in flight, the loop keeps ticking (generous bound)."""

    async def measure() -> float:
        worst = 0.0
        calls = asyncio.gather(*(client.call_action("echo", "sleep", {"seconds": 0.25}) for _ in range(2)))
        while not calls.done():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - before - 0.01)
        await calls
        return worst

    assert run(measure()) < 0.2


def test_sync_middleware_sees_and_changes_requests_and_replies() -> None:
    """Client middleware works unchanged: its request hook changes the job, its response hook sees the reply."""
    MetaMiddleware.replies.clear()
    client = AsyncClient(
        {"echo": {"transport": _local(EchoServer), "middleware": [{"path": f"{__name__}:MetaMiddleware"}]}}
    )
    response = run(client.call_action("echo", "echo"))
    run(client.aclose())
    assert response.body["meta"] == {"extra": "added by middleware"}
    assert len(MetaMiddleware.replies) == 1


def test_a_metrics_recorder_gets_clients_call_send_and_receive_timers() -> None:
    """With a recorder, each call is timed as a Client's is: the call, and the send and receive with and without the
    middleware (without one, nothing is timed)."""
    client = make_client(metrics={"path": "pysoa_like.common.metrics:CountingMetricsRecorder"})
    assert run(client.call_action("echo", "echo", {"n": 1})).body["body"] == {"n": 1}
    recorder = client.handlers["echo"].metrics
    assert isinstance(recorder, CountingMetricsRecorder)
    assert recorder.names("timer") >= {
        "client.call",
        "client.send.including_middleware",
        "client.send.excluding_middleware",
        "client.receive.including_middleware",
        "client.receive.excluding_middleware",
    }
    for name in ("client.call", "client.send.including_middleware", "client.receive.excluding_middleware"):
        assert len(recorder.get_values("timer", name)) == 1
    run(client.aclose())


def test_expansions_are_performed_as_for_client(client: AsyncClient) -> None:
    """A call's expansions fetch the expanded objects through the same client."""
    response = run(client.call_action("echo", "books", expansions={"book": ["author"]}))
    assert response.body["book"]["author"] == {"_type": "author", "id": 7, "name": "author 7"}


def test_a_client_deadline_bounds_calls_and_refuses_them_once_passed(client: AsyncClient) -> None:
    """With no time left, a call raises DeadlineExceededError without sending; otherwise its wait is cut."""
    client.deadline = time.time() - 1
    with pytest.raises(DeadlineExceededError):
        run(client.call_action("echo", "echo"))
    client.deadline = time.time() + 0.15
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        run(client.call_action("echo", "sleep", {"seconds": 0.5}, timeout=5))
    assert time.monotonic() - started < 0.45


def test_retries_breakers_and_fallbacks_work_as_for_client() -> None:
    """An idempotent action is retried after a server error; a breaker opens and refuses; a fallback replaces."""
    Broken.failures = 1
    retrying = make_client(retry={"attempts": 3, "base_delay_seconds": 0.01, "idempotent_actions": ["broken"]})
    assert run(retrying.call_action("echo", "broken")).body == {"ok": True}
    run(retrying.aclose())

    breaker = {"failure_ratio": 0.5, "minimum_calls": 2, "window_seconds": 10, "cool_down_seconds": 30}
    guarded = make_client(circuit_breaker=breaker)
    Broken.failures = 10

    async def calls() -> Any:
        for _ in range(2):
            with pytest.raises(CallActionError):
                await guarded.call_action("echo", "broken")
        with pytest.raises(CircuitOpenError):
            await guarded.call_action("echo", "broken")
        return await guarded.call_action("echo", "broken", fallback=Fallback({"cached": True}))

    fallback = run(calls())
    run(guarded.aclose())
    assert fallback.body == {"cached": True}


def test_parallel_calls_retry_fall_back_count_for_the_breaker_and_respect_the_bulkhead() -> None:
    """Each job of a parallel call goes through the resilience steps, as Client's do: an idempotent job is retried
    after a server error, failed jobs open the breaker and get their fallback, and jobs beyond the bulkhead are
    refused in their place rather than left waiting for each other."""
    Broken.failures = 1
    retrying = make_client(retry={"attempts": 3, "base_delay_seconds": 0.01, "idempotent_actions": ["broken"]})
    answers = run(retrying.call_jobs_parallel([{"service_name": "echo", "actions": [{"action": "broken"}]}]))
    assert answers[0].actions[0].body == {"ok": True}
    run(retrying.aclose())

    breaker = {"failure_ratio": 0.5, "minimum_calls": 2, "window_seconds": 10, "cool_down_seconds": 30}
    guarded = make_client(circuit_breaker=breaker)
    Broken.failures = 10

    async def calls() -> Any:
        fallen = list(await guarded.call_actions_parallel("echo", [{"action": "broken"}] * 2, fallback={"c": 1}))
        with pytest.raises(CircuitOpenError):
            await guarded.call_actions_parallel("echo", [{"action": "echo"}])
        return fallen

    fallen = run(calls())
    run(guarded.aclose())
    assert [(answer.body, answer.from_fallback) for answer in fallen] == [({"c": 1}, True)] * 2

    narrow = make_client(bulkhead={"max_in_flight": 1, "wait": True})
    results = run(
        narrow.call_actions_parallel(
            "echo", [{"action": "sleep", "body": {"seconds": 0.05}}] * 2, catch_transport_errors=True, timeout=5
        )
    )
    run(narrow.aclose())
    kinds = sorted(type(result).__name__ for result in results)
    assert kinds == ["ActionResponse", "BulkheadFullError"]


def test_a_waiting_bulkhead_holds_async_calls_without_blocking_the_loop() -> None:
    """With a waiting bulkhead of 1, concurrent calls go one at a time and all succeed."""
    client = make_client(bulkhead={"max_in_flight": 1, "wait": True})

    async def calls() -> list[ActionResponse]:
        return await asyncio.gather(
            *(client.call_action("echo", "sleep", {"seconds": 0.02}, timeout=5) for _ in range(4))
        )

    responses = run(calls())
    run(client.aclose())
    assert [r.body["slept"] for r in responses] == [0.02] * 4


def test_a_transport_without_an_asyncio_driver_is_refused_with_a_clear_error() -> None:
    """A sync-only custom transport: the call raises ImproperlyConfigured naming the transport and what to do."""
    client = AsyncClient({"echo": {"transport": transport_config(FakeClientTransport)}})
    with pytest.raises(ImproperlyConfigured, match=r"FakeClientTransport.*has no asyncio driver"):
        run(client.call_action("echo", "echo"))


def test_one_client_works_from_successive_event_loops_and_threads(client: AsyncClient) -> None:
    """The same AsyncClient serves calls from one asyncio.run after another, and from another thread's loop."""
    assert run(client.call_action("echo", "echo", {"n": 1})).body["body"] == {"n": 1}
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(run(client.call_action("echo", "echo", {"n": 2}))))
    thread.start()
    thread.join(10)
    assert results[0].body["body"] == {"n": 2}


def test_a_closed_client_can_be_used_again(client: AsyncClient) -> None:
    """After aclose() (which tears the local server down), the next call sets a server up again and is answered."""

    async def calls() -> list[Any]:
        first = await client.call_action("echo", "echo", {"n": 1})
        await client.aclose()
        second = await client.call_action("echo", "echo", {"n": 2})
        return [first.body["body"], second.body["body"]]

    assert run(calls()) == [{"n": 1}, {"n": 2}]


class ThreadYieldingMiddleware(ClientMiddleware):
    """Lets other threads run in the middle of the send and receive chains (as logging or I/O in middleware does)."""

    def request(self, send_request: Any) -> Any:
        def handler(request_id: int, meta: dict[str, Any], job_request: Any, expiry: float | None) -> None:
            time.sleep(0)
            send_request(request_id, meta, job_request, expiry)
            time.sleep(0)

        return handler

    def response(self, get_response: Any) -> Any:
        def handler(timeout: float | None) -> Any:
            time.sleep(0)
            answer = get_response(timeout)
            time.sleep(0)
            return answer

        return handler


def test_one_client_used_from_two_threads_each_with_its_loop_gives_every_call_its_own_answer() -> None:
    """Loops in two threads calling through one AsyncClient at once: request ids never collide, replies never mix."""
    client = AsyncClient(
        {"echo": {"transport": _local(EchoServer), "middleware": [{"path": f"{__name__}:ThreadYieldingMiddleware"}]}}
    )
    start = threading.Barrier(2, timeout=30)
    results: dict[str, list[Any]] = {}
    errors: list[BaseException] = []

    async def calls(name: str) -> list[Any]:
        responses = await asyncio.gather(
            *(client.call_action("echo", "echo", {"who": name, "n": i}) for i in range(300))
        )
        return [(r.body["body"]["who"], r.body["body"]["n"]) for r in responses]

    def worker(name: str) -> None:
        try:
            start.wait()
            results[name] = asyncio.run(calls(name))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so that any race shows
    try:
        threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        sys.setswitchinterval(switch_interval)
        run(client.aclose())
    assert not errors, errors
    assert results == {name: [(name, i) for i in range(300)] for name in ("a", "b")}
