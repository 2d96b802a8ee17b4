"""Lines for the end of a run's summary, from whichever process of the run wrote them.

Under pytest-xdist the tests run in worker processes while the summary is printed by the controller, which
collects nothing: each worker hands its lines over when it finishes (``tests/conftest.py``), so a left-out
folder, a browser test skipped for want of Chromium or the interop venv's build still show in the summary.
"""

from __future__ import annotations

LINES: list[str] = []


def note(line: str) -> None:
    """Add ``line`` to the summary (once, however many processes report it)."""
    if line not in LINES:
        LINES.append(line)
