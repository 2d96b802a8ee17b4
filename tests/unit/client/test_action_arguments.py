"""A call's actions given wrongly: refused before the send with a TypeError saying which action and how."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import attr
import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.common.types import ActionRequest, JobRequest
from pysoa_like.server.action import Action
from pysoa_like.server.server import Server


class _Echo(Action):
    """Counts its runs and answers its body."""

    runs: ClassVar[list[Any]] = []

    def run(self, request: Any) -> dict[str, Any]:
        type(self).runs.append(request.body)
        return {}


class _EchoServer(Server):
    service_name = "echo"
    action_class_map: ClassVar[dict[str, Any]] = {"echo": _Echo}


@pytest.fixture
def client() -> Client:
    """A client of the echo service over the local transport, whose action has not run yet."""
    _Echo.runs.clear()
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": _EchoServer, "server_settings": {}},
    }
    return Client({"echo": {"transport": transport}})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.call_action("echo", "echo", [1, 2]), "actions[0].body must be a dict, got list [1, 2]"),
        (lambda c: c.call_action("echo", "echo", "n=3"), "actions[0].body must be a dict, got str 'n=3'"),
        (
            lambda c: c.call_actions("echo", [{"action": "echo"}, {"acton": "echo", "body": {}}]),
            "actions[1]: unknown key(s) 'acton' (an action takes 'action' and 'body'); did you mean 'action'?",
        ),
        (lambda c: c.call_actions("echo", [{"body": {}}]), "actions[0]: missing the key 'action'"),
        (
            lambda c: c.call_actions("echo", [{"action": "echo"}, "echo"]),
            "actions[1]: expected an ActionRequest or a dict with 'action' and 'body', got 'echo'",
        ),
        (
            lambda c: c.call_actions("echo", {"action": "echo", "body": {}}),
            "actions must be a list of actions (ActionRequest objects or dicts with 'action' and 'body'), got dict",
        ),
    ],
)
def test_a_mistaken_action_or_body_is_a_type_error_naming_it_and_nothing_is_sent(
    client: Client, call: Any, message: str
) -> None:
    """A body that is not a dict went to the server, which answered a bare "INVALID: Not a dict"; an action dict
    with a misspelt key, a string, or the actions given as one dict raised a TypeError from inside attrs or
    Python's ``**`` that named neither the action nor the fix."""
    with pytest.raises(TypeError) as raised:
        call(client)
    assert str(raised.value).startswith(message)
    assert _Echo.runs == []


def test_a_job_request_built_from_dicts_names_the_mistaken_action() -> None:
    """``JobRequest(actions=[...])`` with a misspelt key says which action and the key it expected."""
    with pytest.raises(TypeError, match=r"^actions\[0\]: unknown key\(s\) 'name' .* and 'body'\)$"):
        JobRequest(actions=[{"name": "echo"}])


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        (
            [{"service_name": "echo", "actions": [{"action": "echo"}]}, {"service": "echo", "actions": []}],
            "jobs[1]: unknown key(s) 'service' (a job takes 'service_name' and 'actions'); did you mean "
            "'service_name'?",
        ),
        ([{"actions": []}], "jobs[0]: missing the key 'service_name'"),
        ([{"service_name": "echo", "actions": "echo"}], "jobs[0]: 'actions' must be a list of actions, got 'echo'"),
        (["echo"], "jobs[0]: expected a dict with 'service_name' and 'actions', got 'echo'"),
        ({"service_name": "echo", "actions": []}, "jobs must be a list of jobs (dicts with 'service_name' and"),
    ],
)
def test_a_mistaken_job_of_a_parallel_call_is_a_type_error_naming_it_and_nothing_is_sent(
    client: Client, jobs: Any, message: str
) -> None:
    """``call_jobs_parallel`` with a job that has no ``service_name`` (a bare ``KeyError: 'service_name'``) or
    actions that are not a list (taken apart into letters or keys): a TypeError naming the job, nothing sent."""
    with pytest.raises(TypeError) as raised:
        client.call_jobs_parallel(jobs)
    assert str(raised.value).startswith(message)
    assert _Echo.runs == []


def test_the_actions_of_a_parallel_job_may_be_any_iterable(client: Client) -> None:
    """A job's actions may still be a tuple or a generator, as before."""
    responses = client.call_jobs_parallel(
        [
            {"service_name": "echo", "actions": ({"action": "echo", "body": {"n": 1}},)},
            {"service_name": "echo", "actions": (a for a in [{"action": "echo", "body": {"n": 2}}])},
        ]
    )
    assert [r.actions[0].action for r in responses] == ["echo", "echo"]
    assert sorted(body["n"] for body in _Echo.runs) == [1, 2]


def test_a_mistaken_action_of_a_parallel_action_call_is_named_by_its_place_among_them(client: Client) -> None:
    """``call_actions_parallel`` sends one job per action: a wrong one is still named by its place in the list given
    (it was named ``actions[0]``, the first action of its own job), and nothing is sent."""
    with pytest.raises(TypeError, match=r"^actions\[1\]: .*got 'b'"):
        list(client.call_actions_parallel("echo", [{"action": "echo", "body": {}}, "b"]))
    assert _Echo.runs == []


def test_a_mistaken_action_of_an_async_parallel_action_call_is_named_by_its_place_among_them() -> None:
    """The same for ``AsyncClient.call_actions_parallel``."""
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": _EchoServer, "server_settings": {}},
    }
    _Echo.runs.clear()
    async_client = AsyncClient({"echo": {"transport": transport}})
    with pytest.raises(TypeError, match=r"^actions\[1\]: .*got 'b'"):
        asyncio.run(async_client.call_actions_parallel("echo", [{"action": "echo", "body": {}}, "b"]))
    assert _Echo.runs == []


@attr.s
class _Query:
    name: str = attr.ib()
    limit: int = attr.ib(default=10)


def test_an_attrs_body_is_sent_as_a_dict_in_either_form_of_action(client: Client) -> None:
    """A body that is an attrs object goes in wire form, a dict, as PySOA's ``attr.asdict`` sent it (the check of
    dict bodies refused it for a while): as an ``ActionRequest`` and as a dict action."""
    client.call_actions("echo", [ActionRequest(action="echo", body=_Query("x"))])
    client.call_actions("echo", [{"action": "echo", "body": _Query("y", 2)}])
    assert _Echo.runs == [{"name": "x", "limit": 10}, {"name": "y", "limit": 2}]
