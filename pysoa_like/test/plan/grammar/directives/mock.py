"""Mocks: patch Python objects with ``unittest.mock`` for a test case or one action case.

* ``[«action»:] mock: TARGET: ATTRPATH: VALUE`` sets an attribute of the mock patched in at TARGET
  (a dotted import path) to a JSON VALUE; ``exception NAME`` sets an exception class (a builtin
  name, or ``package.module:ClassName``); ``delete`` deletes the attribute. Lines for a path ending
  in ``side_effect`` add to a sequence, one element per call.
* ``[«action»:] mock: TARGET: expect [not] called [ATTRPATH]: [[args…], {kwargs…}]`` expects a call
  (lines for one path add calls, which must be made in that order and be all its calls), or none.

Each TARGET gets one ``MagicMock``. Test-level mocks are patched before the first action and their
expectations checked after the last; action-level ones around that action's call.
"""

from __future__ import annotations

import builtins
import importlib
import json
from typing import Any
from unittest import mock

import pyparsing as pp

from pysoa_like.test.plan.errors import FixtureSyntaxError
from pysoa_like.test.plan.grammar.directive import VarValueGrammar, parsed
from pysoa_like.test.plan.grammar.directives._scoped import ActionLevelDirective, ScopedDirective, TestLevelDirective

__all__ = [
    "MockAssertCalledActionDirective",
    "MockAssertCalledTestPlanDirective",
    "MockPathResultForActionDirective",
    "MockPathResultForTestPlanDirective",
]

# A dotted Python name: a mock target or an attribute path.
_PYTHON_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_LIVE_KEY = "_mock_patchers"


class _AttrDict(dict):  # type: ignore[type-arg]
    """A JSON object whose keys can also be read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _DeleteAttribute:
    """The configured value meaning "delete this attribute"."""

    def __repr__(self) -> str:
        return "<delete>"

    def __deepcopy__(self, memo: dict[int, Any]) -> _DeleteAttribute:
        return self


_DELETE = _DeleteAttribute()


def _json_object(pairs: dict[str, Any]) -> Any:
    if pairs == {"mock.ANY": True}:
        return mock.ANY
    return _AttrDict(pairs)


def _json(text: str, file_name: str, line_number: int) -> Any:
    try:
        return json.loads(text, object_hook=_json_object)
    except ValueError as exc:
        raise FixtureSyntaxError(f"Invalid JSON value {text!r}: {exc}", file_name, line_number) from None


def _exception_class(name: str, file_name: str, line_number: int) -> Any:
    module_name, _, attribute = name.rpartition(":")
    try:
        if not module_name:
            return getattr(builtins, attribute)
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise FixtureSyntaxError(
            f"Cannot find exception {name!r} ({exc}); use a builtin name or 'package.module:ClassName'",
            file_name, line_number,
        ) from None  # fmt: skip


def _target_config(target: dict[str, Any], mock_target: str) -> dict[str, Any]:
    config: dict[str, Any] = target.setdefault("mock_patches", {}).setdefault(mock_target, {})
    config.setdefault("configure", {})
    config.setdefault("expectations", {})
    return config


def _ingest_result(target: dict[str, Any], results: pp.ParseResults, file_name: str, line_number: int) -> None:
    path: str = results.mock_path
    kind = parsed(results, "mock_type")
    configure = _target_config(target, results.mock_target)["configure"]
    if kind == "delete":
        if path.split(".")[-1] in ("return_value", "side_effect"):
            raise FixtureSyntaxError(f"Cannot delete {path!r}: set it to a value instead", file_name, line_number)
        value: Any = _DELETE
    elif kind == "exception":
        value = _exception_class(results.value, file_name, line_number)
    else:
        value = _json(results.value, file_name, line_number)
    if path.split(".")[-1] == "side_effect":
        configure.setdefault(path, []).append(value)
    else:
        configure[path] = value


def _ingest_expectation(target: dict[str, Any], results: pp.ParseResults, file_name: str, line_number: int) -> None:
    path = parsed(results, "mock_path") or None
    expectations = _target_config(target, results.mock_target)["expectations"]
    expectation = expectations.setdefault(path, {})
    negated = bool(parsed(results, "not"))
    if ("not_called" in expectation and not negated) or ("calls" in expectation and negated):
        raise FixtureSyntaxError(
            f"Cannot expect both 'called' and 'not called' for {results.mock_target}{'.' + path if path else ''}",
            file_name, line_number,
        )  # fmt: skip
    if negated:
        expectation["not_called"] = True
        return
    call = _json(results.value, file_name, line_number)
    if not (isinstance(call, list) and len(call) == 2 and isinstance(call[0], list) and isinstance(call[1], dict)):
        raise FixtureSyntaxError(
            f"A call must be written as JSON [[positional arguments], {{keyword arguments}}], got {results.value!r}",
            file_name, line_number,
        )  # fmt: skip
    # Kept as [args, kwargs] (mock.call objects cannot be deep-copied); made into calls when checked.
    expectation.setdefault("calls", []).append([list(call[0]), dict(call[1])])


def _configure(target_mock: mock.MagicMock, configure: dict[str, Any]) -> None:
    for path in sorted(configure, key=lambda item: item.count(".")):
        *parents, last = path.split(".")
        owner: Any = target_mock
        for name in parents:
            owner = getattr(owner, name)
        value = configure[path]
        if value is _DELETE:
            delattr(owner, last)
        else:
            setattr(owner, last, list(value) if last == "side_effect" else value)


def _start(target: dict[str, Any]) -> None:
    if _LIVE_KEY in target or not target.get("mock_patches"):
        return
    started: list[Any] = []
    target[_LIVE_KEY] = started
    for mock_target, config in target["mock_patches"].items():
        target_mock = mock.MagicMock(name=mock_target)
        _configure(target_mock, config["configure"])
        patcher = mock.patch(mock_target, new=target_mock)
        patcher.start()
        started.append(patcher)
        config["mock"] = target_mock


def _stop(target: dict[str, Any]) -> None:
    for patcher in reversed(target.pop(_LIVE_KEY, [])):
        patcher.stop()


def _check(target: dict[str, Any], msg: str | None) -> None:
    prefix = f"{msg}: " if msg else ""
    for mock_target, config in (target.get("mock_patches") or {}).items():
        target_mock = config.get("mock")
        if target_mock is None:
            continue
        for path, expectation in config["expectations"].items():
            called: Any = target_mock
            for name in (path or "").split(".") if path else ():
                called = getattr(called, name)
            label = f"{mock_target}{'.' + path if path else ''}"
            if expectation.get("not_called"):
                if called.call_count:
                    raise AssertionError(
                        f"{prefix}expected {label} not to be called, but it was called {called.call_count} time(s): "
                        f"{called.call_args_list!r}"
                    )
                continue
            calls = [mock.call(*args, **kwargs) for args, kwargs in expectation.get("calls", [])]
            try:
                called.assert_has_calls(calls)
            except AssertionError as exc:
                raise AssertionError(f"{prefix}{label} was not called as expected: {exc}") from None
            if called.call_count != len(calls):
                raise AssertionError(
                    f"{prefix}expected {label} to be called {len(calls)} time(s), but it was called "
                    f"{called.call_count} time(s): {called.call_args_list!r}"
                )


def _result_grammar() -> pp.ParserElement:
    kind = (pp.Keyword("exception") | pp.Keyword("delete"))("mock_type")
    return (
        pp.Keyword("mock")
        + pp.Literal(":")
        + pp.Regex(_PYTHON_NAME)("mock_target").set_name("mock target")
        + pp.Literal(":")
        + pp.Regex(_PYTHON_NAME)("mock_path").set_name("attribute path")
        + pp.Literal(":")
        + pp.Opt(kind)
        + VarValueGrammar
    )


def _expect_grammar() -> pp.ParserElement:
    return (
        pp.Keyword("mock")
        + pp.Literal(":")
        + pp.Regex(_PYTHON_NAME)("mock_target").set_name("mock target")
        + pp.Literal(":")
        + pp.Keyword("expect")
        + pp.Opt(pp.Keyword("not")("not"))
        + pp.Keyword("called")
        + pp.Opt(pp.Regex(_PYTHON_NAME)("mock_path").set_name("attribute path"))
        + pp.Literal(":")
        + VarValueGrammar
    )


class _Mocks(ScopedDirective):
    """Patching around the scope: one MagicMock per target, only the scope's own patches stopped."""

    @classmethod
    def start(cls, target: dict[str, Any]) -> None:
        """Patch the scope's targets."""
        _start(target)

    @classmethod
    def stop(cls, target: dict[str, Any]) -> None:
        """Stop the scope's patches."""
        _stop(target)


class _MockExpectations(_Mocks):
    @classmethod
    def line_grammar(cls) -> pp.ParserElement:
        """``mock: TARGET: expect [not] called [ATTRPATH]: JSON``."""
        return _expect_grammar()

    @classmethod
    def ingest_line(cls, target: dict[str, Any], parse_results: pp.ParseResults, file_name: str, line: int) -> None:
        """Add the expected call (or "not called") under ``mock_patches[TARGET]['expectations']``."""
        _ingest_expectation(target, parse_results, file_name, line)

    @classmethod
    def check(cls, target: dict[str, Any], msg: str | None) -> None:
        """Check the call expectations.

        Raises:
            AssertionError: A call is missing, extra or unexpected.
        """
        _check(target, msg)


class _MockResults(_Mocks):
    @classmethod
    def line_grammar(cls) -> pp.ParserElement:
        """``mock: TARGET: ATTRPATH: [exception | delete] VALUE``."""
        return _result_grammar()

    @classmethod
    def ingest_line(cls, target: dict[str, Any], parse_results: pp.ParseResults, file_name: str, line: int) -> None:
        """Store the value under ``mock_patches[TARGET]['configure']``."""
        _ingest_result(target, parse_results, file_name, line)


class MockAssertCalledTestPlanDirective(_MockExpectations, TestLevelDirective):
    """``mock: TARGET: expect [not] called [ATTRPATH]: [[args], {kwargs}]`` for the whole test case."""

    @classmethod
    def name(cls) -> str:
        """``mock_assert_called_test``."""
        return "mock_assert_called_test"


class MockAssertCalledActionDirective(_MockExpectations, ActionLevelDirective):
    """``A: mock: TARGET: expect [not] called [ATTRPATH]: [[args], {kwargs}]`` for one action case."""

    @classmethod
    def name(cls) -> str:
        """``mock_assert_called_action``."""
        return "mock_assert_called_action"


class MockPathResultForTestPlanDirective(_MockResults, TestLevelDirective):
    """``mock: TARGET: ATTRPATH: [exception | delete] VALUE`` for the whole test case."""

    @classmethod
    def name(cls) -> str:
        """``mock_result_test``."""
        return "mock_result_test"


class MockPathResultForActionDirective(_MockResults, ActionLevelDirective):
    """``A: mock: TARGET: ATTRPATH: [exception | delete] VALUE`` for one action case."""

    @classmethod
    def name(cls) -> str:
        """``mock_result_action``."""
        return "mock_result_action"
