"""Tests for pysoa_like.utils: PySOA's dict_to_hashable and get_python_interpreter_arguments."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.utils import dict_to_hashable, get_python_interpreter_arguments

# How long a probe interpreter may take.
SUBPROCESS_TIMEOUT = 60

SETTINGS: dict[str, Any] = {
    "hosts": ["1.2.3.4", "5.6.7.8"],
    "connection_kwargs": {"password": "secret", "socket_connect_timeout": 20, "ssl": {"ca": "x", "verify": True}},
    "sentinel_services": ("service1", "service2"),
    "tags": {"a", "b"},
    "retries": 6,
}


def test_equal_dicts_give_equal_values_whatever_the_key_order() -> None:
    """Dicts with the same content in another key order, at every level, give the same hashable value."""
    reordered = {
        "retries": 6,
        "tags": {"b", "a"},
        "sentinel_services": ("service1", "service2"),
        "connection_kwargs": {"ssl": {"verify": True, "ca": "x"}, "socket_connect_timeout": 20, "password": "secret"},
        "hosts": ["1.2.3.4", "5.6.7.8"],
    }
    assert reordered == SETTINGS
    assert dict_to_hashable(reordered) == dict_to_hashable(SETTINGS)
    assert hash(dict_to_hashable(reordered)) == hash(dict_to_hashable(SETTINGS))
    assert isinstance(dict_to_hashable(SETTINGS), frozenset)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hosts", ["1.2.3.4", "5.6.7.9"]),  # an item of a list
        ("hosts", ["5.6.7.8", "1.2.3.4"]),  # list order
        ("connection_kwargs", {"password": "secret", "socket_connect_timeout": 20, "ssl": {"ca": "y", "verify": True}}),
        ("connection_kwargs", {"password": "secret", "socket_connect_timeout": 20}),  # a key fewer, nested
        ("tags", {"a"}),
        ("retries", 7),
        ("retries", "6"),
        ("extra", None),  # a key more
    ],
)
def test_different_dicts_give_different_values(key: str, value: Any) -> None:
    """Changing anything, at any depth, gives another value."""
    changed = {**SETTINGS, key: value}
    assert changed != SETTINGS
    assert dict_to_hashable(changed) != dict_to_hashable(SETTINGS)


def test_values_that_python_holds_equal_stay_equal() -> None:
    """Values Python compares equal (a set and a frozenset, 1 and 1.0) do not make the results differ."""
    assert dict_to_hashable({"a": {1, 2}, "b": [1]}) == dict_to_hashable({"a": frozenset({1, 2}), "b": [1.0]})


def test_the_frozen_form_is_pysoas() -> None:
    """Nested dicts become frozensets of pairs and lists tuples, value for value what PySOA 1.4.9 returned."""
    assert dict_to_hashable({"a": {"b": [1, 2]}}) == frozenset({("a", frozenset({("b", (1, 2))}))})
    assert dict_to_hashable({"a": (1, 2), "b": None, "c": frozenset({1})}) == frozenset(
        {("a", (1, 2)), ("b", None), ("c", frozenset({1}))}
    )
    # As in PySOA, containers of other kinds with the same items freeze alike.
    assert dict_to_hashable({"a": [1]}) == dict_to_hashable({"a": (1,)})
    assert dict_to_hashable({"a": {"b": 1}}) == dict_to_hashable({"a": frozenset({("b", 1)})})


def test_values_pysoa_could_not_freeze_are_frozen_the_same_way() -> None:
    """Dicts and lists inside lists or tuples, and sets, are frozen where PySOA raised TypeError."""
    assert dict_to_hashable({"a": [{"b": 1}, [2]], "c": ([3],), "d": {1, 2}}) == frozenset(
        {("a", (frozenset({("b", 1)}), (2,))), ("c", ((3,),)), ("d", frozenset({1, 2}))}
    )


def test_usable_as_a_cache_key() -> None:
    """Equal settings find the same cache entry, alone or inside a tuple key; different settings add an entry."""
    cache: dict[Any, str] = {("redis", dict_to_hashable(SETTINGS)): "backend 1"}
    same = copy.deepcopy(SETTINGS)
    assert cache[("redis", dict_to_hashable(same))] == "backend 1"
    assert ("sentinel", dict_to_hashable(SETTINGS)) not in cache
    cache[("redis", dict_to_hashable({**SETTINGS, "retries": 1}))] = "backend 2"
    assert len(cache) == 2


def test_an_unhashable_value_is_named_with_its_place() -> None:
    """A value that cannot be frozen is a TypeError saying where it is and what it is."""
    with pytest.raises(TypeError, match=r"the value at \['a'\]\[1\]\['b'\] is a bytearray, which is not hashable"):
        dict_to_hashable({"a": [0, {"b": bytearray(b"x")}]})
    with pytest.raises(TypeError, match="takes a dict, got list"):
        dict_to_hashable([("a", 1)])  # type: ignore[arg-type]


def _interpreter_arguments(command: list[str], cwd: Path | None = None) -> list[str]:
    """Run ``command`` (whose program prints the function's result as JSON) and return what it printed."""
    completed = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, check=False
    )
    assert completed.returncode == 0, completed.stderr
    result: list[str] = json.loads(completed.stdout)
    return result


PROBE = "import json; from pysoa_like.utils import get_python_interpreter_arguments as g; print(json.dumps(g()))"


def test_interpreter_arguments_of_a_command() -> None:
    """``python -X dev -c CODE a b`` gives the interpreter, its options and ``-c CODE``, without ``a b``."""
    arguments = _interpreter_arguments([sys.executable, "-X", "dev", "-c", PROBE, "a", "b"])
    assert arguments == [sys.executable, "-X", "dev", "-c", PROBE]


def test_interpreter_arguments_of_a_module(tmp_path: Path) -> None:
    """``python -W ignore -m MODULE --flag`` gives the interpreter, its options and ``-m MODULE``."""
    (tmp_path / "probe_module.py").write_text(PROBE + "\n")
    arguments = _interpreter_arguments(
        [sys.executable, "-W", "ignore", "-m", "probe_module", "--flag", "value"], cwd=tmp_path
    )
    assert arguments == [sys.executable, "-W", "ignore", "-m", "probe_module"]


def test_interpreter_arguments_of_a_script(tmp_path: Path) -> None:
    """``python -B script.py x`` gives the interpreter, its option and the script."""
    script = tmp_path / "probe_script.py"
    script.write_text(PROBE + "\n")
    assert _interpreter_arguments([sys.executable, "-B", str(script), "x"]) == [sys.executable, "-B", str(script)]


def test_interpreter_arguments_in_this_process() -> None:
    """In the running test process the result starts with the interpreter and is a prefix of sys.orig_argv."""
    arguments = get_python_interpreter_arguments()
    assert arguments == sys.orig_argv[: len(arguments)]
    assert 1 <= len(arguments) <= len(sys.orig_argv)
