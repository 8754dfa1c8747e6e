"""The candle chart in a real Chromium: it draws, marks the trades, takes new candles live, scrolls back through
stored history, in English and Korean, on a desktop and at 375 px, with no console error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import SCREENSHOTS, login, screenshot, wait_in_page
from tests.chart_data import START, epoch, price_path, store
from tests.factories import BalanceSnapshotFactory, OrderFactory, SignalFactory, StrategyConfigFactory
from trading.chart_selectors import FORMING_KEY, chart_cache_clear
from trading.models import DecisionState, EngineState, Signal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STORED = 1300
"""More than one page (1,000), so the left edge has older candles to load."""


@pytest.fixture(autouse=True)
def chart_data(settings):
    settings.TRADING_MARKET = "KRW-BTC"
    settings.STRATEGY = "macd"
    settings.UPBIT_API_BASE = "https://api.upbit.com"
    settings.PAPER_MODE = True
    chart_cache_clear()
    candles = price_path(STORED + 1)
    store(candles[:STORED])
    StrategyConfigFactory(strategy="macd", params={"stop_loss_pct": "2", "take_profit_pct": "4"})
    near_end = START + timedelta(minutes=STORED - 40, seconds=10)
    kinds = [
        ("buy", "BUY by macd: entry", "macd", {"reason": "entry"}, "MACD(12,26,9) line crossed above its signal"),
        ("sell", "SELL by macd: exit_signal", "macd", {"reason": "exit_signal"}, "MACD(12,26,9) line crossed below its signal"),
        ("sell", "SELL by macd: stop_loss", "macd", {"reason": "stop_loss"}, "SELL (stop-loss 2%): price at or below the stop"),
        ("buy", "manual (user:operator): buy 10,000 KRW", Signal.MANUAL_SOURCE, {}, "manual buy"),
    ]
    for offset, (side, reason, source, meta, text) in enumerate(kinds):
        signal = SignalFactory(source=source, meta=meta, explanation=text, action=side.upper())
        at = near_end + timedelta(minutes=8 * offset)
        OrderFactory(side=side, reason=reason, signal=signal, ts=at, executed_volume=Decimal("0.001"))
    BalanceSnapshotFactory(coin_volume=Decimal("0.001"), avg_buy_price=Decimal("100000000"))
    DecisionState.objects.create(market="KRW-BTC", mode="paper", account="paper", peak_price=Decimal("101000000"))
    return candles


def _watch_console(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _ready(page):
    page.wait_for_selector("#panel-candles[data-state=ready]")
    page.wait_for_selector("#panel-candles canvas")
    return page.locator("#panel-candles")


def _scroll_back(page, panel) -> None:
    """Drag the chart to the right (towards older candles) until the older page has come in."""
    first = int(panel.get_attribute("data-first-time"))
    area = page.locator("#panel-candles [data-role=chart]")
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    y = box["y"] + box["height"] * 0.3

    def dragged() -> bool:
        page.mouse.move(box["x"] + box["width"] * 0.1, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.9, y, steps=6)
        page.mouse.up()
        return int(panel.get_attribute("data-first-time")) < first

    wait_in_page(page, dragged, timeout=30, message="dragging to the left edge never loaded older candles")


# English on a desktop and Korean on a phone: both languages and both widths, each with its screenshot.
@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("ko", 375)])
def test_candle_chart_draws_marks_updates_and_scrolls_back(page, chart_data, language, width):
    candles = chart_data
    problems = _watch_console(page)
    page.set_viewport_size({"width": width, "height": 900})
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls
    panel = _ready(page)

    assert panel.get_attribute("data-candles") == "1000"
    assert int(panel.get_attribute("data-last-time")) == epoch(candles[STORED - 1].start)
    assert panel.get_attribute("data-marker-kinds") == "entry,exit,manual,protective"
    assert panel.get_attribute("data-series") == "macd,signal,histogram"
    assert panel.get_attribute("data-levels") == "average,stop_loss,take_profit"
    legend = panel.locator(".candle-legend").inner_text()
    assert ("전략 진입" if language == "ko" else "Strategy entry") in legend
    # Nothing of the chart's panel reaches past the window's width (the phone's 375 px included).
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('#panel-candles, #panel-candles *')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= width
    screenshot(page, f"chart-{language}-{width}")
    panel.screenshot(path=str(SCREENSHOTS / f"chart-{language}-{width}-panel.png"))

    # Live: a candle stored while the page is open appears without a reload.
    store(candles[STORED:])
    wait_in_page(
        page,
        lambda: panel.get_attribute("data-last-time") == str(epoch(candles[STORED].start)),
        timeout=20,
        message="the new candle never reached the chart",
    )
    assert panel.get_attribute("data-candles") == "1001"

    # Scroll back: the older 300 stored candles come in at the left edge.
    _scroll_back(page, panel)
    complete = str(STORED + 1)
    wait_in_page(page, lambda: panel.get_attribute("data-candles") == complete, timeout=10, message="older page incomplete")
    assert int(panel.get_attribute("data-first-time")) == epoch(candles[0].start)
    assert panel.get_attribute("data-has-more") == "false"
    screenshot(page, f"chart-{language}-{width}-scrolled")
    assert problems == []


def test_hovering_a_trade_shows_its_reason(page):
    problems = _watch_console(page)
    login(page)
    panel = _ready(page)
    markers = page.evaluate(
        "fetch(document.getElementById('panel-candles').dataset.url).then(r => r.json()).then(b => b.markers)"
    )
    assert len(markers) == 4
    area = page.locator("#panel-candles [data-role=chart]")
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    tooltip = panel.locator("[data-role=tooltip]")

    def found() -> bool:
        # Sweep the pointer across the newest candles until a marker's candle is under it.
        for step in range(200):
            page.mouse.move(box["x"] + box["width"] * (0.35 + step * 0.003), box["y"] + box["height"] * 0.3)
            if tooltip.is_visible():
                return True
        return False

    wait_in_page(page, found, timeout=20, message="no tooltip while sweeping over the trades")
    text = tooltip.inner_text()
    assert any(words in text for words in ("crossed above", "crossed below", "stop-loss", "manual"))
    screenshot(page, "chart-tooltip")
    panel.screenshot(path=str(SCREENSHOTS / "chart-tooltip-panel.png"))
    assert problems == []


def _engine_cycled(price: str) -> int:
    """What a running engine leaves each cycle: its last price and time, and (with its counters) the candle forming
    now. Returns that candle's start."""
    now = timezone.now()
    start = int(now.timestamp()) // 60 * 60
    forming = {
        "market": "KRW-BTC",
        "unit": 1,
        "start": start,
        "open": "100000000",
        "high": "100500000",
        "low": "99500000",
        "close": "100100000",
        "at": start,
    }
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(
        metrics={FORMING_KEY: forming}, last_price=Decimal(price), last_cycle_at=now
    )
    return start


@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("ko", 375)])
def test_the_forming_candle_is_drawn_last_and_follows_the_engines_last_price(page, language, width):
    problems = _watch_console(page)
    page.set_viewport_size({"width": width, "height": 900})
    EngineState.load()
    start = _engine_cycled("100200000")
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls
    panel = _ready(page)

    assert panel.get_attribute("data-forming-time") == str(start)
    assert panel.get_attribute("data-forming-close") == "100200000"
    assert panel.get_attribute("data-candles") == "1000"  # the closed candles; the forming one is drawn after them

    # A later cycle's price moves the forming bar in place, without a reload.
    start = _engine_cycled("100700000")
    wait_in_page(
        page,
        lambda: panel.get_attribute("data-forming-close") == "100700000",
        timeout=20,
        message="the forming candle never followed the engine's last price",
    )
    assert panel.get_attribute("data-forming-time") == str(start)
    assert panel.get_attribute("data-candles") == "1000"
    screenshot(page, f"chart-forming-{language}-{width}")

    # The candle closes: the engine stores it, and the stored candle takes the forming bar's place.
    store(price_path(1, start=datetime.fromtimestamp(start, tz=UTC)))
    wait_in_page(
        page,
        lambda: panel.get_attribute("data-last-time") == str(start),
        timeout=20,
        message="the closed candle never replaced the forming one",
    )
    assert panel.get_attribute("data-forming-time") == ""
    assert panel.get_attribute("data-candles") == "1001"
    assert problems == []
