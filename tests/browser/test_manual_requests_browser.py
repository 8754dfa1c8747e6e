"""Narrow tables in a real Chromium: the manual requests' list reads on one line per word at desktop and phone
width, in English and Korean, however long an earlier request's result; the orders table scrolls sideways
on a phone instead of stacking its words letter by letter."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS, login
from tests.browser.test_dashboard_browser import heartbeat
from tests.factories import ManualOrderRequestFactory, OrderFactory
from trading.models import ManualOrderRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# How many lines the element's text takes: a word broken letter by letter takes several.
LINES = (
    "el => { const r = document.createRange(); r.selectNodeContents(el);"
    " return new Set([...r.getClientRects()].map(c => Math.round(c.top))).size; }"
)


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("width", [1280, 375])
def test_status_order_and_cancel_read_whole_beside_a_long_result(page, language, width):
    heartbeat(state="RUNNING")
    ManualOrderRequestFactory(status=ManualOrderRequest.Status.DONE, result="order ac-a03fd3851fa2403d879dc1e00417240a: DONE")
    pending = ManualOrderRequestFactory(kind=ManualOrderRequest.Kind.SELL_ALL, krw=None, status=ManualOrderRequest.Status.PENDING)
    page.set_viewport_size({"width": width, "height": 900})
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls

    row = page.locator("#panel-manual tr", has_text=f"#{pending.pk}")
    cancel = row.locator("button")
    assert cancel.inner_text() == {"en": "Cancel", "ko": "취소"}[language]
    assert cancel.evaluate(LINES) == 1
    card = page.locator("#panel-manual").bounding_box()
    button = cancel.bounding_box()
    assert button["x"] + button["width"] <= card["x"] + card["width"], "the Cancel button sticks out of its card"
    assert row.locator(".badge").evaluate(LINES) == 1
    result = page.locator("#panel-manual td.muted", has_text="ac-a03fd385").bounding_box()
    assert result["x"] + result["width"] <= card["x"] + card["width"]
    assert result["height"] < 80, "the result is broken letter by letter"
    order = row.locator("td").nth(2)
    assert order.inner_text() == {"en": "Sell all", "ko": "전량 매도"}[language]
    assert order.evaluate(LINES) <= len(order.inner_text().split())
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#panel-manual").screenshot(path=str(SCREENSHOTS / f"manual-requests-{language}-{width}.png"))


def test_the_orders_table_keeps_its_words_whole_on_a_phone(page):
    heartbeat(state="RUNNING")
    OrderFactory(status="DONE")
    page.set_viewport_size({"width": 375, "height": 900})
    login(page)
    page.click("button[lang=ko]")
    page.wait_for_selector("html[lang=ko]")
    page.wait_for_load_state("load")  # htmx has bound the controls

    row = page.locator("#panel-orders tr.order").first
    for cell in ("td:nth-child(1)", "td:nth-child(2)", "td:nth-child(3)", ".badge"):
        words = len(row.locator(cell).inner_text().split())
        assert row.locator(cell).evaluate(LINES) <= words, f"{cell} is broken inside a word"
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
