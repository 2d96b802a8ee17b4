"""``pysoa-like gateway`` as a process: it serves the shop over HTTP, and refuses bad options in one line."""

from __future__ import annotations

import http.client
import io
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
import pytest

from pysoa_like.cli import main
from tests.functional.conftest import Runner, kill_runners, spawn_runner
from tests.functional.gateway import shop


@pytest.fixture
def start_gateway(shop_service: Runner, shop_redis_url: str, tmp_path: Path) -> Iterator[object]:
    """Start ``python -m pysoa_like gateway ARGS --port 0``; returns (runner, base URL). Stopped at the end."""
    runners: list[Runner] = []

    def start(*args: str) -> tuple[Runner, str]:
        command = [sys.executable, "-m", "pysoa_like", "gateway", *args, "--port", "0"]
        runner = spawn_runner(command, {"GATEWAY_SHOP_REDIS_URL": shop_redis_url}, tmp_path / f"gw{len(runners)}.log")
        runners.append(runner)
        runner.wait_for_log("Ctrl-C stops it", timeout=30)
        match = re.search(r" on (http://127\.0\.0\.1:\d+)/ \(docs: http://127\.0\.0\.1:\d+/docs;", runner.log())
        assert match is not None, runner.log()
        return runner, match.group(1)

    yield start
    for runner in runners:
        if runner.process.poll() is None:
            runner.terminate(15)
    kill_runners(runners)


def test_the_gateway_command_serves_the_settings_modules_services(start_gateway: object) -> None:
    """With a settings module (SOA_CLIENT_SETTINGS, GATEWAY_SETTINGS) it serves what is exposed; SIGTERM stops it."""
    runner, url = start_gateway("--settings", "tests.functional.gateway.shop")  # type: ignore[operator]
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/shop/square", json={"number": 5}).json() == {"square": 25}
        token = {"Authorization": f"Bearer {shop.ADMIN_TOKEN}"}
        assert http.post("/shop/cancel_order", json={"order_id": 3}, headers=token).status_code == 200
        assert http.post("/shop/hidden", json={}).status_code == 404
        assert set(http.get("/openapi.json").json()["paths"]) >= {"/shop/square", "/shop/typed"}
        assert http.get("/healthz", headers={"Host": "rebind.example"}).status_code == 400  # loopback names only
    # uvicorn shuts down gracefully (and re-raises the signal it stopped for, which the command then ignores).
    assert runner.terminate(15) == 0
    assert shop.ADMIN_TOKEN not in runner.log()


def test_a_kept_alive_connection_gets_its_answers_without_delay(start_gateway: object) -> None:
    """Answers are not held for the client's delayed ACK (40 ms each without TCP_NODELAY on the server's side)."""
    _, url = start_gateway("--settings", "tests.functional.gateway.shop")  # type: ignore[operator]
    connection = http.client.HTTPConnection(url.split("//")[1], timeout=30)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        started = time.monotonic()
        for _ in range(50):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert response.status == 200 and response.read()
        elapsed = time.monotonic() - started
    finally:
        connection.close()
    assert elapsed < 1.5, f"50 requests took {elapsed:.2f} s (each waited for a delayed ACK: at least 2 s in all)"


def test_options_override_the_settings(start_gateway: object, shop_redis_url: str) -> None:
    """--redis-url with --expose SERVICE:ACTIONS, --title and --cors-origin make the gateway they say."""
    _, url = start_gateway(  # type: ignore[operator]
        "--redis-url", shop_redis_url, "--expose", "shop:square,echo", "--title", "Shop API",
        "--cors-origin", "https://shop.example", "--timeout", "0.5",
    )  # fmt: skip
    with httpx.Client(base_url=url, timeout=30) as http:
        document = http.get("/openapi.json").json()
        assert set(document["paths"]) == {"/shop/square", "/shop/echo", "/shop", "/healthz"}
        assert document["info"]["title"] == "Shop API"
        call = http.post("/shop/echo", json={}, headers={"Origin": "https://shop.example"})
        assert call.headers["access-control-allow-origin"] == "https://shop.example"
        assert http.post("/shop/typed", json={}).status_code == 404
        assert http.post("/shop/slow", json={"seconds": 2}).status_code == 404


def test_the_concurrency_options_reach_the_gateway(start_gateway: object, shop_redis_url: str) -> None:
    """--max-concurrent-calls 1 --max-waiting-calls 0: with one slow call in flight, another call is refused at
    once with 503 GATEWAY_BUSY (the command had no such options: 64 and 256 then, and the call went through)."""
    _, url = start_gateway(  # type: ignore[operator]
        "--redis-url", shop_redis_url, "--expose", "shop", "--max-concurrent-calls", "1", "--max-waiting-calls", "0",
    )  # fmt: skip
    with httpx.Client(base_url=url, timeout=30) as http:
        slow_answers: list[httpx.Response] = []

        def call_slowly() -> None:
            slow_answers.append(http.post("/shop/slow", json={"seconds": 4}, headers={"X-Timeout": "20"}))

        slow = threading.Thread(target=call_slowly)
        slow.start()
        try:
            time.sleep(1.5)  # the slow call is in flight by then, even on a loaded machine
            started = time.monotonic()
            refused = http.post("/shop/square", json={"number": 2}, headers={"X-Timeout": "8"})
            elapsed = time.monotonic() - started
        finally:
            slow.join(30)
        assert refused.status_code == 503, refused.text
        assert refused.json()["errors"][0]["code"] == "GATEWAY_BUSY" and elapsed < 2, elapsed  # not after its 8 s
        assert [answer.status_code for answer in slow_answers] == [200], slow_answers  # the call it waited behind
        assert http.post("/shop/square", json={"number": 2}).json() == {"square": 4}


def test_the_concurrency_options_are_in_the_help() -> None:
    """`pysoa-like gateway --help` lists --max-concurrent-calls and --max-waiting-calls with their defaults."""
    stdout = io.StringIO()
    with redirect_stdout(stdout), pytest.raises(SystemExit):
        main(["gateway", "--help"])
    text = " ".join(stdout.getvalue().split())
    assert "--max-concurrent-calls N" in text and "(default 64)" in text
    assert "--max-waiting-calls N" in text and "(default 256; 0: none waits)" in text


def _run(*args: str) -> tuple[int, str]:
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = main(["gateway", *args])
    return code, stderr.getvalue()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--redis-url", "redis://127.0.0.1:9/0"), "say what to expose: --expose SERVICE"),
        (("--redis-url", "redis://127.0.0.1:9/0", "--expose", ":x"), "--expose takes SERVICE"),
        (
            ("--redis-url", "redis://127.0.0.1:9/0", "--expose", "shop", "--timeout", "0"),
            "bad gateway settings: timeout",
        ),
        (("--redis-url", "redis://127.0.0.1:9/0", "--expose", "shop", "--port", "70000"), "--port must be between"),
        (
            ("--redis-url", "redis://127.0.0.1:9/0", "--expose", "shop", "--allowed-host", "*example.com"),
            "bad gateway settings: allowed_hosts: '*example.com' is not",
        ),
        (
            ("--redis-url", "redis://127.0.0.1:9/0", "--expose", "shop", "--max-concurrent-calls", "0"),
            "bad gateway settings: max_concurrent_calls must be a positive integer, got 0",
        ),
        (
            ("--redis-url", "redis://127.0.0.1:9/0", "--expose", "shop", "--max-waiting-calls", "-1"),
            "bad gateway settings: max_waiting_calls must be an integer, 0 or more, got -1",
        ),
        (("--settings", "tests.functional.gateway.shop", "--expose", "billing"), "service 'billing' is not in"),
        (("--settings", "no_such_settings_module"), "cannot import settings module"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(args: tuple[str, ...], words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad options or settings: exit 2 and one error line naming the problem (no traceback, nothing served)."""
    monkeypatch.delenv("PYSOA_LIKE_REDIS_URL", raising=False)
    monkeypatch.delenv("PYSOA_LIKE_SETTINGS", raising=False)
    code, stderr = _run(*args)
    assert code == 2
    assert stderr.startswith("pysoa-like gateway: error: ") and words in stderr
    assert stderr.count("\n") == 1


def test_a_port_in_use_is_a_usage_error(shop_redis_url: str) -> None:
    """Listening on a port that is taken exits 2 saying so."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        code, stderr = _run("--redis-url", shop_redis_url, "--expose", "shop", "--port", port)
    assert code == 2 and "cannot listen on 127.0.0.1:" in stderr


def test_the_command_is_listed_in_the_help() -> None:
    """`pysoa-like --help` names the gateway command and an example."""
    stdout = io.StringIO()
    with redirect_stdout(stdout), pytest.raises(SystemExit):
        main(["--help"])
    assert "gateway" in stdout.getvalue() and "pysoa-like gateway --settings" in stdout.getvalue()
