"""Finding the headless browser of the dashboard's browser tests: the distribution's Chromium, driven by Playwright.

Playwright never downloads a browser here: it launches the Chromium that the system package installs
(``apt-get install chromium``), or the one ``PYSOA_LIKE_CHROMIUM`` names. Where there is none, the
browser tests are skipped with a message saying so (and the run's summary repeats it), except under CI
(``CI`` set), where a missing browser fails them: CI installs it (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

__all__ = ["CHROMIUM_ARGS", "CHROMIUM_ENV", "MISSING", "chromium_or_skip", "headless_chromium", "watched_page"]

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


def headless_chromium() -> Iterator[Any]:
    """A headless Chromium (the distribution's) launched by Playwright, closed when the generator ends.

    A module's ``browser`` fixture is ``yield from headless_chromium()``.
    """
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def watched_page(
    browser: Any,
    url: str,
    width: int,
    *,
    also_allowed: tuple[str, ...] = (),
    expected_problem: Callable[[str], bool] = lambda text: False,
) -> Iterator[Any]:
    """A new page opened at ``url``; when the block ends, no request may have left ``url`` (but for the
    ``also_allowed`` prefixes), nor any script error or console error happened (but for ``expected_problem``s)."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(url)
    yield page
    page.close()
    assert [address for address in requests if not address.startswith((url, *also_allowed))] == []
    assert [problem for problem in problems if not expected_problem(problem)] == []
