"""Finding the headless browser of the dashboard's browser tests: the distribution's Chromium, driven by Playwright.

Playwright never downloads a browser here: it launches the Chromium that the system package installs
(``apt-get install chromium``), or the one ``PYSOA_LIKE_CHROMIUM`` names. Where there is none, the
browser tests are skipped with a message saying so (and the run's summary repeats it), except under CI
(``CI`` set), where a missing browser fails them: CI installs it (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["CHROMIUM_ARGS", "CHROMIUM_ENV", "MISSING", "chromium_or_skip"]

CHROMIUM_ENV = "PYSOA_LIKE_CHROMIUM"
#: Headless, and nothing that reaches out to the network or needs a GPU or a sandbox (root in CI).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Messages of browser tests skipped for want of a browser, for the run's summary.
MISSING: list[str] = []


def chromium_or_skip() -> str:
    """The Chromium executable; skips the test without one (fails it under CI)."""
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = (
        "the dashboard's browser tests need Chromium: `apt-get install chromium` (Debian/Ubuntu), "
        f"or set {CHROMIUM_ENV} to a Chromium executable"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run them: .ci/run installs it)")
    if message not in MISSING:
        MISSING.append(message)
    pytest.skip(message)
