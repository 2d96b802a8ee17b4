"""Freezing time with freezegun: ``freeze time: VALUE`` (the whole test case) and ``«action»: freeze time: VALUE``.

VALUE is ``now`` or a UTC instant written exactly ``YYYY-MM-DDTHH:MM:SSZ``; the clock does not tick
while frozen. Date and time keywords (``now``, ``utc_midnight``, ...) in later lines of the same test
case (or action case) are computed on the frozen clock when the fixture is parsed, so expectations
such as ``expect datetime: attribute value: due: now 14`` agree with what the service computes.
"""

from __future__ import annotations

import datetime
from typing import Any

import pyparsing as pp

from pysoa_like.common._extras import install_extra
from pysoa_like.test.plan.errors import FixtureSyntaxError
from pysoa_like.test.plan.grammar.data_types import freeze_parse_clock, unfreeze_parse_clock
from pysoa_like.test.plan.grammar.directive import ActionCase, TestCase, VarValueGrammar, parsed
from pysoa_like.test.plan.grammar.directives._scoped import ActionLevelDirective, ScopedDirective, TestLevelDirective

__all__ = ["FreezeTimeActionDirective", "FreezeTimeMixin", "FreezeTimeTestPlanDirective"]

_INSTANT_KEY = "_freezegun_freeze_time"
_LIVE_KEY = "_freezegun_context"


class FreezeTimeMixin:
    """Parsing and starting a freeze (the instant is kept under ``_freezegun_freeze_time``, ``None`` for now)."""

    @staticmethod
    def parse_and_store_freeze_to(target: dict[str, Any], value: str, file_name: str, line_number: int) -> None:
        """Store the instant to freeze at, and freeze the parse clock there for the rest of ``target``.

        Raises:
            FixtureSyntaxError: freezegun is not installed, or the value is neither ``now`` nor
                ``YYYY-MM-DDTHH:MM:SSZ``.
        """
        try:
            import freezegun  # noqa: F401
        except ImportError:
            raise FixtureSyntaxError(
                f"'freeze time' needs freezegun, which is not installed: {install_extra('test-plans')}",
                file_name,
                line_number,
            ) from None
        if value == "now":
            instant = None
        else:
            try:
                instant = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
            except ValueError:
                raise FixtureSyntaxError(
                    f"Cannot freeze time at {value!r}: write 'now' or a UTC instant as YYYY-MM-DDTHH:MM:SSZ",
                    file_name, line_number,
                ) from None  # fmt: skip
        target[_INSTANT_KEY] = instant
        freeze_parse_clock(target, instant)

    @staticmethod
    def start_freeze(target: dict[str, Any]) -> None:
        """Freeze the clock (if ``target`` asks for it and is not frozen yet)."""
        if _INSTANT_KEY in target and _LIVE_KEY not in target:
            import freezegun

            freezer = freezegun.freeze_time(target[_INSTANT_KEY])
            freezer.start()
            target[_LIVE_KEY] = freezer

    @staticmethod
    def stop_freeze(target: dict[str, Any]) -> None:
        """Unfreeze the clock (if ``target`` froze it)."""
        freezer = target.pop(_LIVE_KEY, None)
        if freezer is not None:
            freezer.stop()


class _Freeze(ScopedDirective, FreezeTimeMixin):
    """Freezing the clock around the scope."""

    @classmethod
    def line_grammar(cls) -> pp.ParserElement:
        """``freeze time: VALUE``."""
        return pp.Literal("freeze time") + pp.Literal(":") + VarValueGrammar

    @classmethod
    def ingest_line(cls, target: dict[str, Any], parse_results: pp.ParseResults, file_name: str, line: int) -> None:
        """Store the instant and freeze the parse clock for the rest of the scope (a global line: not at all)."""
        cls.parse_and_store_freeze_to(target, parse_results.value, file_name, line)
        if parsed(parse_results, "is_global"):
            unfreeze_parse_clock(target)

    @classmethod
    def start(cls, target: dict[str, Any]) -> None:
        """Freeze the clock."""
        cls.start_freeze(target)

    @classmethod
    def stop(cls, target: dict[str, Any]) -> None:
        """Unfreeze it."""
        cls.stop_freeze(target)


class FreezeTimeTestPlanDirective(_Freeze, TestLevelDirective):
    """``freeze time: VALUE``: freeze the clock for every action case of the test case.

    The parse clock stays frozen until the test case ends.
    """

    @classmethod
    def name(cls) -> str:
        """``freeze_time_test``."""
        return "freeze_time_test"


class FreezeTimeActionDirective(_Freeze, ActionLevelDirective):
    """``A: freeze time: VALUE``: freeze the clock around one action case's call.

    Inside a test-level freeze, this one applies during the action. The parse clock stays frozen
    until parsing reaches a new action path.
    """

    @classmethod
    def name(cls) -> str:
        """``freeze_time_action``."""
        return "freeze_time_action"

    def post_parse_test_case_action(self, action_case: ActionCase, test_case: TestCase) -> None:
        """Unfreeze the parse clock at the end of the action case."""
        unfreeze_parse_clock(action_case)
