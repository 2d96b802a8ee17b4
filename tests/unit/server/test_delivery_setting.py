"""The server's ``delivery`` settings and which actions count as idempotent."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.server.action.base import Action
from pysoa_like.server.action.status import BaseStatusAction
from pysoa_like.server.server import Server
from pysoa_like.server.settings import ServerSettings
from pysoa_like.server.types import EnrichedActionRequest

_LOCAL = {"transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"}}


class Plain(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class Safe(Plain):
    idempotent = True


class Status(BaseStatusAction):
    _version = "1"


class Service(Server):
    service_name = "delivery_setting"
    action_class_map = {"plain": Plain, "safe": Safe, "status": Status}


def test_delivery_is_at_most_once_by_default() -> None:
    """Without the setting, delivery is PySOA's, and the at-least-once settings have their documented defaults."""
    settings = ServerSettings(_LOCAL)
    assert settings["delivery"] == "at_most_once"
    assert settings["at_least_once"] == {
        "max_deliveries": 5,
        "worker_ttl_seconds": 10.0,
        "idempotency_window_seconds": 300,
        "dead_letter_max_length": 10000,
    }


def test_at_least_once_settings_given_in_part_keep_the_other_defaults() -> None:
    """Setting one at-least-once key keeps the defaults of the others."""
    settings = ServerSettings({**_LOCAL, "delivery": "at_least_once", "at_least_once": {"max_deliveries": 2}})
    assert settings["at_least_once"]["max_deliveries"] == 2
    assert settings["at_least_once"]["worker_ttl_seconds"] == 10.0


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"delivery": "exactly_once"}, "delivery"),
        ({"at_least_once": {"max_deliveries": 0}}, "max_deliveries"),
        ({"at_least_once": {"worker_ttl_seconds": 0.5}}, "worker_ttl_seconds"),
        ({"at_least_once": {"retries": 3}}, "retries"),
    ],
)
def test_bad_delivery_settings_fail_naming_the_key(settings: dict[str, Any], key: str) -> None:
    """A bad value or an unknown key fails validation with a message naming it."""
    with pytest.raises(ValueError, match=key):
        ServerSettings({**_LOCAL, **settings})


def test_actions_are_idempotent_only_when_they_say_so() -> None:
    """Declared idempotent, status and unknown names (nothing runs) are idempotent; a plain action is not."""
    server = Service(_LOCAL)
    assert server.action_is_idempotent("safe") is True
    assert server.action_is_idempotent("status") is True
    assert server.action_is_idempotent("nope") is True
    assert server.action_is_idempotent("plain") is False


def test_at_least_once_with_a_transport_that_cannot_do_it_fails_at_startup() -> None:
    """The local transport delivers at most once: asking for at-least-once is a settings error, not a silent no-op."""
    with pytest.raises(ValueError, match="needs the Redis transport"):
        Service({**_LOCAL, "delivery": "at_least_once"})
