"""A ``logging`` setting that names a handler, formatter or filter not configured gets one clean sentence."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common.settings import SettingsError
from pysoa_like.server.settings import ServerSettings

_LOCAL_TRANSPORT = {"path": "pysoa_like.common.transport.local:LocalServerTransport"}


def _problems(logging: dict[str, Any]) -> list[str]:
    """The problem lines of server settings whose ``logging`` setting is ``logging``."""
    with pytest.raises(SettingsError) as info:
        ServerSettings({"transport": _LOCAL_TRANSPORT, "logging": {"version": 1, **logging}})
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid ServerSettings:"
    return [line.removeprefix("  - ") for line in lines[1:]]


@pytest.mark.parametrize(
    ("logging", "expected"),
    [
        pytest.param(
            {"handlers": {"console": {"class": "logging.StreamHandler"}}, "root": {"handlers": ["console", "nope"]}},
            'logging.root.handlers.1: Logger "root" references handler "nope", which is not configured.',
            id="root-handler",
        ),
        pytest.param(
            {"loggers": {"app": {"handlers": ["nope"]}}},
            'logging.loggers.app.handlers.0: Logger "app" references handler "nope", which is not configured.',
            id="logger-handler",
        ),
        pytest.param(
            {"loggers": {"app": {"filters": ["nope"]}}},
            'logging.loggers.app.filters.0: Logger "app" references filter "nope", which is not configured.',
            id="logger-filter",
        ),
        pytest.param(
            {"handlers": {"console": {"class": "logging.StreamHandler", "formatter": "nope"}}},
            'logging.handlers.console.formatter: Handler "console" references formatter "nope", which is not '
            "configured.",
            id="handler-formatter",
        ),
        pytest.param(
            {"handlers": {"console": {"class": "logging.StreamHandler", "filters": ["nope"]}}},
            'logging.handlers.console.filters.0: Handler "console" references filter "nope", which is not configured.',
            id="handler-filter",
        ),
        pytest.param(
            {"handlers": {"buffer": {"class": "logging.handlers.MemoryHandler", "capacity": 10, "target": "nope"}}},
            'logging.handlers.buffer.target: Handler "buffer" references target handler "nope", which is not '
            "configured.",
            id="memory-handler-target",
        ),
    ],
)
def test_a_reference_to_nothing_configured_is_one_sentence(logging: dict[str, Any], expected: str) -> None:
    """The line names the key path and the missing entry, with no "(expected a string)" after it (a string was
    given)."""
    assert _problems(logging) == [expected]


def test_a_reference_that_is_not_a_string_still_says_what_was_expected() -> None:
    """A name of the wrong type is a type mistake, worded as every other one: expected a string, got ..."""
    assert _problems({"root": {"handlers": [3]}}) == ["logging.root.handlers.0: expected a string, got 3"]


def test_a_memory_handler_whose_target_is_configured_is_valid_and_a_factory_s_target_is_not_a_name() -> None:
    """A MemoryHandler's ``target`` naming a configured handler is valid; the ``target`` of a handler made by a ``()``
    factory goes to the factory as given (dictConfig looks up only a class's), so it is not a name to check."""
    handlers = {
        "console": {"class": "logging.StreamHandler"},
        "buffer": {"class": "logging.handlers.MemoryHandler", "capacity": 10, "target": "console"},
        "made": {"()": "logging.handlers.MemoryHandler", "capacity": 10, "target": "not-a-handler-name"},
    }
    settings = ServerSettings(
        {
            "transport": _LOCAL_TRANSPORT,
            "logging": {"version": 1, "handlers": handlers, "root": {"handlers": ["buffer"]}},
        }
    )
    assert settings["logging"]["handlers"]["buffer"]["target"] == "console"
