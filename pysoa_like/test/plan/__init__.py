"""Test plans: end-to-end test cases of a service written in ``.pysoa`` fixture files (PySOA's ``pysoa.test.plan``).

This package needs the ``test_plans`` extra (pyparsing, and freezegun for ``freeze time``).
"""

from __future__ import annotations

try:
    import pyparsing  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised in a venv without the extra
    raise ImportError("pysoa_like.test.plan needs the test_plans extra: pip install 'pysoa_like[test_plans]'") from _exc

__all__: list[str] = []
