"""The test toolkit with AsyncClient: stub_action stubs its calls, AsyncStubClient, the plugin's async fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.client._async_handler import AsyncServiceHandler
from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.test.server import local_client_settings
from pysoa_like.test.stub_service import AsyncStubClient, stub_action
from tests.unit.testing_toolkit._services import RAN, EchoServer


@pytest.fixture
def async_echo_client() -> Iterator[AsyncClient]:
    """An AsyncClient of the echo service on the local transport; RAN is cleared first."""
    RAN.clear()
    client = AsyncClient(local_client_settings(EchoServer, {}))
    yield client
    asyncio.run(client.aclose())


def test_stub_action_answers_async_calls_and_records_them(async_echo_client: AsyncClient) -> None:
    """A stubbed action answers AsyncClient calls without reaching the server; the mock records the bodies."""
    with stub_action("echo", "echo", body={"stubbed": True}) as stub:
        response = asyncio.run(async_echo_client.call_action("echo", "echo", {"n": 1}))
    assert response.body == {"stubbed": True}
    stub.assert_called_once_with({"n": 1})
    assert RAN == []


def test_a_job_mixing_stubbed_and_real_actions_merges_them_in_order(async_echo_client: AsyncClient) -> None:
    """The real actions of a job run on the server, the stubbed ones are answered by the stub, in request order."""
    with stub_action("echo", "echo2", body={"stubbed": True}):
        job = asyncio.run(
            async_echo_client.call_actions(
                "echo", [{"action": "echo", "body": {"real": 1}}, {"action": "echo2", "body": {"n": 2}}]
            )
        )
    assert isinstance(job, JobResponse)
    assert [action.body for action in job.actions] == [{"real": 1}, {"stubbed": True}]
    assert RAN == ["echo"]


def test_stub_errors_raise_as_real_ones_and_parallel_calls_are_stubbed(async_echo_client: AsyncClient) -> None:
    """A stub's errors raise CallActionError; parallel calls get stubbed answers in order."""

    async def calls() -> list[Any]:
        with stub_action("echo", "fail", errors=[{"code": "STUBBED", "message": "no"}]), pytest.raises(CallActionError):
            await async_echo_client.call_action("echo", "fail")
        with stub_action("echo", "echo", side_effect=lambda body: {"n": body["n"] * 10}):
            return list(
                await async_echo_client.call_actions_parallel(
                    "echo", [{"action": "echo", "body": {"n": i}} for i in range(3)]
                )
            )

    assert [r.body for r in asyncio.run(calls())] == [{"n": 0}, {"n": 10}, {"n": 20}]


def test_a_service_that_exists_only_as_a_stub_is_callable(async_echo_client: AsyncClient) -> None:
    """A stub of a service the client has no settings for answers its calls."""
    with stub_action("ghost", "boo", body={"scared": True}):
        response = asyncio.run(async_echo_client.call_action("ghost", "boo"))
    assert response.body == {"scared": True}


def test_the_handler_gets_its_methods_back_when_no_stub_is_left(async_echo_client: AsyncClient) -> None:
    """Once the last stub stops, AsyncServiceHandler's methods are the originals and calls reach the server."""
    original = AsyncServiceHandler.__dict__["send_request"]
    with stub_action("echo", "echo", body={}):
        assert AsyncServiceHandler.__dict__["send_request"] is not original
    assert AsyncServiceHandler.__dict__["send_request"] is original
    assert asyncio.run(async_echo_client.call_action("echo", "echo", {"real": True})).body == {"real": True}


def test_async_stub_client_serves_its_map_and_added_stubs() -> None:
    """AsyncStubClient answers from its action map, and stub_action adds actions and services."""
    client = AsyncStubClient({"user": {"get_user": {"body": {"id": 1}}}})
    client.stub_action("user", "delete_user", errors=[{"code": "DENIED", "message": "No"}])
    client.stub_action("billing", "charge", body={"charged": True})

    async def calls() -> tuple[ActionResponse, ActionResponse, ActionResponse]:
        got = await client.call_action("user", "get_user")
        denied = await client.call_action("user", "delete_user", raise_action_errors=False)
        charged = await client.call_action("billing", "charge")
        await client.aclose()
        return got, denied, charged

    got, denied, charged = asyncio.run(calls())
    assert got.body == {"id": 1}
    assert denied.errors[0].code == "DENIED"
    assert charged.body == {"charged": True}
