"""The ``pysoa-like`` commands as subprocesses against a real Redis and a real ``serve`` process.

Exit codes: 0 success, 1 the service answered with errors, 2 usage error, 3 transport error or timeout.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysoa_like.client.client import Client
from pysoa_like.test.redis import RedisSentinelProcess, RedisServerProcess, pick_free_port
from tests.functional.conftest import CLIENT_TRANSPORT, REPO_ROOT, kill_groups, wait_for

SERVICE_COMMAND = ["serve", "tests.functional.service:FunctionalServer", "--settings", "tests.functional.service"]


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pysoa_like ARGS`` and return what it did."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYSOA_LIKE_REDIS_URL", "PYSOA_LIKE_SETTINGS")}
    full_env["PYTHONPATH"] = str(REPO_ROOT)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pysoa_like", *args],
        cwd=REPO_ROOT,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _client(url: str) -> Client:
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [url]}}
    return Client({"functional": {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}})


def _answers(url: str) -> bool:
    try:
        _client(url).call_action("functional", "who", {}, timeout=1)
        return True
    except Exception:
        return False


class _Service:
    """A ``serve`` process of the functional service (its own session, stopped by process group)."""

    def __init__(self, url: str, log: Path, **env: str) -> None:
        full_env = dict(os.environ, FUNCTIONAL_REDIS_URL=url, PYTHONPATH=str(REPO_ROOT), **env)
        with open(log, "wb") as stream:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pysoa_like", *SERVICE_COMMAND, "--fork", "0"],
                cwd=REPO_ROOT,
                env=full_env,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: _answers(url), timeout=20)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                kill_groups([self.process])


@pytest.fixture(scope="module")
def url(redis_server: RedisServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis URL of a running functional service (one ``serve`` process for the whole module)."""
    redis_server.flush()
    service = _Service(redis_server.url, tmp_path_factory.mktemp("cli") / "serve.log")
    try:
        yield redis_server.url
    finally:
        service.stop()


@pytest.fixture
def unhealthy_url(redis_server: RedisServerProcess, tmp_path: Path) -> Iterator[str]:
    """A second functional service on database 1 of the same Redis, whose health check reports an error."""
    url = redis_server.url.rsplit("/", 1)[0] + "/1"
    service = _Service(url, tmp_path / "unhealthy.log", FUNCTIONAL_UNHEALTHY="1")
    try:
        yield url
    finally:
        service.stop()


# A settings module's helpers: client settings over a Redis backend, and over the Redis at a URL.
_ON_REDIS = (
    "def _over(backend_type, backend_layer_kwargs):\n"
    "    return {'transport': {\n"
    "        'path': 'pysoa_like.common.transport.redis_gateway.client:RedisClientTransport',\n"
    "        'kwargs': {'backend_type': backend_type, 'backend_layer_kwargs': backend_layer_kwargs}}}\n"
    "def _on(url):\n"
    "    return _over('redis.standard', {'hosts': [url]})\n"
)


def _dead_redis_url() -> str:
    return f"redis://127.0.0.1:{pick_free_port()}/0"


# call


def test_call_prints_the_body_as_compact_json_when_not_a_terminal(url: str) -> None:
    """`call` with key=value pairs sends typed values and prints the response body on one line; exit 0."""
    result = cli("call", "functional", "echo", "n=7", "ok=true", "ids=[1,2]", "name=Ann", "--redis-url", url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout)["body"] == {"n": 7, "ok": True, "ids": [1, 2], "name": "Ann"}


def test_call_takes_a_json_body_from_an_argument_or_stdin(url: str) -> None:
    """A JSON object argument is the body; `-` reads it from stdin."""
    from_argument = cli("call", "functional", "echo", '{"a": {"b": [1]}}', "--redis-url", url)
    from_stdin = cli("call", "functional", "echo", "-", "--redis-url", url, stdin='{"a": {"b": [1]}}')
    assert json.loads(from_argument.stdout)["body"] == {"a": {"b": [1]}}
    assert json.loads(from_stdin.stdout)["body"] == {"a": {"b": [1]}}


def test_call_sends_switches_context_and_correlation_id(url: str) -> None:
    """--switch, --context and --correlation-id reach the action."""
    result = cli(
        "call", "functional", "echo", "--redis-url", url, "--switch", "5", "--switch", "9",
        "--context", "user_id=12", "--context", '{"locale": "fr"}', "--correlation-id", "corr-1",
    )  # fmt: skip
    body = json.loads(result.stdout)
    assert body["switches"] == [5, 9]
    assert body["context"]["user_id"] == 12
    assert body["context"]["locale"] == "fr"
    assert body["context"]["correlation_id"] == "corr-1"


def test_call_json_prints_the_whole_response(url: str) -> None:
    """--json prints action, body and errors as one JSON line."""
    result = cli("call", "functional", "echo", "x=1", "--redis-url", url, "--json")
    assert json.loads(result.stdout) == {
        "action": "echo",
        "body": {"body": {"x": 1}, "switches": [], "context": json.loads(result.stdout)["body"]["context"]},
        "errors": [],
    }


def test_call_reports_action_errors_readably_and_exits_1(url: str) -> None:
    """An action error is written to stderr as code, field and message (no traceback); exit 1."""
    result = cli("call", "functional", "fail", "--redis-url", url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Error: functional.fail failed:" in result.stderr
    assert "SERVER_ERROR: Internal server error: the functional service failed on purpose" in result.stderr
    assert "--verbose shows it" in result.stderr
    assert "Traceback" not in result.stderr


def test_call_verbose_shows_the_server_traceback(url: str) -> None:
    """--verbose adds the traceback the server sent with a SERVER_ERROR."""
    result = cli("call", "functional", "fail", "--redis-url", url, "--verbose")
    assert result.returncode == 1
    assert "RuntimeError: the functional service failed on purpose" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr


def test_call_json_reports_errors_on_stdout(url: str) -> None:
    """With --json an unknown action's error is a JSON document on stdout; exit 1."""
    result = cli("call", "functional", "nope", "--redis-url", url, "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["action"] == "nope"
    assert document["errors"][0]["code"] == "UNKNOWN"
    assert document["errors"][0]["field"] == "action"


def test_call_times_out_with_exit_3_and_a_hint(url: str) -> None:
    """A service nobody serves: no reply within --timeout, exit 3, and the message says what to check."""
    started = time.monotonic()
    result = cli("call", "nobody_serves_this", "ping", "--redis-url", url, "--timeout", "0.5")
    assert result.returncode == 3
    assert "no response from service 'nobody_serves_this' within 0.5 s" in result.stderr
    assert "no worker took the request; is it running?" in result.stderr
    assert "pysoa-like services" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 15


def test_call_to_a_running_service_slower_than_the_timeout_does_not_ask_whether_it_runs(url: str) -> None:
    """A worker took the request but its action outlasted --timeout: exit 3, and the message says so instead of
    asking whether the service is running."""
    # Given the functional service, idle
    wait_for(lambda: _answers(url), timeout=20)
    # When an action sleeps longer than the call waits
    result = cli("call", "functional", "sleep", "seconds=1.5", "--redis-url", url, "--timeout", "0.5")
    # Then the timeout says a worker took the request, and no hint about a service that is not running
    assert result.returncode == 3, result.stderr
    assert "no response from service 'functional' within 0.5 s" in result.stderr
    assert "a worker took the request but did not reply in time" in result.stderr
    assert "is it running" not in result.stderr
    assert "Traceback" not in result.stderr
    # (The next tests find the worker idle again.)
    wait_for(lambda: _answers(url), timeout=20)


def test_call_to_an_unreachable_redis_exits_3() -> None:
    """A Redis that refuses connections is a transport error: exit 3, one line."""
    result = cli("call", "functional", "echo", "--redis-url", _dead_redis_url(), "--timeout", "1")
    assert result.returncode == 3
    assert "cannot reach service 'functional'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["call", "functional", "echo"], "say where the services are: --redis-url"),
        (["call", "functional", "echo", "{not json", "-r", "redis://x"], "is not valid JSON"),
        (["call", "functional", "echo", "novalue", "-r", "redis://x"], "expected a JSON object or key=value"),
        (["call", "functional", "echo", "-s", "no_such_settings_module"], "cannot import settings module"),
        (["call", "other", "echo", "-s", "tests.functional.cli_settings"], "service 'other' is not in"),
        (["call", "functional"], "the following arguments are required: ACTION"),
        (["call"], "the following arguments are required: SERVICE, ACTION\n"),
        (["show-config", "--settings", "tests.functional.service", "--server", "nope:Nope"], "cannot load the server"),
    ],
)
def test_usage_errors_exit_2_with_one_line(arguments: list[str], message: str) -> None:
    """Bad arguments, bodies, settings modules or service names: exit 2, a message naming the problem."""
    result = cli(*arguments)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["call", "functional", "echo"],
        ["status", "functional"],
        ["health", "functional"],
        ["introspect", "functional"],
        ["services"],
    ],
)
@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_a_usage_error(command: list[str], timeout: str) -> None:
    """--timeout must be a finite number of seconds above 0: anything else exits 2 naming the option, no traceback."""
    result = cli(*command, "--redis-url", _dead_redis_url(), "--timeout", timeout)
    assert result.returncode == 2, result.stderr
    assert "argument -t/--timeout: expected a number of seconds more than 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_call_through_a_settings_module_and_the_installed_script(url: str) -> None:
    """The `pysoa-like` script with --settings (SOA_CLIENT_SETTINGS) works like `python -m pysoa_like`."""
    script = Path(sys.executable).with_name("pysoa-like")
    result = subprocess.run(
        [str(script), "call", "functional", "echo", "v=1", "--settings", "tests.functional.cli_settings"],
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), FUNCTIONAL_REDIS_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["body"] == {"v": 1}


def _run_in_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the command with its stdout on a pseudo-terminal; return the exit code and the output."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pysoa_like", *args],
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), **env),
        stdout=slave,
        stderr=subprocess.DEVNULL,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(master)
    return process.wait(10), b"".join(chunks).decode()


def test_on_a_terminal_json_is_pretty_and_states_are_coloured(url: str) -> None:
    """On a TTY the body is indented JSON and SERVING is green; NO_COLOR turns the colour off."""
    code, text = _run_in_terminal(["call", "functional", "echo", "n=1", "--redis-url", url], {})
    assert code == 0
    assert '\n  "body": {\n    "n": 1\n  }' in text.replace("\r\n", "\n")
    code, text = _run_in_terminal(["health", "functional", "--redis-url", url], {})
    assert (code, text.strip()) == (0, "\x1b[32mSERVING\x1b[0m")
    code, text = _run_in_terminal(["health", "functional", "--redis-url", url], {"NO_COLOR": "1"})
    assert (code, text.strip()) == (0, "SERVING")


# status / health


def test_health_prints_serving_and_exits_0(url: str) -> None:
    """A service whose health checks report no error is SERVING (warnings do not count)."""
    result = cli("health", "functional", "--redis-url", url)
    assert (result.returncode, result.stdout) == (0, "SERVING\n")


def test_health_not_serving_exits_1_with_the_reasons(unhealthy_url: str) -> None:
    """A failing health check makes the service NOT_SERVING: exit 1, the error on stderr."""
    result = cli("health", "functional", "--redis-url", unhealthy_url)
    assert (result.returncode, result.stdout) == (1, "NOT_SERVING\n")
    assert "DATABASE_DOWN: Cannot reach the database" in result.stderr


def test_health_of_a_service_that_does_not_answer_exits_3(url: str) -> None:
    """No answer in time: NOT_SERVING on stdout, exit 3."""
    result = cli("health", "nobody_serves_this", "--redis-url", url, "--timeout", "0.5")
    assert (result.returncode, result.stdout) == (3, "NOT_SERVING\n")


def test_status_shows_versions_and_check_results(unhealthy_url: str) -> None:
    """`status` lists version, build, library versions, check errors and warnings."""
    result = cli("status", "functional", "--redis-url", unhealthy_url)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "functional: NOT_SERVING"
    assert "  version     1.2.3" in lines
    assert "  build       functional-build" in lines
    assert any(line.startswith("  pysoa_like ") for line in lines)
    assert any("DATABASE_DOWN: Cannot reach the database" in line for line in lines)
    assert any("SLOW_DISK: The disk is slow" in line for line in lines)


def test_status_json(url: str) -> None:
    """`status --json` gives the state and the whole status response."""
    document = json.loads(cli("status", "functional", "--redis-url", url, "--json").stdout)
    assert document["status"] == "SERVING"
    assert document["response"]["version"] == "1.2.3"
    assert document["response"]["healthcheck"]["warnings"] == [["SLOW_DISK", "The disk is slow"]]


# introspect


def test_introspect_lists_actions_with_documentation_and_schemas(url: str) -> None:
    """`introspect SERVICE` names every action and shows each one's documentation and schemas."""
    result = cli("introspect", "functional", "--redis-url", url)
    assert result.returncode == 0, result.stderr
    assert "  actions: big, charge, die, echo, fail, introspect, returns, sleep, status, who" in result.stdout
    assert "Returns its body, the request's switches and context" in result.stdout
    # The introspect action's own request schema, rendered field by field.
    assert "action_name (optional): unicode min length 1  - Describe only this action" in result.stdout


def test_introspect_one_action_and_an_unknown_one(url: str) -> None:
    """`introspect SERVICE ACTION` shows only that action; an unknown action is exit 1 with a hint."""
    result = cli("introspect", "functional", "status", "--redis-url", url)
    assert result.stdout.splitlines()[0] == "status", "the action's name comes first, with no blank line before it"
    assert "verbose (optional): boolean" in result.stdout
    assert "echo" not in result.stdout
    unknown = cli("introspect", "functional", "nope", "--redis-url", url)
    assert unknown.returncode == 1
    assert "has no action 'nope'" in unknown.stderr


# services


def test_services_lists_request_queues_with_their_depth(url: str) -> None:
    """Queues holding requests are found by their keys; --no-probe sends nothing."""
    client = _client(url)
    for _ in range(3):
        client.call_action("functional", "who", {}, suppress_response=True)  # served at once: no backlog
    unserved = Client({"ghost_cli": client.config["functional"]})
    for _ in range(3):
        unserved.call_action("ghost_cli", "anything", {}, suppress_response=True, timeout=30)
    result = cli("services", "--redis-url", url, "--no-probe")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    # The functional service's worker registers itself: the registry's columns (and its version) show.
    assert rows[0] == ["SERVICE", "QUEUED", "INSTANCES", "IN-FLIGHT", "VERSION", "STATUS"]
    assert ["ghost_cli", "3", "-", "-", "-", "-"] in rows
    functional = next(row for row in rows if row[0] == "functional")
    assert functional[2:3] == ["1"] and functional[4:] == ["1.2.3", "-"]


def test_services_probes_named_and_configured_services(url: str) -> None:
    """Named and configured services are listed even with empty queues; a status call tells who answers."""
    result = cli(
        "services", "--settings", "tests.functional.cli_settings", "--timeout", "1", env={"FUNCTIONAL_REDIS_URL": url}
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    functional = rows["functional"].split()
    assert functional[:3] == ["functional", "0", "1"] and functional[-2:] == ["1.2.3", "answering"]
    assert rows["quiet"].split()[:5] == ["quiet", "0", "-", "-", "-"]
    assert "no reply in 1s" in rows["quiet"]


def test_services_json(url: str) -> None:
    """--json gives one object per service, with the registry's fields (null for services not registered)."""
    document = json.loads(cli("services", "functional", "ghost_json", "--redis-url", url, "--json").stdout)
    functional = next(row for row in document if row["name"] == "functional")
    assert functional == {
        "name": "functional",
        "queued": 0,
        "instances": 1,
        "versions": ["1.2.3"],
        "in_flight": functional["in_flight"],
        "status": "answering",
    }
    assert functional["in_flight"] in (0, 1)
    ghost = next(row for row in document if row["name"] == "ghost_json")
    assert (ghost["instances"], ghost["in_flight"]) == (None, None)


def test_a_service_found_in_the_registry_with_an_empty_queue_shows_0_queued(url: str) -> None:
    """A registered service not named anywhere, whose queue key Redis deleted (empty), has 0 requests queued:
    its queue was read like the others (it showed as unknown, ``-``)."""
    document = json.loads(cli("services", "--redis-url", url, "--json", "--no-probe").stdout)
    functional = next(row for row in document if row["name"] == "functional")
    assert (functional["instances"], functional["queued"]) == (1, 0)


def test_services_on_an_unreachable_redis_exits_3() -> None:
    """The queues cannot be read: exit 3, one line."""
    result = cli("services", "--redis-url", _dead_redis_url())
    assert result.returncode == 3
    assert "cannot read the request queues" in result.stderr


def test_services_whose_sentinels_list_no_service_exits_3(tmp_path: Path) -> None:
    """Sentinel settings without sentinel_services, and no Sentinel answers the discovery of the services: Redis
    cannot be reached, so exit 3 naming the Sentinel asked (it was exit 2, calling the Redis settings unusable)."""
    sentinel = f"127.0.0.1:{pick_free_port()}"
    (tmp_path / "discovering_settings.py").write_text(
        "SOA_CLIENT_SETTINGS = {'calculator': {'transport': {\n"
        "    'path': 'pysoa_like.common.transport.redis_gateway.client:RedisClientTransport',\n"
        "    'kwargs': {'backend_type': 'redis.sentinel',\n"
        f"               'backend_layer_kwargs': {{'hosts': [{sentinel!r}]}}}}}}}}}}\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    result = cli("services", "--settings", "discovering_settings", env=env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(
        f"pysoa-like services: error: cannot read the request queues on the Redis of the Sentinels {sentinel}: No "
        "sentinel_services configured and none could "
        f"be discovered with SENTINEL MASTERS (asked {sentinel}: "
    )
    assert "Traceback" not in result.stderr


def test_services_on_several_redis_shows_the_depths_it_cannot_read_as_unknown(
    redis_server: RedisServerProcess, tmp_path: Path
) -> None:
    """Settings naming services on two Redis, one of them down: the listing still works, the depth of the service
    on the Redis that cannot be read is unknown (``-``, null in JSON), not 0 as if its queue were empty, and both
    warnings (request queues, service registry) name that Redis the same way: its address and database."""
    alive_url = redis_server.url.rsplit("/", 1)[0] + "/5"
    dead_url = _dead_redis_url().rsplit("/", 1)[0] + "/3"
    dead_address = dead_url.split("//", 1)[1].rsplit("/", 1)[0]
    (tmp_path / "two_redis_settings.py").write_text(
        f"{_ON_REDIS}SOA_CLIENT_SETTINGS = {{'here': _on({alive_url!r}), 'gone': _on({dead_url!r})}}\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    with redis_server.client(db=5) as client:
        client.rpush("pysoa:service.here", b"1", b"2")
        try:
            table = cli("services", "--settings", "two_redis_settings", "--no-probe", env=env)
            document = cli("services", "--settings", "two_redis_settings", "--no-probe", "--json", env=env)
        finally:
            client.delete("pysoa:service.here")
    assert (table.returncode, document.returncode) == (0, 0), table.stderr
    assert [line.split() for line in table.stdout.splitlines()] == [["SERVICE", "QUEUED"], ["gone", "-"], ["here", "2"]]
    assert [(row["name"], row["queued"]) for row in json.loads(document.stdout)] == [("gone", None), ("here", 2)]
    warnings = table.stderr.splitlines()
    assert warnings[0].startswith(f"Warning: cannot read the request queues on Redis {dead_address} db 3: "), warnings
    assert "(QUEUED shows - for the services sent there" in warnings[0], warnings
    assert warnings[1].startswith(f"Warning: cannot read the service registry on Redis {dead_address} db 3: "), warnings
    assert len(warnings) == 2, warnings


def test_services_shows_a_depth_read_on_a_live_redis_though_its_service_falls_back_to_one_that_failed(
    redis_server: RedisServerProcess, tmp_path: Path
) -> None:
    """Server settings only, their own Redis down, client_routing sending one service to a live Redis: a service
    without a routing entry of its own (so sent, by the settings, over the server's Redis) whose requests are found
    queued on the live Redis shows that depth, not ``-``: only depths that could not be read are unknown."""
    alive_url = redis_server.url.rsplit("/", 1)[0] + "/5"
    (tmp_path / "fallback_settings.py").write_text(
        f"{_ON_REDIS}SOA_SERVER_SETTINGS = {{\n"
        "    'transport': {'path': 'pysoa_like.common.transport.redis_gateway.server:RedisServerTransport',\n"
        "                  'kwargs': {'backend_type': 'redis.standard',\n"
        f"                             'backend_layer_kwargs': {{'hosts': [{_dead_redis_url()!r}]}}}}}},\n"
        f"    'client_routing': {{'here': _on({alive_url!r})}}}}\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    with redis_server.client(db=5) as client:
        client.rpush("pysoa:service.here", b"1", b"2")
        client.rpush("pysoa:service.elsewhere", b"1", b"2", b"3")
        try:
            result = cli("services", "--settings", "fallback_settings", "--no-probe", env=env)
        finally:
            client.delete("pysoa:service.here", "pysoa:service.elsewhere")
    assert result.returncode == 0, result.stderr
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["SERVICE", "QUEUED"],
        ["elsewhere", "3"],
        ["here", "2"],
    ]
    # The warning does not say every service sent to the Redis that failed shows -: one shows what was read.
    assert "or only what other Redis hold of theirs" in result.stderr, result.stderr


def test_services_names_the_sentinel_service_whose_master_cannot_be_found(tmp_path: Path) -> None:
    """Sentinel settings with two services, the second unknown to the Sentinel: the error names that service's
    master, not the master of the first service, read just before (it named that healthy master)."""
    with RedisServerProcess() as master, RedisSentinelProcess([("a", *master.address)]) as sentinel:
        layer = {"hosts": [f"127.0.0.1:{sentinel.port}"], "sentinel_services": ["a", "b"]}
        (tmp_path / "two_services_settings.py").write_text(
            f"{_ON_REDIS}SOA_CLIENT_SETTINGS = {{'calculator': _over('redis.sentinel', {layer!r})}}\n"
        )
        env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
        result = cli("services", "--settings", "two_services_settings", "--no-probe", env=env)
        healthy_master = f"127.0.0.1:{master.port}"
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(
        "pysoa-like services: error: cannot read the request queues on the master of Sentinel service 'b': "
    ), result.stderr
    assert healthy_master not in result.stderr


def test_services_with_invalid_client_settings_exits_2_naming_the_service(
    redis_server: RedisServerProcess, tmp_path: Path
) -> None:
    """Client settings with a misspelt key: `services` says which service's settings are invalid and why, exit 2
    (it was a SettingsError traceback, exit 1)."""
    (tmp_path / "misspelt_settings.py").write_text(
        "SOA_CLIENT_SETTINGS = {'calculator': {'transport': {\n"
        "    'path': 'pysoa_like.common.transport.redis_gateway.client:RedisClientTransport',\n"
        "    'kwargs': {'backend_type': 'redis.standard', 'recieve_timeout_in_seconds': 2,\n"
        f"               'backend_layer_kwargs': {{'hosts': [{redis_server.url!r}]}}}}}}}}}}\n"
    )
    result = cli(
        "services",
        "--settings",
        "misspelt_settings",
        env={"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])},
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "pysoa-like services: error: the client settings of 'calculator' are invalid: Invalid ClientSettings:\n"
    )
    assert "did you mean 'receive_timeout_in_seconds'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_made_a_tuple_by_a_trailing_comma_are_an_error_not_ignored(url: str, tmp_path: Path) -> None:
    """``SOA_CLIENT_SETTINGS = {...},`` (a tuple): exit 2 naming it and the likely slip; the client settings were
    silently ignored and the call went over the server settings' transport instead."""
    (tmp_path / "comma_settings.py").write_text(
        "from tests.functional.cli_settings import SOA_CLIENT_SETTINGS as CLIENT, SOA_SERVER_SETTINGS\n"
        "SOA_CLIENT_SETTINGS = CLIENT,\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]), "FUNCTIONAL_REDIS_URL": url}
    result = cli("call", "functional", "echo", "--settings", "comma_settings", env=env)
    assert (result.returncode, result.stderr) == (
        2,
        "pysoa-like call: error: SOA_CLIENT_SETTINGS in settings module 'comma_settings' must be a dict, got tuple "
        "(a trailing comma after the closing brace makes a tuple)\n",
    )


@pytest.mark.parametrize("command", [["call", "functional", "echo"], ["services"], ["health", "functional"]])
def test_a_redis_url_of_another_scheme_is_a_usage_error_with_the_password_masked(command: list[str]) -> None:
    """--redis-url http://...: exit 2 saying the scheme cannot be used (it was taken as a host name, and
    `services` ended in a ValueError traceback), with the URL's password masked."""
    result = cli(*command, "--redis-url", "http://user:hunter2@127.0.0.1:1/0")
    assert result.returncode == 2, result.stderr
    assert "the Redis URL 'http://user:" in result.stderr
    assert "cannot be used: unsupported URL scheme 'http' in a Redis host" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_services_with_a_redis_host_it_cannot_use_in_the_settings_exits_2(tmp_path: Path) -> None:
    """A settings module whose host names a database that is not a number: `services` exits 2 naming the problem
    (a ValueError traceback while it read the request queues)."""
    (tmp_path / "bad_database_settings.py").write_text(
        "SOA_CLIENT_SETTINGS = {'calculator': {'transport': {\n"
        "    'path': 'pysoa_like.common.transport.redis_gateway.client:RedisClientTransport',\n"
        "    'kwargs': {'backend_type': 'redis.standard',\n"
        "               'backend_layer_kwargs': {'hosts': ['redis://127.0.0.1:1/x']}}}}}\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    result = cli("services", "--settings", "bad_database_settings", env=env)
    assert (result.returncode, result.stderr) == (
        2,
        "pysoa-like services: error: cannot use the Redis settings to read the request queues: the database in a "
        "Redis URL must be a whole number, got 'x'\n",
    )


# shell


def test_shell_command_runs_with_call_and_status_helpers(url: str) -> None:
    """`shell -c CODE` runs CODE with `call`, `status` and `client` defined."""
    code = "print(call('functional', 'echo', {'k': 2})['body']); print(status('functional')['version'])"
    result = cli("shell", "--redis-url", url, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["{'k': 2}", "1.2.3"]


def test_shell_command_error_is_one_line_and_exit_1(url: str) -> None:
    """An exception in `shell -c` code is shown as its type and message; exit 1."""
    result = cli("shell", "--redis-url", url, "-c", "call('functional', 'fail')")
    assert result.returncode == 1
    assert result.stderr.startswith("pysoa_like.client.errors.CallActionError:")


def test_shell_reads_statements_from_stdin_in_the_plain_console(url: str) -> None:
    """The interactive console evaluates what it reads, with the helpers in scope."""
    result = cli("shell", "--redis-url", url, "--plain", stdin="call('functional', 'echo', {'k': 3})['body']\n")
    assert result.returncode == 0, result.stderr
    assert "{'k': 3}" in result.stdout
    assert "call(service, action, body=None, **kwargs)" in result.stderr  # the banner


def test_shell_uses_ipython_when_it_is_importable(url: str, tmp_path: Path) -> None:
    """With an importable IPython the shell starts it through start_ipython with the helpers as user_ns."""
    # Given: a stand-in IPython package that reports what it was started with.
    package = tmp_path / "IPython"
    package.mkdir()
    (package / "__init__.py").write_text(
        "def start_ipython(argv, user_ns):\n"
        "    print('started', argv, sorted(k for k in user_ns if not k.startswith('_')))\n"
    )
    result = cli("shell", "--redis-url", url, env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO_ROOT}"})
    assert result.returncode == 0, result.stderr
    assert "started [] ['call', 'client', 'introspect', 'pprint', 'status', 'target']" in result.stdout


# show-config


def test_show_config_fills_defaults_and_masks_secrets() -> None:
    """Server settings get every default; passwords in kwargs and URLs are masked."""
    result = cli("show-config", "--settings", "tests.functional.cli_settings", env={"CLI_TEST_PASSWORD": "hunter2"})
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    server = document["server"]
    assert server["harakiri"] == {"timeout": 300, "shutdown_grace": 30}
    assert server["request_log_success_level"] == "INFO"
    assert server["metrics"]["path"] == "pysoa_like.common.metrics:NoOpMetricsRecorder"
    routed = server["client_routing"]["billing"]["transport"]["kwargs"]["backend_layer_kwargs"]["hosts"]
    assert routed == ["redis://reader:**********@127.0.0.1:1/0"]
    quiet = document["clients"]["quiet"]["transport"]["kwargs"]["backend_layer_kwargs"]["connection_kwargs"]
    assert quiet == {"password": "**********"}
    assert "hunter2" not in result.stdout
    assert "topsecret" not in result.stdout


def test_show_config_masks_the_api_tokens_and_shows_whose_they_are(tmp_path: Path) -> None:
    """The API token middleware's ``tokens`` map each subject to its token(s) and ``signing_keys`` each key id to its
    key: the tokens and keys are masked, the subjects and key ids (not secrets) are shown, so an operator can
    check who is configured."""
    (tmp_path / "token_settings.py").write_text(
        "SOA_SERVER_SETTINGS = {'transport': {\n"
        "    'path': 'pysoa_like.common.transport.local:LocalServerTransport'},\n"
        "  'middleware': [{'path': 'pysoa_like.auth:ApiTokenMiddleware', 'kwargs': {\n"
        "    'tokens': {'reports': 'reports-t0k3n-0123456789', 'billing': [{'token': 'billing-t0k3n-0123456789'}]},\n"
        "    'signing_keys': {'2026-11': 'signing-key-0123456789-0123456789-0123456789'}}}]}\n"
    )
    result = cli(
        "show-config", "--settings", "token_settings", env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO_ROOT}"}
    )
    assert result.returncode == 0, result.stderr
    assert "0123456789" not in result.stdout
    kwargs = json.loads(result.stdout)["server"]["middleware"][0]["kwargs"]
    assert kwargs["tokens"] == {"reports": "**********", "billing": [{"token": "**********"}]}
    assert kwargs["signing_keys"] == {"2026-11": "**********"}


def test_show_config_uses_the_server_class_settings_and_reports_invalid_settings(tmp_path: Path) -> None:
    """--server validates with that class's settings; an invalid value is exit 2 naming the key."""
    server = "tests.functional.service:FunctionalServer"
    result = cli("show-config", "--settings", "tests.functional.service", "--server", server, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout)["server"]["harakiri"]["timeout"] == 300
    (tmp_path / "bad_cli_settings.py").write_text("SOA_SERVER_SETTINGS = {'harakiri': {'timeout': -1}}\n")
    bad = cli("show-config", "--settings", "bad_cli_settings", env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO_ROOT}"})
    assert bad.returncode == 2
    assert "the server settings are invalid" in bad.stderr
    assert "harakiri.timeout" in bad.stderr


def test_help_of_every_command_has_examples() -> None:
    """`--help` works for the command and each subcommand, with an examples section."""
    for command in ([], ["call"], ["status"], ["health"], ["introspect"], ["shell"], ["services"], ["show-config"]):
        result = cli(*command, "--help")
        assert result.returncode == 0, command
        assert "example" in result.stdout, command
        if command:
            assert f"pysoa-like {command[0]} " in result.stdout.split("example", 1)[1], command
