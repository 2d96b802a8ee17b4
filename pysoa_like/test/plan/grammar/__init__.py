"""The fixture-file grammar: data types, paths, directives (PySOA's ``pysoa.test.plan.grammar``).

Importing this package registers the built-in directives, so they always come before directives
that code registers later and before entry-point plug-ins. See the *Test plans* page of the
documentation for the grammar.
"""

from __future__ import annotations

import pysoa_like.test.plan.grammar.directives  # noqa: F401  (registers the built-in directives)
from pysoa_like.test.plan.grammar.data_types import data_type_descriptions, get_all_data_type_names
from pysoa_like.test.plan.grammar.directive import get_all_directives

__all__ = ["data_type_descriptions", "get_all_data_type_names", "get_all_directives"]
