"""Inputs: ``«action»: [job control | job context] input [TYPE]: PATH: VALUE``."""

from __future__ import annotations

from typing import Any

import pyparsing as pp

from pysoa_like.test.plan.grammar.data_types import DataTypeGrammar, get_parsed_data_type_value
from pysoa_like.test.plan.grammar.directive import (
    ActionCase,
    ActionDirective,
    TestCase,
    VarNameGrammar,
    VarValueGrammar,
    parsed,
)
from pysoa_like.test.plan.grammar.tools import path_put

__all__ = ["ActionInputDirective"]

# Where each form's values go in the action case.
_TARGET_KEYS = {"": "inputs", "control": "job_control_inputs", "context": "job_context_inputs"}


class ActionInputDirective(ActionDirective):
    """Put a value into the action's request body, the job's control header, or the job's context header.

    ``lend_book: input int: book_id: 311`` sends ``{"book_id": 311}``; ``job control input`` adds the
    key to the control header; ``job context input`` to the context (``switches`` keeps its meaning).
    """

    @classmethod
    def name(cls) -> str:
        """``input``."""
        return "input"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``A: [job (control | context)] input [TYPE]: PATH: VALUE``."""
        job = pp.Keyword("job") - (pp.Keyword("control") | pp.Keyword("context"))("job_slot")
        return (
            super().get_full_grammar()
            + pp.Opt(job)
            + pp.Keyword("input")
            + pp.Opt(DataTypeGrammar)
            + pp.Literal(":")
            + VarNameGrammar
            + pp.Literal(":")
            + VarValueGrammar
        )

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Place the typed value at PATH in ``inputs``, ``job_control_inputs`` or ``job_context_inputs``."""
        target = action_case.setdefault(_TARGET_KEYS[parsed(parse_results, "job_slot") or ""], {})
        path_put(target, parse_results.variable_name, get_parsed_data_type_value(parse_results, parse_results.value))

    def assert_test_case_action_results(self, *args: Any, **kwargs: Any) -> None:
        """Inputs check nothing."""
