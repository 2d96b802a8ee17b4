"""Stubbing other services' actions with :class:`~pysoa_like.test.stub_service.stub_action`.

* ``[«action»:] stub action: SERVICE: ACTION: body [TYPE]: PATH: VALUE`` builds the body the stub returns;
* ``[«action»:] stub action: SERVICE: ACTION: error: code=C, field=F, message=M`` adds an error it
  returns instead (``field=none`` or ``message=none``: no field, no message);
* ``[«action»:] stub action: SERVICE: ACTION: expect [not] called[ [TYPE]: PATH: VALUE]`` expects a
  call with exactly this request body (lines add to one body; ``expect called:`` alone: an empty
  body), or no call at all.

Test-level stubs are active for the whole test case; action-level ones around that action's call
(inside a test-level stub of the same action, the action-level one answers).
"""

from __future__ import annotations

from typing import Any

import pyparsing as pp

from pysoa_like.common.errors import Error
from pysoa_like.test.plan.errors import FixtureSyntaxError
from pysoa_like.test.plan.grammar.data_types import DataTypeGrammar, get_parsed_data_type_value
from pysoa_like.test.plan.grammar.directive import VarNameGrammar, VarValueGrammar, parsed
from pysoa_like.test.plan.grammar.directives._scoped import ActionLevelDirective, ScopedDirective, TestLevelDirective
from pysoa_like.test.plan.grammar.tools import path_put

__all__ = [
    "AssertStubActionCalledForActionDirective",
    "AssertStubActionCalledForTestPlanDirective",
    "StubActionBodyForActionDirective",
    "StubActionBodyForTestPlanDirective",
    "StubActionErrorForActionDirective",
    "StubActionErrorForTestPlanDirective",
]

_LIVE_KEY = "_started_stubs"


def _prefix() -> pp.ParserElement:
    return (
        pp.Literal("stub action")
        + pp.Literal(":")
        + pp.Word(pp.alphanums + "_")("stub_service").set_name("service name")
        + pp.Literal(":")
        + pp.Word(pp.alphanums + "_.")("stub_action").set_name("action name")
        + pp.Literal(":")
    )


def _body_grammar() -> pp.ParserElement:
    return (
        _prefix()
        + pp.Keyword("body")
        + pp.Opt(DataTypeGrammar)
        + pp.Literal(":")
        + VarNameGrammar
        + pp.Literal(":")
        + VarValueGrammar
    )


def _error_grammar() -> pp.ParserElement:
    return (
        _prefix()
        + pp.Keyword("error")
        + pp.Literal(":")
        + pp.Keyword("code")
        + pp.Literal("=")
        + pp.Word(pp.alphanums + "_-")("error_code").set_name("error code")
        + pp.Literal(",")
        + pp.Keyword("field")
        + pp.Literal("=")
        + pp.Word(pp.alphanums + "_.{}[]-")("field_name").set_name("field")
        + pp.Literal(",")
        + pp.Keyword("message")
        + pp.Literal("=")
        + pp.Regex(r"[^\n]*")
        .leave_whitespace()
        .set_parse_action(lambda tokens: tokens[0].strip(" \t"))("error_message")
    )


def _expect_grammar() -> pp.ParserElement:
    body = VarNameGrammar + pp.Literal(":") + VarValueGrammar
    return (
        _prefix()
        + pp.Keyword("expect")
        + pp.Opt(pp.Keyword("not")("not"))
        + pp.Keyword("called")
        + pp.Opt(DataTypeGrammar)
        + pp.Literal(":")
        + pp.Opt(body)
    )


def _config(target: dict[str, Any], results: pp.ParseResults) -> dict[str, Any]:
    key = (results.stub_service, results.stub_action)
    config: dict[str, Any] = target.setdefault("stubbed_actions", {}).setdefault(key, {})
    return config


def _ingest_body(target: dict[str, Any], results: pp.ParseResults, file_name: str, line_number: int) -> None:
    config = _config(target, results)
    if "errors" in config:
        raise FixtureSyntaxError(
            f"Stub {results.stub_service}.{results.stub_action} already returns errors; it cannot also return a body",
            file_name, line_number,
        )  # fmt: skip
    value = get_parsed_data_type_value(results, results.value)
    path_put(config.setdefault("body", {}), results.variable_name, value)


def _ingest_error(target: dict[str, Any], results: pp.ParseResults, file_name: str, line_number: int) -> None:
    config = _config(target, results)
    if "body" in config:
        raise FixtureSyntaxError(
            f"Stub {results.stub_service}.{results.stub_action} already returns a body; it cannot also return errors",
            file_name, line_number,
        )  # fmt: skip
    field = results.field_name
    message = results.error_message
    config.setdefault("errors", []).append(
        {
            "code": results.error_code,
            "field": None if field.lower() == "none" else field,
            "message": None if not message or message.lower() == "none" else message,
        }
    )


def _ingest_expect(target: dict[str, Any], results: pp.ParseResults, file_name: str, line_number: int) -> None:
    config = _config(target, results)
    negated = bool(parsed(results, "not"))
    if ("expect_request" in config and negated) or ("expect_not_called" in config and not negated):
        raise FixtureSyntaxError(
            f"Cannot expect both 'called' and 'not called' for stub {results.stub_service}.{results.stub_action}",
            file_name, line_number,
        )  # fmt: skip
    if negated:
        config["expect_not_called"] = True
        return
    request = config.setdefault("expect_request", {})
    if parsed(results, "variable_name"):
        path_put(request, results.variable_name, get_parsed_data_type_value(results, results.value))


def _start(target: dict[str, Any]) -> None:
    from pysoa_like.test.stub_service import stub_action

    if _LIVE_KEY in target or not target.get("stubbed_actions"):
        return
    started: list[Any] = []
    target[_LIVE_KEY] = started
    for service, action in sorted(target["stubbed_actions"]):
        config = target["stubbed_actions"][service, action]
        if config.get("errors"):
            errors = [Error(code=e["code"], message=e["message"], field=e["field"]) for e in config["errors"]]
            stub = stub_action(service, action, errors=errors)
        else:
            stub = stub_action(service, action, body=config.get("body") or {})
        config["mock_action"] = stub.start()
        started.append(stub)


def _stop(target: dict[str, Any]) -> None:
    for stub in reversed(target.pop(_LIVE_KEY, [])):
        stub.stop()


def _check(target: dict[str, Any], msg: str | None) -> None:
    prefix = f"{msg}: " if msg else ""
    for (service, action), config in sorted((target.get("stubbed_actions") or {}).items()):
        stub_mock = config.get("mock_action")
        if stub_mock is None:
            continue
        bodies = list(stub_mock.call_bodies)
        if "expect_request" in config and not any(config["expect_request"] == body for body in bodies):
            raise AssertionError(
                f"{prefix}expected stubbed action {service}.{action} to be called with {config['expect_request']!r}, "
                f"but it was called with: {bodies!r}" if bodies else
                f"{prefix}expected stubbed action {service}.{action} to be called with {config['expect_request']!r}, "
                "but it was not called"
            )  # fmt: skip
        if config.get("expect_not_called") and bodies:
            raise AssertionError(
                f"{prefix}expected stubbed action {service}.{action} not to be called, but it was called with: "
                f"{bodies!r}"
            )


class _Stubs(ScopedDirective):
    """Stubbing around the scope: started in (service, action) order, stopped in reverse."""

    @classmethod
    def start(cls, target: dict[str, Any]) -> None:
        """Start the scope's stubs."""
        _start(target)

    @classmethod
    def stop(cls, target: dict[str, Any]) -> None:
        """Stop the scope's stubs."""
        _stop(target)


class _StubBodies(_Stubs):
    @classmethod
    def line_grammar(cls) -> pp.ParserElement:
        """``stub action: SERVICE: ACTION: body [TYPE]: PATH: VALUE``."""
        return _body_grammar()

    @classmethod
    def ingest_line(cls, target: dict[str, Any], parse_results: pp.ParseResults, file_name: str, line: int) -> None:
        """Place the value at PATH in ``stubbed_actions[(SERVICE, ACTION)]['body']``."""
        _ingest_body(target, parse_results, file_name, line)


class _StubErrors(_Stubs):
    @classmethod
    def line_grammar(cls) -> pp.ParserElement:
        """``stub action: SERVICE: ACTION: error: code = C, field = F, message = M``."""
        return _error_grammar()

    @classmethod
    def ingest_line(cls, target: dict[str, Any], parse_results: pp.ParseResults, file_name: str, line: int) -> None:
        """Add the error to ``stubbed_actions[(SERVICE, ACTION)]['errors']``."""
        _ingest_error(target, parse_results, file_name, line)


class _StubExpectations(_Stubs):
    @classmethod
    def line_grammar(cls) -> pp.ParserElement:
        """``stub action: SERVICE: ACTION: expect [not] called [TYPE]: [PATH: VALUE]``."""
        return _expect_grammar()

    @classmethod
    def ingest_line(cls, target: dict[str, Any], parse_results: pp.ParseResults, file_name: str, line: int) -> None:
        """Add to the expected request body (or expect no call)."""
        _ingest_expect(target, parse_results, file_name, line)

    @classmethod
    def check(cls, target: dict[str, Any], msg: str | None) -> None:
        """Check the stub expectations.

        Raises:
            AssertionError: No call had the expected body, or a call was made that must not be.
        """
        _check(target, msg)


class StubActionBodyForTestPlanDirective(_StubBodies, TestLevelDirective):
    """``stub action: SERVICE: ACTION: body [TYPE]: PATH: VALUE`` for the whole test case."""

    @classmethod
    def name(cls) -> str:
        """``stub_action_body_test``."""
        return "stub_action_body_test"


class StubActionBodyForActionDirective(_StubBodies, ActionLevelDirective):
    """``A: stub action: SERVICE: ACTION: body [TYPE]: PATH: VALUE`` for one action case."""

    @classmethod
    def name(cls) -> str:
        """``stub_action_body_action``."""
        return "stub_action_body_action"


class StubActionErrorForTestPlanDirective(_StubErrors, TestLevelDirective):
    """``stub action: SERVICE: ACTION: error: code=C, field=F, message=M`` for the whole test case."""

    @classmethod
    def name(cls) -> str:
        """``stub_action_error_test``."""
        return "stub_action_error_test"


class StubActionErrorForActionDirective(_StubErrors, ActionLevelDirective):
    """``A: stub action: SERVICE: ACTION: error: code=C, field=F, message=M`` for one action case."""

    @classmethod
    def name(cls) -> str:
        """``stub_action_error_action``."""
        return "stub_action_error_action"


class AssertStubActionCalledForTestPlanDirective(_StubExpectations, TestLevelDirective):
    """``stub action: SERVICE: ACTION: expect [not] called[ [TYPE]: PATH: VALUE]`` for the whole test case."""

    @classmethod
    def name(cls) -> str:
        """``stub_action_called_test``."""
        return "stub_action_called_test"


class AssertStubActionCalledForActionDirective(_StubExpectations, ActionLevelDirective):
    """``A: stub action: SERVICE: ACTION: expect [not] called[ [TYPE]: PATH: VALUE]`` for one action case."""

    @classmethod
    def name(cls) -> str:
        """``stub_action_called_action``."""
        return "stub_action_called_action"
