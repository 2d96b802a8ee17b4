"""The censoring wrapper's fast path: plain messages are formatted without a copy, with the same text."""

from __future__ import annotations

import collections
import random
from typing import Any

import pytest

from pysoa_like.common import logging as pysoa_logging
from pysoa_like.common.logging import RecursivelyCensoredDictWrapper, _needs_censoring

_WIRE_REQUEST = {
    "control": {"continue_on_error": False, "suppress_response": False},
    "context": {"correlation_id": "596e48a9e57b11f197d802fc00000001", "switches": [1, 5]},
    "actions": [{"action": "square", "body": {"number": 7, "ratio": 0.5, "tags": ("a", None)}}],
}
_WIRE_RESPONSE = {
    "errors": [],
    "context": {"correlation_id": "596e48a9e57b11f197d802fc00000001"},
    "actions": [{"action": "square", "errors": [], "body": {"square": 49, "blob": b"\x00"}}],
}

# Keys and values chosen to reach every branch: sensitive keys in several spellings, non-string
# keys, empty and non-empty maskable values, never-masked scalars, subclasses and other containers.
_KEYS: list[Any] = ["name", "Password", "api-key", "TOKEN", "cvv", "note", "body", 1, None, b"password", ("pin",)]
_SCALARS: list[Any] = ["", "text", 0, 42, True, False, 1.5, None, b"", b"raw"]


class _Text(str):
    """A str subclass (takes the general path)."""


class _Number(int):
    """An int subclass (takes the general path)."""


class _Opaque:
    """An object with a fixed repr, never masked."""

    def __repr__(self) -> str:
        return "<opaque>"


def _random_value(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(12 if depth < 4 else 4)
    if choice < 3:
        return rng.choice(_SCALARS)
    if choice == 3:
        return rng.choice([_Text("sub"), _Number(7), _Opaque()])
    if choice < 7:
        return {rng.choice(_KEYS): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    if choice < 9:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 9:
        return tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    if choice == 10:
        return collections.OrderedDict((rng.choice(_KEYS), rng.choice(_SCALARS)) for _ in range(rng.randrange(3)))
    return frozenset(rng.choice(["x", "", 3, None]) for _ in range(rng.randrange(3)))


def _general_path(wrapper_class: type[RecursivelyCensoredDictWrapper], value: Any) -> str:
    """What formatting gave before the fast path: always copy and mask, then repr."""
    return repr(wrapper_class(value)._censor(value, False))


@pytest.mark.parametrize(
    "wrapper_class",
    [RecursivelyCensoredDictWrapper, RecursivelyCensoredDictWrapper.with_extra_fields({"note", "NAME"})],
    ids=["default-fields", "extra-fields"],
)
def test_formatting_matches_the_general_path_for_random_messages(
    wrapper_class: type[RecursivelyCensoredDictWrapper],
) -> None:
    """Whatever the message, the formatted text equals the always-copying censoring of it."""
    rng = random.Random(20240611)
    for _ in range(3000):
        message = {rng.choice(_KEYS): _random_value(rng, 1) for _ in range(rng.randrange(1, 5))}
        assert str(wrapper_class(message)) == _general_path(wrapper_class, message), message


def test_plain_wire_messages_need_no_copy() -> None:
    """Requests and responses with nothing sensitive are recognised as needing no masking."""
    fields = RecursivelyCensoredDictWrapper.SENSITIVE_FIELDS
    assert not _needs_censoring(_WIRE_REQUEST, False, fields, set())
    assert not _needs_censoring(_WIRE_RESPONSE, False, fields, set())
    assert str(RecursivelyCensoredDictWrapper(_WIRE_REQUEST)) == repr(_WIRE_REQUEST)


@pytest.mark.parametrize(
    "message",
    [
        {"body": {"Password": "x"}},
        {"body": [{"auth-token": 5}]},
        {"secret": ("", b"k")},
        {"body": collections.OrderedDict(a=1)},
        {"body": {"n": _Number(3)}},
        {"body": {"s": {"a"}}},
    ],
    ids=[
        "sensitive-str",
        "sensitive-int-in-list",
        "sensitive-bytes-in-tuple",
        "mapping-subclass",
        "int-subclass",
        "set",
    ],
)
def test_messages_with_anything_to_mask_or_unusual_types_take_the_general_path(message: dict[str, Any]) -> None:
    """A maskable value under a sensitive key, or any non-plain type, is sent to the copying path."""
    assert _needs_censoring(message, False, RecursivelyCensoredDictWrapper.SENSITIVE_FIELDS, set())


@pytest.mark.parametrize(
    "message",
    [{"password": ""}, {"token": 0}, {"pin": True}, {"secret": None}, {"secret": 1.5}, {"secret": []}],
    ids=["empty-str", "zero", "bool", "none", "float", "empty-list"],
)
def test_sensitive_keys_with_nothing_maskable_need_no_copy(message: dict[str, Any]) -> None:
    """Empty, false, boolean, None and float values under a sensitive key are shown as they are."""
    assert not _needs_censoring(message, False, RecursivelyCensoredDictWrapper.SENSITIVE_FIELDS, set())
    assert str(RecursivelyCensoredDictWrapper(message)) == repr(message)


def test_each_key_is_normalised_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys already found not to be sensitive are not normalised again on later messages."""
    wrapper_class = RecursivelyCensoredDictWrapper.with_extra_fields({"only_for_this_test"})
    str(wrapper_class(_WIRE_REQUEST))
    normalised: list[str] = []
    original = pysoa_logging._normalize_key

    def counting(key: str) -> str:
        normalised.append(key)
        return original(key)

    monkeypatch.setattr(pysoa_logging, "_normalize_key", counting)
    assert str(wrapper_class(_WIRE_REQUEST)) == repr(_WIRE_REQUEST)
    assert normalised == []
    str(wrapper_class({"password": ""}))
    assert normalised == ["password"]  # sensitive keys are not remembered as safe


def test_the_safe_key_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ever-new keys never grow the cache past its limit."""
    monkeypatch.setattr(pysoa_logging, "_SAFE_KEYS_LIMIT", 10)
    safe_keys: set[str] = set()
    fields = RecursivelyCensoredDictWrapper.SENSITIVE_FIELDS
    for index in range(50):
        _needs_censoring({f"key{index}": 1}, False, fields, safe_keys)
        assert len(safe_keys) <= 10
    assert "key49" in safe_keys


def test_overridden_sensitivity_is_honoured_even_after_first_use() -> None:
    """A subclass (or a later patch) replacing ``_is_sensitive`` decides what is masked."""

    class ColourBlind(RecursivelyCensoredDictWrapper):
        __slots__ = ()

    assert str(ColourBlind({"colour": "blue"})) == "{'colour': 'blue'}"

    def colour_is_secret(self: RecursivelyCensoredDictWrapper, key: Any) -> bool:
        return key == "colour"

    ColourBlind._is_sensitive = colour_is_secret  # type: ignore[method-assign]
    assert str(ColourBlind({"colour": "blue", "password": "x"})) == "{'colour': '**********', 'password': 'x'}"


def test_replacing_the_sensitive_fields_resets_the_cache() -> None:
    """A class whose ``SENSITIVE_FIELDS`` is replaced after use censors the new set."""

    class Configurable(RecursivelyCensoredDictWrapper):
        __slots__ = ()

    assert str(Configurable({"colour": "blue"})) == "{'colour': 'blue'}"
    Configurable.SENSITIVE_FIELDS = frozenset({"colour"})
    assert str(Configurable({"colour": "blue"})) == "{'colour': '**********'}"
