"""The dashboard page in a real headless Chromium (Playwright), watching the example services on real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from tests.browser import headless_chromium, watched_page
from tests.functional.conftest import wait_for

# Waits inside the page, in milliseconds (the dashboard reads Redis every half second here).
_WAIT_MS = 20_000
# What the page shows for a value it does not know (an en dash).
_UNKNOWN = "\u2013"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (the distribution's), for the module."""
    yield from headless_chromium()


@pytest.fixture
def page(browser: Any, dashboard_url: str) -> Iterator[Any]:
    """The dashboard open in a new page; at the end, no request may have left the dashboard, nor any script error."""
    with watched_page(browser, dashboard_url, 1400, also_allowed=("data:",)) as page:
        yield page


def test_the_page_shows_the_demo_services_and_their_workers(page: Any, demo_services: dict[str, int]) -> None:
    """Both example services are listed with their worker counts; selecting one lists its workers."""
    page.wait_for_selector('#services tbody tr[data-service="report"]', timeout=_WAIT_MS)
    page.wait_for_function(
        "() => document.querySelector('#services tr[data-service=calculator] [data-field=instances]')"
        ".textContent === '2'",
        timeout=_WAIT_MS,
    )
    assert page.text_content('#services tr[data-service="report"] [data-field="instances"]') == "1"
    assert page.get_attribute("#status", "data-state") == "ok"
    page.click('#services tbody tr[data-service="calculator"]')
    page.wait_for_function("() => document.querySelectorAll('#instances tbody tr[data-instance]').length === 2")
    assert page.text_content("#detail-name") == "calculator"
    states = page.locator("#instances tbody tr[data-instance] td:nth-child(5)").all_text_contents()
    assert states == ["serving", "serving"]


def test_the_calls_chart_updates_after_calls_are_made(page: Any, demo_client: Client) -> None:
    """Calls made while the page is open raise the calculator's line in the calls-per-second chart."""
    page.wait_for_selector('#services tbody tr[data-service="calculator"]', timeout=_WAIT_MS)
    page.wait_for_function("() => document.querySelector('#chart-calls').dataset.sum !== undefined")
    before = float(page.get_attribute("#chart-calls", "data-sum"))
    for number in range(40):
        demo_client.call_action("calculator", "square", {"number": number})
    # One point per second: the sum of the points is the number of calls charted.
    page.wait_for_function(
        f"() => Number(document.querySelector('#chart-calls').dataset.sum) >= {before + 39.5}", timeout=_WAIT_MS
    )
    assert page.locator('#chart-calls path[data-service="calculator"]').count() == 1


def test_an_error_made_on_purpose_appears_in_the_recent_errors(page: Any, demo_client: Client) -> None:
    """A failing call shows in the recent-errors list with its service, action, code, message and correlation id."""
    correlation_id = f"browser-{uuid.uuid4().hex[:12]}"
    with pytest.raises(CallActionError):
        demo_client.call_action("calculator", "add", {"numbers": []}, correlation_id=correlation_id)
    row = page.locator("#errors tbody tr", has_text=correlation_id)
    row.wait_for(timeout=_WAIT_MS)
    cells = row.locator("td").all_text_contents()
    assert cells[1:7] == ["calculator", "add", "EMPTY", "Give at least one number", "numbers", correlation_id]
    assert page.is_hidden("#no-errors")


def test_a_service_s_actions_are_shown_with_their_schemas(page: Any, demo_services: dict[str, int]) -> None:
    """Selecting a service lists its actions; opening one shows its request and response schemas."""
    page.wait_for_selector('#services tbody tr[data-service="report"]', timeout=_WAIT_MS)
    page.click('#services tbody tr[data-service="report"]')
    action = page.locator('details[data-action="sum_of_squares"]')
    action.wait_for(timeout=_WAIT_MS)
    action.locator("summary").click()
    schemas = action.locator("pre").all_text_contents()
    assert '"numbers"' in schemas[0] and '"sum_of_squares"' in schemas[1]
    assert "Square each number through the calculator service" in action.text_content()


@pytest.mark.parametrize(
    ("depths", "shown", "unknown"),
    [({"calculator": None, "report": None}, _UNKNOWN, 2), ({"calculator": 12, "report": None}, "\u2265 12", 1)],
    ids=["every-depth-unknown", "one-depth-unknown"],
)
def test_an_unknown_queue_depth_is_not_counted_as_zero_in_the_queued_total(
    page: Any, overview: Callable[[], Any], depths: dict[str, int | None], shown: str, unknown: int
) -> None:
    """With a service's queue depth unknown (null: a Redis master could not be read) the queued-requests card shows
    the unknown mark when no depth is known and the known sum as a lower bound otherwise, never a plain sum."""

    # Given the dashboard's own overview (both services listed), with the queue depths replaced, for the page's polls
    def both_listed() -> Any:
        read = overview()
        return read if {service["name"] for service in read["services"]} == set(depths) else None

    state = wait_for(both_listed)
    for service in state["services"]:
        service["queue_depth"] = depths[service["name"]]
    page.route("**/api/overview", lambda route: route.fulfill(json=state))
    # When the page redraws with that state
    page.wait_for_function(
        "() => document.querySelector('#services tr[data-service=report] [data-field=queued]')"
        f"?.textContent === '{_UNKNOWN}'",
        timeout=_WAIT_MS,
    )
    # Then the rows show what is known and the total says that part of it is unknown
    queued = page.text_content('#services tbody tr[data-service="calculator"] [data-field="queued"]')
    assert queued == (_UNKNOWN if depths["calculator"] is None else str(depths["calculator"]))
    assert page.text_content("#total-queued") == shown
    assert page.get_attribute("#total-queued", "title") == f"queue depth unknown for {unknown} of 2 services"
