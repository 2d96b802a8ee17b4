"""The gateway's ASGI app in-process, in front of a service on the local transport: what it answers without Redis.

Each test drives the app with ASGI messages (no server, no socket), so a test can send what a real client
would: a body cut short by a disconnect, headers an HTTP client library would not send.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import pytest

from pysoa_like.gateway import create_app
from pysoa_like.server.action import Action
from pysoa_like.server.action.introspection import IntrospectionAction
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

LOCAL = "pysoa_like.common.transport.local:LocalClientTransport"
Message = dict[str, Any]


class Echo(Action):
    """Answers its body."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(request.body)


class Switches(Action):
    """Answers the request's switches, sorted."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"switches": sorted(request.switches)}


def server_class(actions: dict[str, type[Action]]) -> type[Server]:
    """A new server class (its own action map, which a test may change) of the service ``tools``."""
    return type("ToolsServer", (Server,), {"service_name": "tools", "action_class_map": dict(actions)})


def gateway(server: type[Server], **settings: Any) -> Any:
    """The gateway app exposing every action of ``server``'s service, on the local transport."""
    local = {"path": LOCAL, "kwargs": {"server_class": server, "server_settings": {}}}
    return create_app({"tools": {"transport": local}}, {"expose": {"tools": "*"}, **settings})


async def exchange(
    app: Any,
    method: str,
    path: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    incoming: Iterable[Message],
) -> list[Message]:
    """What ``app`` sends for one HTTP request whose ``receive()`` gives ``incoming`` (then waits, as a client
    that sends nothing more would make it); ``headers`` as pairs may name a header more than once."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost"), *((k.lower().encode(), v.encode()) for k, v in pairs)],
        "server": ("localhost", 80),
        "client": ("127.0.0.1", 50000),
    }
    pending = iter(incoming)
    sent: list[Message] = []

    async def receive() -> Message:
        message = next(pending, None)
        if message is None:
            await asyncio.sleep(3600)
        assert message is not None
        return message

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 10)
    return sent


def run_with_lifespan(app: Any, calls: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``calls()`` inside the app's lifespan (the gateway's client is closed at its end)."""

    async def run() -> Any:
        async with app.router.lifespan_context(app):
            return await calls()

    return asyncio.run(run())


def answer_of(sent: list[Message]) -> tuple[int, Any]:
    """The status and the decoded JSON body of a complete answer."""
    assert sent[0]["type"] == "http.response.start"
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], json.loads(body)


@pytest.mark.parametrize("value", [",1", "1,,2", "1,", "1, ,2", ","])
def test_x_switches_with_an_empty_item_is_400_saying_so(value: str) -> None:
    """An X-Switches header with an empty item (a comma at an end, two in a row) is refused with 400 on the field
    X-Switches, saying an item is empty and that comma-separated integers are expected; ``1,,2`` was accepted
    as [1, 2], and ``,1`` refused as "got ''"."""
    app = gateway(server_class({"echo": Echo}))
    request = [{"type": "http.request", "body": b"{}", "more_body": False}]
    headers = {"Content-Type": "application/json", "X-Switches": value}
    status, body = answer_of(run_with_lifespan(app, lambda: exchange(app, "POST", "/tools/echo", headers, request)))
    assert status == 400
    error = body["errors"][0]
    assert (error["code"], error["field"]) == ("BAD_REQUEST", "X-Switches")
    assert "X-Switches" in error["message"] and "empty item" in error["message"]
    assert "comma-separated integers" in error["message"]


def test_x_switches_separated_by_commas_and_spaces_still_go_through() -> None:
    """Commas with spaces around them, and spaces alone, still separate switches."""
    app = gateway(server_class({"switches": Switches}))
    request = [{"type": "http.request", "body": b"", "more_body": False}]
    headers = {"X-Switches": " 5 , 1 12,3 "}
    status, body = answer_of(run_with_lifespan(app, lambda: exchange(app, "POST", "/tools/switches", headers, request)))
    assert (status, body) == (200, {"switches": [1, 3, 5, 12]})


def test_x_switches_sent_as_several_header_lines_are_one_list() -> None:
    """X-Switches sent on several lines is one comma-separated list (RFC 9110 section 5.3): every line's switches go
    to the call; only the first line's did."""
    app = gateway(server_class({"switches": Switches}))
    request = [{"type": "http.request", "body": b"", "more_body": False}]
    headers = [("X-Switches", "5, 1"), ("X-Request-ID", "lines-1"), ("X-Switches", "12"), ("X-Switches", " 3 4 ")]
    status, body = answer_of(run_with_lifespan(app, lambda: exchange(app, "POST", "/tools/switches", headers, request)))
    assert (status, body) == (200, {"switches": [1, 3, 4, 5, 12]})


@pytest.mark.parametrize(("header", "values"), [("X-Timeout", ("5", "0.5")), ("X-Request-ID", ("first", "second"))])
def test_a_single_value_header_sent_on_several_lines_is_400(header: str, values: tuple[str, str]) -> None:
    """X-Timeout and X-Request-ID hold one value: sent twice, the request is ambiguous, and is refused with a 400
    naming the header (the first line was taken without a word, and the others dropped)."""
    app = gateway(server_class({"switches": Switches}))
    request = [{"type": "http.request", "body": b"", "more_body": False}]
    headers = [(header, values[0]), ("X-Switches", "1"), (header, values[1])]
    status, body = answer_of(run_with_lifespan(app, lambda: exchange(app, "POST", "/tools/switches", headers, request)))
    assert status == 400, body
    error = body["errors"][0]
    assert (error["code"], error["field"]) == ("BAD_REQUEST", header)
    assert "2 times" in error["message"], error["message"]


@pytest.mark.parametrize(("later", "wrong"), [("1,,2", "empty item"), ("2, 1_5", "'1_5'")])
def test_a_wrong_item_on_a_later_x_switches_line_is_400(later: str, wrong: str) -> None:
    """Each X-Switches line is checked as a single one is: an empty item or a number with an underscore on the second
    line is a 400 on X-Switches (that line was not read)."""
    app = gateway(server_class({"switches": Switches}))
    request = [{"type": "http.request", "body": b"", "more_body": False}]
    headers = [("X-Switches", "1"), ("X-Switches", later)]
    status, body = answer_of(run_with_lifespan(app, lambda: exchange(app, "POST", "/tools/switches", headers, request)))
    assert status == 400, body
    error = body["errors"][0]
    assert (error["code"], error["field"]) == ("BAD_REQUEST", "X-Switches")
    assert wrong in error["message"]


@pytest.mark.parametrize("path", ["/tools/echo", "/tools"])
def test_a_client_gone_in_the_middle_of_its_body_is_one_quiet_line(path: str, caplog: pytest.LogCaptureFixture) -> None:
    """A client that disconnects while sending its body gets no answer (it is gone) and is logged as one INFO
    line without a traceback; it was logged as an ERROR with a traceback and answered 500 GATEWAY_ERROR."""
    app = gateway(server_class({"echo": Echo}))
    cut_short = [
        {"type": "http.request", "body": b'{"actions": [{"act', "more_body": True},
        {"type": "http.disconnect"},
    ]
    headers = {"Content-Type": "application/json", "Content-Length": "100", "X-Request-ID": "gone-1"}
    with caplog.at_level(logging.DEBUG, logger="pysoa_like"):
        sent = run_with_lifespan(app, lambda: exchange(app, "POST", path, headers, cut_short))
    assert sent == []
    records = [record for record in caplog.records if record.name.startswith("pysoa_like.gateway")]
    assert [record.levelno for record in records] == [logging.INFO], [record.getMessage() for record in records]
    assert records[0].exc_info is None and "\n" not in records[0].getMessage()
    assert "gone-1" in records[0].getMessage() and "disconnected" in records[0].getMessage()


def test_openapi_refresh_seconds_0_describes_the_services_as_they_are_at_each_request() -> None:
    """With openapi_refresh_seconds 0, each GET /openapi.json gets a document built for it, so an action added
    since the previous request is in it; the previous document was answered while the next was built."""
    server = server_class({"echo": Echo})
    app = gateway(server, openapi_refresh_seconds=0)
    get = [{"type": "http.request", "body": b"", "more_body": False}]

    async def calls() -> list[set[str]]:
        paths = []
        for added in ("first", "second"):
            status, document = answer_of(await exchange(app, "GET", "/openapi.json", {}, get))
            assert status == 200
            paths.append({path for path in document["paths"] if path.count("/") == 2})
            server.action_class_map[added] = Echo
        return paths

    assert run_with_lifespan(app, calls) == [{"/tools/echo"}, {"/tools/echo", "/tools/first"}]


def test_openapi_refresh_seconds_0_shares_one_build_among_requests_that_wait_together() -> None:
    """With openapi_refresh_seconds 0, requests of the document that arrive while one is being built share the next
    build (each still gets a document begun after it arrived): 8 at once ask the service at most twice. Each was
    built in turn for each request under the lock, so the last waited for 8 builds, and a flood of requests queued
    without bound, each for one more ``introspect`` round."""
    introspected = []

    class SlowIntrospection(IntrospectionAction):
        def run(self, request: EnrichedActionRequest) -> Any:
            introspected.append(request.action)
            time.sleep(0.2)
            return super().run(request)

    server = server_class({"echo": Echo})
    server.introspection_action = SlowIntrospection
    app = gateway(server, openapi_refresh_seconds=0)
    get = [{"type": "http.request", "body": b"", "more_body": False}]

    async def calls() -> list[tuple[int, Any]]:
        sent = await asyncio.gather(*(exchange(app, "GET", "/openapi.json", {}, get) for _ in range(8)))
        return [answer_of(messages) for messages in sent]

    answers = run_with_lifespan(app, calls)
    assert [status for status, _ in answers] == [200] * 8
    assert all("/tools/echo" in document["paths"] for _, document in answers)
    assert 1 <= len(introspected) <= 2, introspected


@pytest.mark.parametrize("value", ["1_5", "5, 1_000"])
def test_x_switches_with_an_underscore_in_a_number_is_400(value: str) -> None:
    """Python's ``int`` reads ``1_5`` as 15: a typo for ``1,5`` was taken as switch 15 without a word. Switches are
    plain decimal integers, so it is a 400 naming the item."""
    app = gateway(server_class({"echo": Echo}))
    request = [{"type": "http.request", "body": b"{}", "more_body": False}]
    headers = {"Content-Type": "application/json", "X-Switches": value}
    status, body = answer_of(run_with_lifespan(app, lambda: exchange(app, "POST", "/tools/echo", headers, request)))
    assert status == 400, body
    error = body["errors"][0]
    assert (error["code"], error["field"]) == ("BAD_REQUEST", "X-Switches")
    assert "_" in error["message"] and "integers" in error["message"]
