"""One rule each, applied alike by clients, servers and transports: switches and suppress_response."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from pysoa_like.client.client import Client, make_context_header
from pysoa_like.server.internal.types import RequestSwitchSet, get_switch
from pysoa_like.test.server import close_client, local_client_settings
from tests.unit.testing_toolkit._services import RAN, EchoServer


class Flag(enum.IntEnum):
    NEW_UI = 7


class Named:
    value = 9


@pytest.mark.parametrize("switch", [3, Flag.NEW_UI, Named(), True, False, "3", None, 2.5])
def test_client_and_server_agree_on_what_a_switch_is(switch: Any) -> None:
    """The client's context header accepts exactly what the server's get_switch accepts, with the same int."""
    try:
        expected: Any = get_switch(switch)
    except TypeError:
        expected = TypeError
    try:
        header = make_context_header({}, switches=[switch])
    except TypeError:
        assert expected is TypeError
    else:
        assert header["switches"] == [expected]
        assert RequestSwitchSet(header["switches"]).is_active(switch)


@pytest.fixture
def echo_client() -> Any:
    RAN.clear()
    client = Client(local_client_settings(EchoServer, {}))
    yield client
    close_client(client)


def test_a_non_boolean_suppress_response_in_control_extra_gets_its_reply(echo_client: Client) -> None:
    """control_extra suppress_response=1 is not a request for no reply: the server answers (with the schema
    error) and the client waits for and delivers that answer, instead of leaving a stray reply behind."""
    request_id = echo_client.send_request("echo", [{"action": "echo"}], control_extra={"suppress_response": 1})
    responses = list(echo_client.get_all_responses("echo", receive_timeout_in_seconds=5))
    assert [rid for rid, _ in responses] == [request_id]
    assert [e.field for e in responses[0][1].errors] == ["control.suppress_response"]
    assert RAN == []


def test_a_truthy_suppress_response_argument_is_sent_as_true(echo_client: Client) -> None:
    """suppress_response=1 as an argument is written to the wire as True: the job runs and nobody waits."""
    echo_client.send_request("echo", [{"action": "echo"}], suppress_response=1)  # type: ignore[arg-type]
    assert list(echo_client.get_all_responses("echo", receive_timeout_in_seconds=5)) == []
    assert RAN == ["echo"]


def test_blocking_calls_accept_suppress_response(echo_client: Client) -> None:
    """Kept difference (PySOA raised TypeError): the blocking calls send and forget, returning None."""
    assert echo_client.call_action("echo", "echo", suppress_response=True) is None
    assert echo_client.call_actions("echo", [{"action": "echo"}], suppress_response=True) is None
    assert list(echo_client.call_actions_parallel("echo", [{"action": "echo"}] * 2, suppress_response=True)) == [
        None,
        None,
    ]
    assert RAN == ["echo"] * 4
