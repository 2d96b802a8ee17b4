"""The built-in directives; importing this package registers them, in PySOA's order (the parsing priority)."""

from __future__ import annotations

from pysoa_like.test.plan.grammar.directive import register_directive
from pysoa_like.test.plan.grammar.directives.expects_errors import (
    ActionExpectsErrorsDirective,
    ActionExpectsFieldErrorsDirective,
    ActionExpectsFieldMessageErrorsDirective,
    ActionExpectsMessageErrorsDirective,
    ActionExpectsNoErrorsDirective,
)
from pysoa_like.test.plan.grammar.directives.expects_values import (
    ActionExpectsAnyDirective,
    ActionExpectsFieldValueDirective,
    ActionExpectsNoneDirective,
    ActionExpectsNotPresentDirective,
)
from pysoa_like.test.plan.grammar.directives.inputs import ActionInputDirective
from pysoa_like.test.plan.grammar.directives.mock import (
    MockAssertCalledActionDirective,
    MockAssertCalledTestPlanDirective,
    MockPathResultForActionDirective,
    MockPathResultForTestPlanDirective,
)
from pysoa_like.test.plan.grammar.directives.plans import (
    TestCaseCommentDirective,
    TestCaseDescriptionDirective,
    TestCaseNameDirective,
    TestCaseSkipDirective,
)
from pysoa_like.test.plan.grammar.directives.stub_action import (
    AssertStubActionCalledForActionDirective,
    AssertStubActionCalledForTestPlanDirective,
    StubActionBodyForActionDirective,
    StubActionBodyForTestPlanDirective,
    StubActionErrorForActionDirective,
    StubActionErrorForTestPlanDirective,
)
from pysoa_like.test.plan.grammar.directives.time import FreezeTimeActionDirective, FreezeTimeTestPlanDirective

__all__: list[str] = []

#: The built-in directive classes in registration order (longer error forms first).
BUILT_IN_DIRECTIVES = (
    TestCaseCommentDirective,
    TestCaseNameDirective,
    TestCaseDescriptionDirective,
    TestCaseSkipDirective,
    ActionInputDirective,
    ActionExpectsFieldMessageErrorsDirective,
    ActionExpectsMessageErrorsDirective,
    ActionExpectsFieldErrorsDirective,
    ActionExpectsErrorsDirective,
    ActionExpectsNoErrorsDirective,
    ActionExpectsFieldValueDirective,
    ActionExpectsAnyDirective,
    ActionExpectsNoneDirective,
    ActionExpectsNotPresentDirective,
    MockAssertCalledTestPlanDirective,
    MockAssertCalledActionDirective,
    MockPathResultForTestPlanDirective,
    MockPathResultForActionDirective,
    StubActionBodyForTestPlanDirective,
    StubActionBodyForActionDirective,
    StubActionErrorForTestPlanDirective,
    StubActionErrorForActionDirective,
    AssertStubActionCalledForTestPlanDirective,
    AssertStubActionCalledForActionDirective,
    FreezeTimeTestPlanDirective,
    FreezeTimeActionDirective,
)

for _directive in BUILT_IN_DIRECTIVES:
    register_directive(_directive)
