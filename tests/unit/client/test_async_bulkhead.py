"""A waiting bulkhead under an AsyncClient: calls wait in line (woken when a place frees, not polling), first come
first served, within their deadline; a cancelled waiter takes and frees nothing; parallel jobs never wait."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Coroutine
from typing import Any, ClassVar, TypeVar

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.errors import BulkheadFullError
from pysoa_like.client.middleware import (
    AsyncGetResponseCallable,
    AsyncSendRequestCallable,
    ClientMiddleware,
    GetResponseCallable,
    SendRequestCallable,
)
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server

_T = TypeVar("_T")


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coroutine)


class Work(Action):
    """Notes the order jobs arrive in, then sleeps as asked."""

    arrivals: ClassVar[list[Any]] = []

    def run(self, request: Any) -> dict[str, Any]:
        Work.arrivals.append(request.body.get("tag"))
        time.sleep(request.body.get("seconds", 0))
        return {"tag": request.body.get("tag")}


class WorkServer(Server):
    service_name = "work"
    action_class_map = {"work": Work}


class InFlight(ClientMiddleware):
    """Counts the calls between their send and the end of their wait: the most at once is the bulkhead's doing."""

    now: ClassVar[int] = 0
    most: ClassVar[int] = 0
    lock = threading.Lock()

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        return send_request

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        return get_response

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        async def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            with InFlight.lock:
                InFlight.now += 1
                InFlight.most = max(InFlight.most, InFlight.now)
            try:
                await send_request(request_id, meta, job, expiry)
            except BaseException:
                with InFlight.lock:
                    InFlight.now -= 1
                raise

        return handler

    def async_response(self, get_response: AsyncGetResponseCallable) -> AsyncGetResponseCallable:
        async def handler(request_id: int, timeout: float | None) -> tuple[Any, JobResponse | None]:
            try:
                return await get_response(request_id, timeout)
            finally:
                with InFlight.lock:
                    InFlight.now -= 1

        return handler

    def no_reply(self, request_id: Any, exception: BaseException) -> None:
        """A call forgotten before its wait (cancelled between send and receive) ends here."""


def make_client(max_in_flight: int) -> AsyncClient:
    InFlight.now = InFlight.most = 0
    Work.arrivals.clear()
    return AsyncClient(
        {
            "work": {
                "transport": {
                    "path": "pysoa_like.common.transport.local:LocalClientTransport",
                    "kwargs": {"server_class": WorkServer, "server_settings": {}},
                },
                "bulkhead": {"max_in_flight": max_in_flight, "wait": True},
                "middleware": [{"path": f"{__name__}:InFlight"}],
            }
        }
    )


def test_waiting_calls_are_served_in_the_order_they_came() -> None:
    """Calls that find the bulkhead full get their places first come, first served."""

    async def calls() -> list[ActionResponse]:
        async with make_client(1) as client:
            first = asyncio.create_task(client.call_action("work", "work", {"tag": 0, "seconds": 0.2}, timeout=10))
            await asyncio.sleep(0.05)  # the first call holds the place
            waiting = []
            for tag in range(1, 9):
                waiting.append(asyncio.create_task(client.call_action("work", "work", {"tag": tag}, timeout=10)))
                await asyncio.sleep(0.004)  # arrivals out of step with any polling period
            return await asyncio.gather(first, *waiting)

    responses = run(calls())
    assert [response.body["tag"] for response in responses] == list(range(9))
    assert Work.arrivals == list(range(9))
    assert InFlight.most == 1


def test_a_waiting_call_gives_up_at_its_deadline() -> None:
    """A call waiting for a place is refused with BulkheadFullError when its timeout is up, not before."""

    async def calls() -> float:
        async with make_client(1) as client:
            holder = asyncio.create_task(client.call_action("work", "work", {"tag": "held", "seconds": 2.0}))
            await asyncio.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(BulkheadFullError):
                await client.call_action("work", "work", {"tag": "late"}, timeout=0.2)
            waited = time.monotonic() - started
            await holder
            return waited

    waited = run(calls())
    assert 0.15 < waited < 1.8
    assert Work.arrivals == ["held"]


def test_a_cancelled_waiter_frees_no_place_and_parallel_jobs_never_wait_or_jump_the_line() -> None:
    """Cancelling a waiting call leaves the places as they were: a parallel call's job is then refused at once
    (both places still held), and the calls still in line get their places after the holders."""

    async def calls() -> tuple[list[Any], list[Any]]:
        async with make_client(2) as client:
            holders = [
                asyncio.create_task(client.call_action("work", "work", {"tag": f"h{n}", "seconds": 1.0}, timeout=10))
                for n in range(2)
            ]
            await asyncio.sleep(0.05)
            cancelled = asyncio.create_task(client.call_action("work", "work", {"tag": "cancelled"}, timeout=10))
            behind = asyncio.create_task(client.call_action("work", "work", {"tag": "behind"}, timeout=10))
            await asyncio.sleep(0.02)
            cancelled.cancel()
            await asyncio.gather(cancelled, return_exceptions=True)
            parallel = await client.call_jobs_parallel(
                [{"service_name": "work", "actions": [{"action": "work", "body": {"tag": "parallel"}}]}],
                catch_transport_errors=True,
                timeout=10,
            )
            ended = await asyncio.gather(*holders, behind)
            return [type(result).__name__ for result in parallel], [response.body["tag"] for response in ended]

    parallel, ended = run(calls())
    assert parallel == ["BulkheadFullError"]
    assert ended == ["h0", "h1", "behind"]
    assert "cancelled" not in Work.arrivals and "parallel" not in Work.arrivals
    assert InFlight.most == 2


def test_waiters_cancelled_at_random_leave_no_place_taken_or_freed() -> None:
    """Many waiting calls, some cancelled at random moments (before or as a place is handed to them): never more
    calls in flight than the bulkhead allows, and afterwards exactly its places are free again."""
    shuffle = random.Random(15)

    async def calls() -> list[Any]:
        async with make_client(2) as client:
            tasks = [
                asyncio.create_task(client.call_action("work", "work", {"tag": n, "seconds": 0.01}, timeout=30))
                for n in range(40)
            ]
            for task in shuffle.sample(tasks, 15):
                await asyncio.sleep(shuffle.uniform(0, 0.02))
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return await client.call_jobs_parallel(
                [{"service_name": "work", "actions": [{"action": "work", "body": {"tag": n}}]} for n in range(3)],
                catch_transport_errors=True,
                timeout=10,
            )

    after = run(calls())
    assert InFlight.most <= 2
    assert sorted(type(result).__name__ for result in after) == ["BulkheadFullError", "JobResponse", "JobResponse"]


def test_waiters_on_loops_in_two_threads_sharing_a_client_are_woken_on_their_own_loop() -> None:
    """A place freed by a call on one thread's loop wakes a call waiting on another thread's loop."""
    client = make_client(1)
    results: dict[str, list[Any]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=30)

    async def calls(name: str) -> list[Any]:
        responses = await asyncio.gather(
            *(client.call_action("work", "work", {"tag": f"{name}{n}", "seconds": 0.01}, timeout=30) for n in range(5))
        )
        return [response.body["tag"] for response in responses]

    def worker(name: str) -> None:
        try:
            start.wait()
            results[name] = asyncio.run(calls(name))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert results == {name: [f"{name}{n}" for n in range(5)] for name in ("a", "b")}
    assert InFlight.most == 1
