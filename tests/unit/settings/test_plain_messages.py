"""Every settings mistake is reported in plain words: the key path, what was expected and what was given."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common.settings import SettingsError
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.server.settings import ServerSettings

_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"


def _problems(**transport_kwargs: Any) -> list[str]:
    """The problem lines of server settings whose Redis transport takes ``transport_kwargs``."""
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": ["redis://h:6379/0"]}}
    kwargs.update(transport_kwargs)
    with pytest.raises(SettingsError) as info:
        ServerSettings({"transport": {"path": _SERVER_TRANSPORT, "kwargs": kwargs}})
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid ServerSettings:"
    return [line.removeprefix("  - ") for line in lines[1:]]


def test_hosts_given_as_a_string_says_a_list_was_expected() -> None:
    """``hosts`` as one string (a classic slip) gets one line that names the key and says a list was expected."""
    assert _problems(backend_layer_kwargs={"hosts": "redis://h:6379/0"}) == [
        "transport.kwargs.backend_layer_kwargs.hosts: expected a list whose items are each either a tuple "
        "(string, integer), a list of exactly 2 items or a string, got a string"
    ]


def test_a_bad_item_of_a_one_of_field_is_one_line_about_the_item() -> None:
    """The options of a "one of" field are not listed as three separate errors, but as one expectation."""
    assert _problems(backend_layer_kwargs={"hosts": [("h", "6379")]}) == [
        "transport.kwargs.backend_layer_kwargs.hosts.0: expected a tuple (string, integer), a list of exactly 2 "
        "items or a string, got a tuple (string, string)"
    ]


def test_a_misspelt_choice_is_shown_with_the_choices_and_a_suggestion() -> None:
    """A value outside a fixed set of choices is shown (it cannot be a secret) with the closest choice."""
    assert _problems(backend_type="redis.standrd") == [
        "transport.kwargs.backend_type: expected one of 'redis.cluster', 'redis.sentinel', 'redis.standard', "
        "got 'redis.standrd'; "
        "did you mean 'redis.standard'?"
    ]


@pytest.mark.parametrize(
    ("kwargs", "line"),
    [
        (
            {"receive_timeout_in_seconds": -1},
            "transport.kwargs.receive_timeout_in_seconds: expected a number greater than 0, got -1",
        ),
        (
            {"receive_timeout_in_seconds": "5"},
            "transport.kwargs.receive_timeout_in_seconds: expected a number greater than 0, got a string",
        ),
        (
            {"protocol_version": 7},
            "transport.kwargs.protocol_version: expected one of 1, 2, 3 or an instance of ProtocolVersion, got 7",
        ),
        (
            {"backend_layer_kwargs": {"hosts": ["h"], "redis_port": 70000}},
            "transport.kwargs.backend_layer_kwargs.redis_port: expected an integer from 1 to 65535, got 70000",
        ),
        (
            {"backend_layer_kwargs": {"hosts": ["h"], "sentinel_services": []}},
            "transport.kwargs.backend_layer_kwargs.sentinel_services: expected a list of at least 1 items whose "
            "items are each a string, got an empty list",
        ),
    ],
)
def test_numbers_choices_and_lengths_say_what_was_expected_and_given(kwargs: dict[str, Any], line: str) -> None:
    """Bounds, choices and lengths come out as "expected ..., got ..." instead of Conformity's terse words."""
    assert _problems(**kwargs) == [line]


@pytest.mark.parametrize("zero", [0, 0.0])
def test_pysoas_receive_timeout_0_is_refused_saying_why_and_what_to_write(zero: float) -> None:
    """PySOA's ``receive_timeout_in_seconds: 0`` (a pop that waits forever) is still refused, in a line that says
    why a server's wait must end and what to write instead (it said only "expected a number greater than 0")."""
    assert _problems(receive_timeout_in_seconds=zero) == [
        "transport.kwargs.receive_timeout_in_seconds: 0 (wait forever, as in PySOA) is not supported: a server must "
        "wake to notice a shutdown; use a number of seconds such as 5 (the default)"
    ]
    with pytest.raises(ValueError, match=r"receive_timeout_in_seconds: 0 \(wait forever, as in PySOA\) is not"):
        RedisServerTransport("svc", backend_type="redis.standard", receive_timeout_in_seconds=zero)


def test_a_string_where_a_number_was_expected_is_not_shown() -> None:
    """Strings given in free-text places are described, never shown: they may be passwords."""
    (line,) = _problems(backend_layer_kwargs={"hosts": ["h"], "redis_db": "hunter2"})
    assert line == "transport.kwargs.backend_layer_kwargs.redis_db: expected an integer of at least 0, got a string"
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"transport": "redis"},
            'transport: expected a class configuration {"path": "module:Class", "kwargs": {...}} naming a subclass '
            "of ServerTransport, got a string",
        ),
        (
            {"transport": {"path": "no_such_module:Transport"}},
            "transport.path: cannot import 'no_such_module:Transport': No module named 'no_such_module' (expected "
            'an importable "module:Class" path to a subclass of ServerTransport)',
        ),
        (
            {"middleware": [{"path": "json:JSONDecoder"}]},
            'middleware.0.path: expected a "module:Class" path to a subclass of ServerMiddleware, got the path of '
            "JSONDecoder, which is not one",
        ),
        (
            {"middleware": {"path": "json:JSONDecoder"}},
            'middleware: expected a list whose items are each a class configuration {"path": "module:Class", '
            '"kwargs": {...}} naming a subclass of ServerMiddleware, got a dict of 1 entry',
        ),
        ({"harakiri": {"timeout": "300"}}, "harakiri.timeout: expected an integer of at least 0, got a string"),
        (
            {"harakiri": {"timout": 300}},
            "harakiri: unknown key timout (allowed keys: timeout, shutdown_grace); did you mean 'timeout'?",
        ),
        ({"extra_fields_to_redact": ["a", 1]}, "extra_fields_to_redact.1: expected a string, got 1"),
        ({"client_routing": {"billing": []}}, "client_routing.billing: expected a dict, got an empty list"),
        ({"client_routing": {1: {}}}, "client_routing: each key must be a string, got the key 1"),
        ({"heartbeat_file": 3}, "heartbeat_file: expected a string or None, got 3"),
    ],
)
def test_class_configurations_lists_and_dicts_in_plain_words(settings: dict[str, Any], line: str) -> None:
    """Class configurations, lists, nested dicts and nullable keys: one plain line each, naming the key path."""
    transport = {"path": _SERVER_TRANSPORT, "kwargs": {"backend_type": "redis.standard"}}
    with pytest.raises(SettingsError) as info:
        ServerSettings({"transport": transport, **settings})
    assert str(info.value).splitlines()[1:] == [f"  - {line}"]


def test_no_message_keeps_conformitys_terse_words() -> None:
    """None of the field-level phrases ("Not a", "Value not", "valids", "unicode") reach a settings message."""
    cases: list[dict[str, Any]] = [
        {"backend_layer_kwargs": {"hosts": "h"}},
        {"backend_layer_kwargs": {"hosts": [("h", "p")]}},
        {"receive_timeout_in_seconds": 0},
        {"backend_type": 1},
        {"queue_capacity": None},
    ]
    text = "\n".join(line for kwargs in cases for line in _problems(**kwargs))
    for phrase in ("Not a", "Value not", "Value is not", "valids", "unicode", "<class", "(dictionary)"):
        assert phrase not in text


def test_a_transport_built_directly_explains_its_kwargs_the_same_way() -> None:
    """The transport's own check (outside settings) uses the same plain words."""
    with pytest.raises(ValueError) as info:
        RedisServerTransport("svc", backend_type="redis.standard", backend_layer_kwargs={"hosts": "h:1"})
    assert str(info.value) == (
        "Invalid RedisServerTransport settings: backend_layer_kwargs.hosts: expected a list whose items are each "
        "either a tuple (string, integer), a list of exactly 2 items or a string, got a string"
    )


@pytest.mark.parametrize(
    ("backend_layer_kwargs", "line"),
    [
        (
            {"hosts": ["http://h:6379/0"]},
            "transport.kwargs.backend_layer_kwargs.hosts.0: unsupported URL scheme 'http' in a Redis host "
            "(use redis://, rediss:// or unix://)",
        ),
        (
            {"hosts": ["redis://h:6379/zero"]},
            "transport.kwargs.backend_layer_kwargs.hosts.0: the database in a Redis URL must be a whole number, "
            "got 'zero'",
        ),
        (
            {"hosts": ["h:70000"]},
            "transport.kwargs.backend_layer_kwargs.hosts.0: the port of Redis host 'h:70000' must be between 1 "
            "and 65535, got 70000",
        ),
        (
            {"hosts": [["h", "6379"]]},
            "transport.kwargs.backend_layer_kwargs.hosts.0: Invalid Redis host ['h', '6379']: use 'host', "
            "'host:port', ('host', port) or a redis:// URL",
        ),
        (
            {"hosts": ["h"], "connection_kwargs": {"pasword": "hunter2"}},
            "transport.kwargs.backend_layer_kwargs.connection_kwargs: pasword: not supported by the Redis "
            "transports; did you mean 'password'?",
        ),
    ],
)
def test_a_host_or_connection_setting_the_transports_cannot_use_is_a_settings_error(
    backend_layer_kwargs: dict[str, Any], line: str
) -> None:
    """What the transports read from ``hosts`` and ``connection_kwargs`` is checked with the settings, naming the key:
    an unknown URL scheme was taken as a host name (connection refused for ever), and a bad database, port or
    connection keyword raised a bare ValueError at the first call (a traceback from ``serve``)."""
    assert _problems(backend_layer_kwargs=backend_layer_kwargs) == [line]


def test_redis_py_3_names_of_the_decoding_keys_are_accepted_and_ignored() -> None:
    """``charset`` and ``errors`` (redis-py 3's ``encoding`` and ``encoding_errors``, in PySOA 1.4.9-era settings)
    pass the settings check, as the other keys that tune redis-py itself do."""
    layer = {"hosts": ["h"], "connection_kwargs": {"charset": "utf-8", "errors": "strict"}}
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": layer}
    settings = ServerSettings({"transport": {"path": _SERVER_TRANSPORT, "kwargs": kwargs}})
    assert settings["transport"]["kwargs"]["backend_layer_kwargs"]["connection_kwargs"] == layer["connection_kwargs"]
