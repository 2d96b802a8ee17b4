"""A client and a running service with exactly the least ACL rights of docs/security.rst work, every way."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.core.constants import (
    CLIENT_ACL_RULES,
    REGISTRY_ACL_RULES,
    SERVER_ACL_RULES,
    TRANSACTION_ACL_RULES,
    WATCHED_CLIENT_ACL_RULES,
    WATCHED_SERVER_ACL_RULES,
)
from pysoa_like.core.delivery import AT_LEAST_ONCE_SERVER_ACL_RULES
from tests.functional.conftest import CLIENT_TRANSPORT, SERVICE, Runner

UserUrl = Callable[[str], str]
# docs/security.rst, "Scope users per service".
_SCOPED = f"~pysoa:service.{SERVICE} ~pysoa:service.{SERVICE}.*"


@pytest.fixture
def user_url(redis_url: str, raw_redis: redis.Redis) -> Iterator[UserUrl]:
    """``make(rules)``: the Redis URL of a new ACL user with exactly ``rules`` (deleted after the test)."""
    users: list[str] = []
    address = urlsplit(redis_url)
    raw_redis.execute_command("ACL", "LOG", "RESET")

    def make(rules: str) -> str:
        user = "u" + uuid.uuid4().hex[:8]
        raw_redis.execute_command("ACL", "SETUSER", user, "reset", "on", ">pw", *rules.split())
        users.append(user)
        return f"redis://{user}:pw@{address.hostname}:{address.port}/0"

    yield make
    for user in users:
        raw_redis.execute_command("ACL", "DELUSER", user)


@pytest.mark.parametrize(
    ("client_rules", "server_rules", "watch"),
    [
        (CLIENT_ACL_RULES, f"{SERVER_ACL_RULES} {REGISTRY_ACL_RULES}", False),
        (
            f"{CLIENT_ACL_RULES} {TRANSACTION_ACL_RULES}",
            f"{SERVER_ACL_RULES} {REGISTRY_ACL_RULES} {TRANSACTION_ACL_RULES}",
            False,
        ),
        (
            f"{CLIENT_ACL_RULES} {TRANSACTION_ACL_RULES} {WATCHED_CLIENT_ACL_RULES}",
            f"{SERVER_ACL_RULES} {REGISTRY_ACL_RULES} {TRANSACTION_ACL_RULES} {WATCHED_SERVER_ACL_RULES}",
            True,
        ),
        (
            CLIENT_ACL_RULES.replace("~pysoa:service.*", _SCOPED),
            f"{SERVER_ACL_RULES.replace('~pysoa:service.*', _SCOPED)} {REGISTRY_ACL_RULES}",
            False,
        ),
    ],
    ids=["least", "with-transactions", "watching-workers", "scoped-to-the-service"],
)
def test_the_documented_least_rights_are_enough(
    start_runner: Callable[..., Runner],
    user_url: UserUrl,
    raw_redis: redis.Redis,
    client_rules: str,
    server_rules: str,
    watch: bool,
) -> None:
    """Small and big (40 kB) requests and replies, a parallel call and a 2 s job all work with these users only."""
    runner = start_runner(fork=1, env={"FUNCTIONAL_REDIS_URL": user_url(server_rules)})
    kwargs = {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": [user_url(client_rules)]},
        "detect_dead_workers": watch,
    }
    client = Client({SERVICE: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}})
    assert client.call_action(SERVICE, "who", {}, timeout=5).body["pid"] == runner.pid
    big = "x" * 40_000
    assert client.call_action(SERVICE, "echo", {"data": big}, timeout=5).body["body"]["data"] == big
    parallel = client.call_actions_parallel(SERVICE, [{"action": "who", "body": {}}] * 3, timeout=5)
    assert {response.body["pid"] for response in parallel} == {runner.pid}
    assert client.call_action(SERVICE, "sleep", {"seconds": 2}, timeout=6).body["slept"] == 2
    # An error answer is recorded in the registry's recent errors (stored by then, or at the stop below).
    failed = client.call_action(SERVICE, "fail", {}, timeout=5, raise_action_errors=False)
    assert failed.errors[0].code == "SERVER_ERROR"
    assert "NOPERM" not in runner.log() and "may not run" not in runner.log()
    runner.terminate()  # the registry entry is removed at a clean stop: that needs its rights too
    assert "Could not" not in runner.log() and "could not" not in runner.log()
    # Nothing outside what the rules allow was even tried (but the optional ones: CLIENT SETINFO, which redis-py
    # sends when connecting and ignores when refused, logged as "client" by Redis 6.2 and "client|setinfo" by 7.2
    # and later, and MULTI/EXEC where not granted).
    optional = {"client", "client|setinfo", "multi", "exec"}
    assert [command for command in _acl_log_commands(raw_redis) if command not in optional] == []


def _acl_log_commands(raw_redis: redis.Redis) -> list[str]:
    """The command (``object``) of each ``ACL LOG`` entry: a map over RESP3, a flat list of pairs over RESP2."""
    commands = []
    for entry in raw_redis.execute_command("ACL", "LOG"):
        fields = entry if isinstance(entry, dict) else dict(zip(entry[::2], entry[1::2], strict=True))
        value = fields.get(b"object", fields.get("object"))
        commands.append(value.decode() if isinstance(value, bytes) else str(value))
    return commands


def test_the_documented_at_least_once_rights_are_enough(
    start_runner: Callable[..., Runner], user_url: UserUrl, raw_redis: redis.Redis, tmp_path: Path
) -> None:
    """An at-least-once server with the documented extra rights serves idempotent and non-idempotent jobs, and stops
    cleanly; Redis logs no refused command."""
    server_rules = f"{SERVER_ACL_RULES} {REGISTRY_ACL_RULES} {AT_LEAST_ONCE_SERVER_ACL_RULES}"
    env = {
        "FUNCTIONAL_REDIS_URL": user_url(server_rules),
        "FUNCTIONAL_DELIVERY": "at_least_once",
        "FUNCTIONAL_RUNS_FILE": str(tmp_path / "runs.txt"),
    }
    runner = start_runner(fork=1, env=env)
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [user_url(CLIENT_ACL_RULES)]}}
    client = Client({SERVICE: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}})
    assert client.call_action(SERVICE, "who", {}, timeout=5).body["pid"] == runner.pid  # claimed (not idempotent)
    assert client.call_action(SERVICE, "sleep", {"seconds": 2}, timeout=6).body["slept"] == 2  # idempotent
    assert client.call_action(SERVICE, "charge", {"key": "acl"}, timeout=5).body["pid"] == runner.pid
    assert "NOPERM" not in runner.log() and "may not run" not in runner.log()
    runner.terminate()  # gives back and leaves the workers set: that needs its rights too
    assert "Could not" not in runner.log()
    optional = {"client", "client|setinfo", "multi", "exec"}
    assert [command for command in _acl_log_commands(raw_redis) if command not in optional] == []
