"""The pure parts of the commands: body parsing, schema text, URL masking, where services are found."""

from __future__ import annotations

import pytest

from pysoa_like._cli._client import parse_pairs
from pysoa_like._cli._common import CommandError
from pysoa_like._cli._schema_text import schema_lines, type_text
from pysoa_like._cli._services import ServiceRow
from pysoa_like._cli._target import Target, mask_url
from pysoa_like.common import fields


def test_pairs_are_typed_as_json_where_they_parse() -> None:
    """Numbers, booleans, null, lists and objects are JSON; anything else is a string; an object merges."""
    assert parse_pairs(['{"a": 1, "b": 2}', "b=3", "c=true", "d=null", "e=[1]", "f=Ann", 'g="7"', "h="], "body") == {
        "a": 1, "b": 3, "c": True, "d": None, "e": [1], "f": "Ann", "g": "7", "h": "",
    }  # fmt: skip


@pytest.mark.parametrize("item", ["novalue", "=1", "[1, 2]", "{bad"])
def test_bad_pairs_are_usage_errors(item: str) -> None:
    """An item that is neither key=value nor a JSON object is a usage error (exit 2)."""
    with pytest.raises(CommandError) as caught:
        parse_pairs([item], "body")
    assert caught.value.exit_code == 2


def test_url_passwords_are_masked_anywhere_in_a_text() -> None:
    """``scheme://user:password@`` loses its password; URLs without one are unchanged."""
    text = "hosts redis://u:p%40ss@h:1/0 and rediss://:pw@h2 and redis://h3:6379/0"
    assert mask_url(text) == "hosts redis://u:**********@h:1/0 and rediss://:**********@h2 and redis://h3:6379/0"


def test_schema_text_describes_fields_bounds_and_nesting() -> None:
    """Each field is one line with its type, bounds, optionality and description; nested dicts are indented."""
    schema = fields.Dictionary(
        {
            "count": fields.Integer(gte=0, description="How many"),
            "tags": fields.List(fields.UnicodeString(), max_length=3),
            "owner": fields.Nullable(fields.Dictionary({"id": fields.Integer()})),
            "kind": fields.Constant("a", "b"),
        },
        optional_keys=("tags",),
    ).introspect()
    assert schema_lines(schema) == [
        "count: integer >= 0  - How many",
        "tags (optional): list of unicode max length 3",
        "owner: dictionary or null",
        "  id: integer",
        'kind: one of "a", "b"',
    ]
    assert (
        type_text({"type": "tuple", "contents": [{"type": "integer"}, {"type": "boolean"}]})
        == "tuple (integer, boolean)"
    )
    assert schema_lines(None) == ["?"]


def test_target_needs_a_redis_url_or_settings() -> None:
    """Without either, the error says how to name the services' location."""
    with pytest.raises(CommandError, match="--redis-url redis://HOST:6379/0 or --settings MODULE"):
        Target(None, None)


def test_target_over_a_redis_url_reaches_any_service() -> None:
    """Every service gets the Redis client transport over that URL."""
    settings = Target("redis://h:1/0", None).settings_for("anything")
    assert settings["transport"]["kwargs"] == {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": ["redis://h:1/0"]},
    }


def test_service_rows_merge_what_each_source_knows() -> None:
    """Queue depths add up; the first known instance count, in-flight and status win; versions are united."""
    row = ServiceRow("s", queued=2, versions=("1",))
    row.merge(ServiceRow("s", queued=3, instances=4, versions=("2", "1"), in_flight=1, status="answering"))
    assert row == ServiceRow("s", queued=5, instances=4, versions=("1", "2"), in_flight=1, status="answering")


def test_censored_masks_sensitive_keys_at_any_depth_without_changing_the_value() -> None:
    """``censored`` masks as the request logs do, extra field names included, and copies."""
    from pysoa_like.common.logging import censored

    value = {"a": {"password": "x", "pin_hint": 12, "ok": True}, "items": [{"token": "t"}]}
    assert censored(value, ["pin_hint"]) == {
        "a": {"password": "**********", "pin_hint": "**********", "ok": True},
        "items": [{"token": "**********"}],
    }
    assert value["a"]["password"] == "x"


def test_command_line_options_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """--settings is used even when PYSOA_LIKE_REDIS_URL is set; the variables apply when no option is given."""
    import argparse

    monkeypatch.setenv("PYSOA_LIKE_REDIS_URL", "redis://env:1/0")
    target = Target.from_args(argparse.Namespace(redis_url=None, settings="tests.functional.cli_settings"))
    assert (target.redis_url, target.settings_name) == (None, "tests.functional.cli_settings")
    assert Target.from_args(argparse.Namespace(redis_url=None, settings=None)).redis_url == "redis://env:1/0"
