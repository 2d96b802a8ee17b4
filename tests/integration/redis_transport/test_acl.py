"""ACL: the least rights documented suffice, and each missing one is named; a refused push leaves nothing behind."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from pysoa_like.common.transport.errors import MessageReceiveError, MessageSendError
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from tests.integration.redis_transport._helpers import job_request

UserFactory = Callable[[str], dict[str, Any]]


@pytest.fixture
def acl_user(redis_url: str, raw_redis: redis.Redis) -> Iterator[UserFactory]:
    """``make(rules)``: an ACL user with exactly ``rules``; returns client transport settings logging in as it."""
    users: list[str] = []

    def make(rules: str) -> dict[str, Any]:
        user = "u" + uuid.uuid4().hex[:8]
        raw_redis.execute_command("ACL", "SETUSER", user, "reset", "on", ">pw", *rules.split())
        users.append(user)
        connection = {"username": user, "password": "pw"}
        return {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [redis_url], "connection_kwargs": connection},
        }

    yield make
    for user in users:
        raw_redis.execute_command("ACL", "DELUSER", user)


def test_a_push_refused_half_way_names_the_command_and_leaves_nothing(
    acl_user: UserFactory, raw_redis: redis.Redis
) -> None:
    """``+@list +@scripting +@connection +@transaction`` lacks EXPIRE: the send says so, and nothing is queued.

    The script used to fail after its RPUSH, leaving the request (which then ran) in a list with no expiry, and
    the error only said the script's user "can't run this command".
    """
    settings = acl_user("~pysoa:* +@list +@scripting +@connection +@transaction")
    client = RedisClientTransport("echo", **settings)
    for body in (job_request(), {**job_request(), "actions": [{"action": "a", "body": {"x": "y" * 40_000}}]}):
        with pytest.raises(MessageSendError, match=r"may not run EXPIRE on pysoa:service\.echo"):
            client.send_request_message(1, {}, body)
        assert raw_redis.llen("pysoa:service.echo") == 0
    assert client.requests_outstanding == 0


@pytest.mark.parametrize("missing", ["llen", "rpush", "expire", "evalsha", "eval"])
def test_each_right_a_push_needs_is_named_when_missing(
    acl_user: UserFactory, raw_redis: redis.Redis, missing: str
) -> None:
    """Without any one of the rights a send needs, the error names that command and nothing is queued."""
    from pysoa_like.core.constants import CLIENT_ACL_RULES

    raw_redis.script_flush()  # so that EVAL is needed too
    rules = " ".join(rule for rule in CLIENT_ACL_RULES.split() if rule != f"+{missing}")
    client = RedisClientTransport("echo", **acl_user(rules))
    with pytest.raises(MessageSendError) as failure:
        client.send_request_message(1, {}, job_request())
    assert missing in str(failure.value).lower()
    assert raw_redis.llen("pysoa:service.echo") == 0


def test_a_missing_blpop_is_named_by_the_receive(acl_user: UserFactory) -> None:
    """Without BLPOP, sending works and the receive fails naming the command."""
    from pysoa_like.core.constants import CLIENT_ACL_RULES

    rules = " ".join(rule for rule in CLIENT_ACL_RULES.split() if rule != "+blpop")
    client = RedisClientTransport("echo", **acl_user(rules))
    client.send_request_message(1, {}, job_request())
    with pytest.raises(MessageReceiveError, match=r"(?i)blpop"):
        client.receive_response_message(1)
