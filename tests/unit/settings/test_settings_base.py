"""The Settings base: hierarchy merging, deep-merged defaults, validation messages, immutability."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pysoa_like.common import fields
from pysoa_like.common.errors import PySOAError
from pysoa_like.common.settings import Settings, SettingsError, SOASettings, copy_containers, merge_settings


class Base(Settings):
    schema = {
        "foo": fields.Integer(),
        "bar": fields.Dictionary({"baz": fields.Integer(), "qux": fields.Boolean()}, optional_keys=("qux",)),
    }
    defaults = {"foo": 1, "bar": {"baz": 2}}


class More(Base):
    schema = {"foo": fields.Any(fields.Integer(), fields.UnicodeString()), "ipsum": fields.UnicodeString()}
    defaults = {"ipsum": "more"}


class Other(Settings):
    schema = {"lorem": fields.UnicodeString(), "ipsum": fields.List(fields.Integer())}
    defaults = {"lorem": "other", "ipsum": [1]}


class LeftMore(More, Other):
    pass


class LeftOther(Other, More):
    defaults = {"lorem": "own"}


def test_schema_and_defaults_merge_down_the_hierarchy() -> None:
    """The left base wins over the right one, and the class's own entries win over both."""
    assert LeftMore.schema["ipsum"] is More.schema["ipsum"]
    assert LeftMore.defaults["ipsum"] == "more"
    assert LeftOther.schema["ipsum"] is Other.schema["ipsum"]
    assert LeftOther.defaults == {"foo": 1, "bar": {"baz": 2}, "ipsum": [1], "lorem": "own"}
    assert set(LeftMore.schema) == {"foo", "bar", "ipsum", "lorem"}


def test_data_is_deep_merged_over_defaults() -> None:
    """Nested mappings merge key by key; other values replace the default."""
    settings = Base({"bar": {"qux": True}})
    assert settings["bar"] == {"baz": 2, "qux": True}
    assert settings["foo"] == 1


def test_lists_replace_rather_than_extend() -> None:
    """A list in the data replaces the default list."""
    assert LeftOther({"ipsum": [5]})["ipsum"] == [5]


def test_settings_is_a_read_only_mapping() -> None:
    """Settings support the Mapping API but not item assignment."""
    settings = Base({})
    assert dict(settings) == {"foo": 1, "bar": {"baz": 2}}
    assert len(settings) == 2
    assert "foo" in settings
    assert settings.get("nope", 3) == 3
    with pytest.raises(TypeError):
        settings["foo"] = 2  # type: ignore[index]
    assert repr(settings).startswith("Base(")


def test_input_and_defaults_are_never_mutated() -> None:
    """Building settings changes neither the given data nor the class defaults."""
    data = {"bar": {"qux": False}}
    before_data, before_defaults = copy.deepcopy(data), copy.deepcopy(Base.defaults)
    settings = Base(data)
    settings["bar"]["baz"] = 99
    assert data == before_data
    assert Base.defaults == before_defaults


def test_unknown_key_names_allowed_keys_and_suggestion() -> None:
    """An unknown top-level key is reported with the allowed keys and the closest match."""
    with pytest.raises(SettingsError) as info:
        Base({"fooo": 1})
    message = str(info.value)
    assert "fooo: unknown setting (allowed settings: bar, foo); did you mean 'foo'?" in message


def test_nested_unknown_key_names_allowed_keys() -> None:
    """An unknown nested key is reported with its full path and the keys allowed there."""
    with pytest.raises(SettingsError, match=r"bar: unknown key quxx \(allowed keys: baz, qux\); did you mean 'qux'\?"):
        Base({"bar": {"quxx": True}})


def test_invalid_value_names_path_and_expectation() -> None:
    """A wrong value is reported with its key path, what was expected and what was given, in plain words."""
    with pytest.raises(SettingsError, match=r"bar\.baz: expected an integer, got a string$"):
        Base({"bar": {"baz": "x"}})


def test_missing_key_after_merge_is_reported() -> None:
    """A schema key with neither a value nor a default is reported as missing."""

    class Required(Settings):
        schema = {"needed": fields.Integer(gte=0)}

    with pytest.raises(SettingsError, match=r"needed: missing \(expected an integer of at least 0\)"):
        Required({})


def test_all_problems_are_reported_together() -> None:
    """Every problem appears in one message, one line each."""
    with pytest.raises(SettingsError) as info:
        Base({"foo": "x", "bar": {"baz": "y"}, "zzz": 1})
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid Base:"
    assert len(lines) == 4


def test_error_is_pysoa_error_value_error_and_improperly_configured() -> None:
    """The settings error is catchable as PySOAError, ValueError and Settings.ImproperlyConfigured."""
    assert Settings.ImproperlyConfigured is SettingsError
    assert Base.ImproperlyConfigured is SettingsError
    assert issubclass(SettingsError, PySOAError)
    assert issubclass(SettingsError, ValueError)


def test_non_mapping_data_is_rejected() -> None:
    """Data that is not a mapping fails with a clear message."""
    with pytest.raises(SettingsError, match="expected a mapping of settings, got list"):
        Base([])  # type: ignore[arg-type]


def test_soa_settings_defaults() -> None:
    """SOASettings defaults middleware to [] and metrics to the no-op recorder."""
    from pysoa_like.common.metrics import NoOpMetricsRecorder

    settings = SOASettings({"transport": {"path": "tests.unit.settings.transports:FakeClientTransport"}})
    assert settings["middleware"] == []
    assert settings["metrics"] == {
        "path": "pysoa_like.common.metrics:NoOpMetricsRecorder",
        "kwargs": {},
        "object": NoOpMetricsRecorder,
    }


def test_copy_containers_copies_containers_only() -> None:
    """Containers are copied at every level; other objects are shared."""
    marker = object()
    value: dict[str, Any] = {"a": [{"b": {1, 2}}], "c": (marker,)}
    copied = copy_containers(value)
    assert copied == value
    assert copied["a"] is not value["a"]
    assert copied["a"][0]["b"] is not value["a"][0]["b"]
    assert copied["c"][0] is marker


def test_merge_settings_semantics() -> None:
    """merge_settings merges nested mappings and replaces everything else."""
    merged = merge_settings({"a": {"x": 1}, "l": [2]}, {"a": {"y": 2}, "l": [1], "d": 3})
    assert merged == {"a": {"x": 1, "y": 2}, "l": [2], "d": 3}
