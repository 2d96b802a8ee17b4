"""GatewaySettings: the allow-list and limits, each bad value refused with a message naming it."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.gateway import GatewaySettings


def test_defaults_and_the_allow_list() -> None:
    """Listed actions are exposed, "*" exposes all but the built-ins, anything else is not."""
    settings = GatewaySettings.from_mapping({"expose": {"orders": ["get", "cancel"], "catalog": "*"}})
    assert (settings.timeout, settings.max_timeout, settings.max_body_bytes) == (10.0, 60.0, 1024 * 1024)
    assert settings.cors_origins == () and settings.docs is True
    assert settings.exposes("orders", "get") and not settings.exposes("orders", "delete")
    assert settings.exposes("catalog", "search")
    assert not settings.exposes("catalog", "status") and not settings.exposes("catalog", "introspect")
    assert not settings.exposes("billing", "get")
    assert GatewaySettings(expose={"orders": ["status"]}).exposes("orders", "status")


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({}, 'need "expose"'),
        ({"expose": {}}, "at least one service"),
        ({"expose": {"orders": []}}, "expose.orders must list at least one action"),
        ({"expose": {"orders": "get"}}, 'list of action names or "*"'),
        ({"expose": {"orders": {"get": True}}}, 'expose.orders must be a list of action names or "*"'),
        ({"expose": {"a/b": "*"}}, "not a service name"),
        ({"expose": {"orders": ["../x"]}}, "expose.orders must list"),
        ({"expose": {"o": "*"}, "timeout": 0}, "timeout must be more than 0"),
        ({"expose": {"o": "*"}, "timeout": 90}, "at most 60"),
        ({"expose": {"o": "*"}, "max_timeout": 5}, "at most 5 (max_timeout), got 10.0 (the default timeout is 10"),
        ({"expose": {"o": "*"}, "timeout": float("nan")}, "timeout must be a finite number"),
        ({"expose": {"o": "*"}, "max_body_bytes": 0}, "max_body_bytes must be a positive integer"),
        ({"expose": {"o": "*"}, "max_concurrent_calls": 1.5}, "max_concurrent_calls must be a positive integer"),
        ({"expose": {"o": "*"}, "max_waiting_calls": -1}, "max_waiting_calls must be an integer, 0 or more"),
        ({"expose": {"o": "*"}, "max_waiting_calls": True}, "max_waiting_calls must be an integer, 0 or more"),
        ({"expose": {"o": "*"}, "cors_origins": "https://a.example"}, "cors_origins must be a list"),
        ({"expose": {"o": "*"}, "cors_origins": ["https://a.example/path"]}, "is not an origin"),
        ({"expose": {"o": "*"}, "cors_origins": ["*"], "cors_allow_credentials": True}, "cannot be used with"),
        ({"expose": {"o": "*"}, "docs": "yes"}, "docs must be true or false"),
        ({"expose": {"o": "*"}, "title": " "}, "title must be a non-empty string"),
        ({"expose": {"o": "*"}, "allowed_hosts": "localhost"}, "allowed_hosts must be a list"),
        ({"expose": {"o": "*"}, "allowed_hosts": ["*example.com"]}, "allowed_hosts: '*example.com' is not"),
        ({"expose": {"o": "*"}, "allowed_hosts": ["api.*"]}, "allowed_hosts: 'api.*' is not"),
        ({"expose": {"o": "*"}, "allowed_hosts": ["a b"]}, "allowed_hosts: 'a b' is not"),
        ({"expose": {"o": "*"}, "allowed_hosts": []}, 'allowed_hosts must name at least one host (or "*" for any)'),
        ({"expose": {"o": "*"}, "openapi_refresh_seconds": -1}, "openapi_refresh_seconds"),
        ({"expose": {"o": "*"}, "timeuot": 5}, "unknown gateway setting(s) timeuot; known: expose, timeout"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(settings: dict[str, Any], words: str) -> None:
    """Each mistake raises ValueError whose message names the setting and what it takes."""
    with pytest.raises(ValueError) as caught:
        GatewaySettings.from_mapping(settings)
    assert words in str(caught.value)


def test_settings_must_be_a_dict() -> None:
    """Something other than a dict is refused plainly."""
    with pytest.raises(ValueError, match="must be a dict, got list"):
        GatewaySettings.from_mapping([("expose", {})])  # type: ignore[arg-type]


def test_allowed_hosts_given_as_a_generator_are_kept() -> None:
    """The checked host names are what the settings keep: a generator was used up by the check, leaving the gateway
    with no allowed host (every request refused)."""
    settings = GatewaySettings.from_mapping({"expose": {"o": "*"}, "allowed_hosts": (h for h in ["api.example.com"])})
    assert settings.allowed_hosts == ("api.example.com",)  # a tuple: the settings are frozen
