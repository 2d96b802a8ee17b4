"""Tests that need Conformity itself, run in Conformity's own environment.

Conformity's metadata pins ``attrs<22``, so it is not installed in the main ``.venv`` (whose attrs is
current): ``make test-conformity`` (or ``tox -e conformity``) runs this folder in ``.venv-conformity``,
installed from the lock with the ``conformity`` extra, and ``make test`` runs it after the main suite.
The main suite's collection leaves this folder out when Conformity is not importable and says so
(``tests/conftest.py``).
"""

from __future__ import annotations

try:
    import conformity  # noqa: F401
except ImportError as exc:  # pragma: no cover - only when run in the wrong environment
    raise ImportError(
        "tests/conformity needs Conformity installed: run it with `make test-conformity` (its own environment)"
    ) from exc
