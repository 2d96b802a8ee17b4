"""The built-in directives; importing this package registers them, in PySOA's order (the parsing priority)."""

from __future__ import annotations

from pysoa_like.test.plan.grammar.directive import register_directive
from pysoa_like.test.plan.grammar.directives.inputs import ActionInputDirective
from pysoa_like.test.plan.grammar.directives.plans import (
    TestCaseCommentDirective,
    TestCaseDescriptionDirective,
    TestCaseNameDirective,
    TestCaseSkipDirective,
)

__all__: list[str] = []

#: The built-in directive classes in registration order (longer error forms first).
BUILT_IN_DIRECTIVES = (
    TestCaseCommentDirective,
    TestCaseNameDirective,
    TestCaseDescriptionDirective,
    TestCaseSkipDirective,
    ActionInputDirective,
)

for _directive in BUILT_IN_DIRECTIVES:
    register_directive(_directive)
