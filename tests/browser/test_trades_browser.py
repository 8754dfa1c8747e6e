"""The Trades and Performance panels in a real Chromium, in English and Korean, at desktop and phone width."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import SCREENSHOTS, login, screenshot
from tests.browser.test_phone_browser import measured
from tests.factories import FillFactory, OrderFactory
from trading import trade_selectors
from trading.models import EngineState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXTS = {
    "en": {
        "trades": "Trades",
        "performance": "Performance",
        "tabs": ["Day", "Week", "Month"],
        "reason": "strategy → take-profit",
    },
    "ko": {"trades": "거래", "performance": "성과", "tabs": ["일", "주", "월"], "reason": "전략 → 익절"},
}


@pytest.fixture(autouse=True)
def _fresh_trips():
    trade_selectors.trades_cache_clear()
    yield
    trade_selectors.trades_cache_clear()


def trade(side: str, minutes_ago: int, *, funds: str, fee: str, reason: str) -> None:
    ts = timezone.now() - timedelta(minutes=minutes_ago)
    volume = Decimal("0.0001")
    order = OrderFactory(side=side, ts=ts, reason=reason)
    FillFactory(order=order, ts=ts, price=Decimal(funds) / volume, volume=volume, funds=Decimal(funds), fee=Decimal(fee))


def a_won_trip_and_an_open_position() -> None:
    # +1% less both fees: 10,110 - 5 - 10,005 = +100 KRW.
    trade("buy", 180, funds="10000", fee="5", reason="BUY by macd: entry")
    trade("sell", 120, funds="10110", fee="5", reason="SELL by macd: take_profit")
    trade("buy", 30, funds="10000", fee="5", reason="manual (user:operator): buy 10,000 KRW")
    EngineState.load()
    EngineState.objects.update(last_price=Decimal("100500000"))


# English on a desktop and Korean on a phone: both languages and both widths, each with its screenshot.
@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("ko", 375)])
def test_trades_panel_shows_the_round_trip_with_its_profit_and_performance_has_day_week_month(page, language, width):
    a_won_trip_and_an_open_position()
    texts = TEXTS[language]
    page.set_viewport_size({"width": width, "height": 900})
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls
    trades = page.locator("#panel-trades")
    assert trades.locator("h2").text_content() == texts["trades"]
    row = trades.locator("tr.round-trip")
    assert row.count() == 1
    assert "+100 KRW (+1.00%)" in row.inner_text()
    assert texts["reason"] in row.inner_text()
    # The open position: 0.0001 at 100,500,000 = 10,050, less 0.05% (5.03), less 10,005 paid.
    assert "+40 KRW" in trades.locator("[data-unrealized]").inner_text()
    screenshot(page, f"trades-page-{language}-{width}")
    trades.screenshot(path=str(SCREENSHOTS / f"trades-{language}-{width}.png"))

    performance = page.locator("#panel-performance")
    assert performance.locator("h2").text_content() == texts["performance"]
    assert performance.locator("[data-trades]").inner_text() == "1"
    for tab, period in zip(texts["tabs"], ("day", "week", "month"), strict=True):
        performance.locator(f'[data-period-tab="{period}"]').click()
        assert performance.locator(f'[data-period-tab="{period}"]').inner_text() == tab
        shown = performance.locator(f'[data-period="{period}"]')
        shown.wait_for(state="visible")
        assert performance.locator("[data-period]:visible").count() == 1
        assert "+100 KRW" in shown.inner_text()
    performance.screenshot(path=str(SCREENSHOTS / f"performance-{language}-{width}.png"))

    # The chosen tab survives the panel's next render (it is replaced whenever a fill arrives).
    trade("sell", 1, funds="10050", fee="5", reason="SELL by macd: stop_loss")
    two_trips = "() => document.querySelector('#panel-performance [data-trades]').textContent.trim() === '2'"
    page.wait_for_function(two_trips, timeout=15_000)
    page.locator('#panel-performance [data-period="month"]').wait_for(state="visible")
    page.locator('#panel-performance [data-period="day"]').wait_for(state="hidden")

    for panel in ("#panel-trades", "#panel-performance"):
        overflow = page.eval_on_selector(panel, "el => el.scrollWidth - el.clientWidth")
        assert overflow <= 1, f"{panel} is {overflow}px wider than its card at {width}px"
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    covered = measured(page)["covered"]
    assert covered == [], f"labels over their values at {width}px: {covered[:10]}"
