"""The gateway's docs page in a real headless Chromium (Playwright): it renders the document, its form calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser import headless_chromium, watched_page
from tests.functional.gateway import shop

_WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (the distribution's), for the module."""
    yield from headless_chromium()


def _http_error_status(problem: str) -> bool:
    # The form's calls answered 4xx/5xx on purpose are logged by the browser as console errors.
    return "status of 4" in problem or "status of 5" in problem


@pytest.fixture
def page(browser: Any, gateway: httpx.Client) -> Iterator[Any]:
    """The docs page open; at the end, no request may have left the gateway, nor any script error happened."""
    base = str(gateway.base_url).rstrip("/") + "/"
    with watched_page(browser, base, 1300, expected_problem=_http_error_status) as page:  # / leads to /docs
        page.wait_for_selector('#status[data-state="ok"]', timeout=_WAIT_MS)
        yield page


def test_the_page_lists_every_exposed_action_with_its_schemas(page: Any) -> None:
    """Each exposed action is an operation of the shop section; opened, it shows its request schema's fields."""
    paths = page.locator("article.operation").evaluate_all("nodes => nodes.map(n => n.dataset.path)")
    assert sorted(paths) == sorted([f"/shop/{name}" for name in shop.EXPOSED] + ["/shop"])
    assert page.locator('article[data-path="/shop/cancel_order"] .badge.private').count() == 1
    page.click('article[data-path="/shop/square"] header')
    square = page.locator('article[data-path="/shop/square"]')
    assert square.locator('tr[data-property="number"] .required').count() == 1
    assert "≤ 1000" in square.locator('tr[data-property="number"]').inner_text()
    assert "The number to square" in square.locator('tr[data-property="number"]').inner_text()


def test_the_form_sends_a_request_and_shows_the_answer(page: Any) -> None:
    """Try it: the form posts the edited body and shows the status, the request id and the JSON answer."""
    page.click('article[data-path="/shop/square"] header')
    form = page.locator('article[data-path="/shop/square"] form.try')
    form.locator("textarea").fill('{"number": 12}')
    form.locator("button").click()
    form.locator(".result-status").wait_for(timeout=_WAIT_MS)
    assert form.locator(".result-status").inner_text().startswith("200")
    assert '"square": 144' in form.locator("pre.result").inner_text()
    form.locator("textarea").fill('{"number": "x"}')
    form.locator("button").click()
    status = "document.querySelector('article[data-path=\"/shop/square\"] .result-status')"
    page.wait_for_function(f"() => {status}?.textContent.startsWith('400')", timeout=_WAIT_MS)
    assert '"field": "number"' in form.locator("pre.result").inner_text()


def test_the_form_of_a_private_action_sends_the_token(page: Any) -> None:
    """A private action's form has a token field whose value is sent as a bearer token."""
    page.click('article[data-path="/shop/cancel_order"] header')
    form = page.locator('article[data-path="/shop/cancel_order"] form.try')
    form.locator("textarea").fill('{"order_id": 5}')
    form.locator('input[type="password"]').fill(shop.ADMIN_TOKEN)
    form.locator("button").click()
    form.locator(".result-status").wait_for(timeout=_WAIT_MS)
    assert form.locator(".result-status").inner_text().startswith("200")
    assert '"by": "admin"' in form.locator("pre.result").inner_text()
