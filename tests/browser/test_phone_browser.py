"""At 375 px (a phone) nothing is wider than the screen: tables become cards, each cell labelled, and no
column is squeezed to a letter per line; in English and Korean, on the dashboard and the admin's lists."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.browser.conftest import USERNAME, login, screenshot, wait_in_page
from tests.browser.test_dashboard_browser import heartbeat
from tests.factories import (
    BalanceSnapshotFactory,
    EngineEventFactory,
    FillFactory,
    ManualOrderRequestFactory,
    OrderFactory,
    PnlDailyFactory,
    SignalFactory,
)
from tests.trading.backtest_console_helpers import load_hourly, request_data
from trading import backtest_jobs
from trading.backtest.worker import run_job
from trading.models import ManualOrderRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 800}
NARROWEST_CELL_PX = 40

# Every element's right edge, and every visible table cell's width: what sticks out and what is squeezed.
MEASURE = r"""() => {
  const width = document.documentElement.clientWidth;
  const wide = [], narrow = [], covered = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.position === 'absolute' && box.width <= 1) continue;
    if (box.right > width + 1 || box.left < -1) {
      wide.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} right=${Math.round(box.right)}`);
    }
    if (el.tagName === 'TD' && el.hasAttribute('data-label') && box.width > 0) {
      // A card's label placed over its cell must have the cell's left padding to itself.
      const label = getComputedStyle(el, '::before');
      if (label.content !== 'none' && label.position === 'absolute' && parseFloat(style.paddingLeft) < parseFloat(label.width)) {
        covered.push(`td "${el.getAttribute('data-label')}" padding ${style.paddingLeft}, label ${label.width}`);
      }
      // ...and must fit in it: a long label runs down over the cards below.
      if (label.content !== 'none' && label.position === 'absolute' && parseFloat(label.height) > box.height + 2) {
        const name = el.getAttribute('data-label').slice(0, 30);
        covered.push(`td "${name}" label ${label.height} tall in a ${Math.round(box.height)}px cell`);
      }
    }
    const text = el.textContent.trim();
    if ((el.tagName === 'TD' || el.tagName === 'TH') && box.width > 0 && text) {
      const tops = [];
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        for (const rect of range.getClientRects()) tops.push(rect.top);
      }
      tops.sort((a, b) => a - b);
      const lines = tops.filter((top, i) => i === 0 || top - tops[i - 1] > 6).length;
      // A line of a few letters: a column squeezed until it breaks its words (a long identifier that
      // fills whole lines is fine).
      const perLine = text.replace(/\s+/g, '').length / Math.max(lines, 1);
      const words = text.split(/\s+/).length;
      if ((lines > words && perLine < 8) || (box.width < NARROWEST_CELL_PX && text.length > 3)) {
        const name = `${el.tagName.toLowerCase()}.${el.className}`;
        narrow.push(`${name} "${text.slice(0, 20)}" ${Math.round(box.width)}px ${lines} lines`);
      }
    }
  }
  return {width, scroll: document.documentElement.scrollWidth, wide, narrow, covered};
}""".replace("NARROWEST_CELL_PX", str(NARROWEST_CELL_PX))


def busy_dashboard() -> None:
    """A worst case: long texts, full tables, an order with fills, a long refusal, a large balance."""
    heartbeat(state="RUNNING", last_price=Decimal("101234567"), iteration=123456)
    for _ in range(8):
        order = OrderFactory(reason="strategy BUY " * 5, error_message="insufficient_funds_bid " * 20, price=Decimal("123456789"))
        FillFactory.create_batch(2, order=order)
        SignalFactory(explanation="MACD crossed above its signal line, histogram rising " * 6)
        EngineEventFactory(message="a long cycle message with an identifier ac-a03fd3851fa2403d879dc1e00417240a " * 5)
    ManualOrderRequestFactory(
        status=ManualOrderRequest.Status.REJECTED,
        result="blocked: a buy of 20,000 KRW is over MAX_ORDER_KRW=10,000 KRW; the most allowed is 10,000 KRW " * 3,
    )
    ManualOrderRequestFactory(status=ManualOrderRequest.Status.PENDING)
    BalanceSnapshotFactory(krw=Decimal("123456789012"), coin_volume=Decimal("1.23456789"))
    for minute in range(30):
        BalanceSnapshotFactory(ts=timezone.now() - timedelta(minutes=minute * 10), total_krw=Decimal(1_000_000 + minute * 13))
    PnlDailyFactory(date=timezone.localdate())


def superuser_on_a_phone(page, language: str) -> None:
    get_user_model().objects.filter(username=USERNAME).update(is_superuser=True)
    page.set_viewport_size(PHONE)
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls


def assert_fits(page, where: str = "", *, narrow: bool = True) -> None:
    """Nothing wider than the screen, no card label over its value (and, with `narrow`, no squeezed column)."""
    found = measured(page)
    assert found["wide"] == [], f"wider than the {found['width']} px screen{where}: {found['wide'][:10]}"
    if narrow:
        assert found["narrow"] == [], f"squeezed columns{where}: {found['narrow'][:10]}"
    assert found["covered"] == [], f"labels over their values{where}: {found['covered'][:10]}"


def measured(page) -> dict:
    page.wait_for_load_state("load")
    return page.evaluate(MEASURE)


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("venue", ["paper", "sandbox"])
def test_nothing_on_the_dashboard_is_wider_than_a_phone(page, settings, language, venue):
    if venue == "sandbox":
        settings.PAPER_MODE = False
        settings.UPBIT_API_BASE = "http://127.0.0.1:8765"
    busy_dashboard()
    page.set_viewport_size(PHONE)
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls
    page.wait_for_selector("#panel-orders tr.order")

    found = measured(page)
    assert found["wide"] == [], f"wider than the {found['width']} px screen: {found['wide'][:10]}"
    assert found["narrow"] == [], f"squeezed columns: {found['narrow'][:10]}"
    assert found["covered"] == [], f"labels over their values: {found['covered'][:10]}"
    assert found["scroll"] <= found["width"] + 1
    # Each order is a card whose cells name their column.
    first = page.locator("#panel-orders tr.order").first
    assert first.evaluate("el => getComputedStyle(el).display") == "block"
    label = first.locator("td").nth(3).evaluate("el => getComputedStyle(el, '::before').content")
    assert label.strip('"') == {"en": "Status", "ko": "상태"}[language]
    screenshot(page, f"phone-dashboard-{venue}-{language}")

    # A panel swapped in by its poll is labelled too.
    newest = OrderFactory(status="WAIT")
    page.wait_for_selector(f'#panel-orders tr[data-identifier="{newest.identifier}"] td[data-label]', timeout=10_000)
    assert measured(page)["wide"] == []


def test_on_a_desktop_the_tables_stay_tables(page):
    busy_dashboard()
    login(page)
    page.wait_for_selector("#panel-orders tr.order")
    assert page.locator("#panel-orders tr.order").first.evaluate("el => getComputedStyle(el).display") == "table-row"
    assert page.locator("#panel-orders thead").is_visible()
    found = measured(page)
    assert found["wide"] == []
    screenshot(page, "desktop-dashboard-tables")


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize(
    "path", ["/admin/trading/order/", "/admin/trading/manualorderrequest/", "/admin/trading/engineevent/", "/admin/"]
)
def test_the_admin_lists_fit_a_phone(page, language, path):
    busy_dashboard()
    superuser_on_a_phone(page, language)
    page.goto(f"{page.base_url}{path}")
    page.wait_for_selector("#content")
    wait_in_page(page, lambda: page.evaluate("document.readyState") == "complete")

    assert_fits(page, f" on {path}")
    screenshot(page, f"phone-admin-{path.strip('/').replace('/', '-')}-{language}")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_backtest_form_fits_a_phone_with_each_label_beside_its_value(page, language):
    superuser_on_a_phone(page, language)
    page.goto(f"{page.base_url}/backtests/")
    page.wait_for_selector("#backtest-params .bt-param-table td[data-label]")
    wait_in_page(page, lambda: page.evaluate("document.readyState") == "complete")

    assert_fits(page, narrow=False)
    # The value's input sits beside its label, not under it.
    cell = page.locator("#backtest-params .bt-param-table td[data-label]:has(input)").first
    label_right = cell.evaluate("el => el.getBoundingClientRect().left + parseFloat(getComputedStyle(el, '::before').width || 0)")
    assert cell.locator("input, select").first.bounding_box()["x"] >= label_right - 1
    screenshot(page, f"phone-backtest-form-{language}")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_backtests_results_and_a_comparison_fit_a_phone_with_each_label_in_its_card(page, language):
    load_hourly()
    first = run_job(backtest_jobs.backtest_job_create(request=request_data(), actor="user:alice", launch=False).pk)
    second = run_job(
        backtest_jobs.backtest_job_create(
            request=request_data(params={"fast": "8", "slow": "40", "candle_unit": "60"}), actor="user:alice", launch=False
        ).pk
    )
    superuser_on_a_phone(page, language)
    for path in (f"/backtests/{first.pk}", f"/backtests/compare?run={first.pk}&run={second.pk}"):
        page.goto(f"{page.base_url}{path}")
        page.wait_for_selector("[data-backtest-chart][data-ready=true] canvas")
        assert_fits(page, f" on {path}", narrow=False)
    # Each compared value is labelled by its run's number alone.
    label = page.locator("#backtest-compare td").first.evaluate("el => getComputedStyle(el, '::before').content")
    assert label.strip('"') == f"#{first.pk}"
    screenshot(page, f"phone-backtest-compare-{language}")
