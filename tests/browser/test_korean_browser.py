"""The console in Korean, in a real Chromium at desktop and phone width: no English interface word is left on the
dashboard or in the admin, and numbers and times read as the trader expects (24-hour Seoul, separators)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, screenshot
from tests.korean_seed import english_words, seed_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
# Admin pages a trader opens; every one must read in Korean.
ADMIN_PAGES = (
    "/admin/",
    "/admin/trading/order/",
    "/admin/trading/order/{order}/change/",
    "/admin/trading/fill/",
    "/admin/trading/pnldaily/",
    "/admin/trading/engineevent/",
    "/admin/trading/signal/",
    "/admin/trading/manualorderrequest/",
    "/admin/trading/balancesnapshot/",
    "/admin/trading/enginestate/",
)
# Stored data that stays as it was written (a process host, a requester such as "user:admin"), never interface text.
DATA_WORDS = frozenset(
    {"testhost", "Axes", "operator", "OPERATOR", "user"}  # the admin header upper-cases the name
    | {"TradingView", "Lightweight", "Charts", "Copyright", "Inc", "tradingview", "com"}  # the chart library's licence notice
    | {"fetchcandles", "manage"}  # a command to type, shown as is
    | {"profit", "factor"}  # "손익비 (profit factor)": the term traders search for, beside its Korean name
)


def visible_text(page) -> str:
    page.wait_for_load_state("load")
    return page.evaluate("document.body.innerText")


def switch_to_korean(page) -> None:
    page.click("button[lang=ko]")
    page.wait_for_selector("html[lang=ko]")
    page.wait_for_load_state("load")  # htmx has bound the controls


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_dashboard_reads_in_korean_only(page, viewport):
    seed_console()
    page.set_viewport_size(viewport)
    login(page)
    switch_to_korean(page)
    page.wait_for_selector("#panel-log li [data-kind=fill]")

    text = visible_text(page)
    name = "desktop" if viewport is DESKTOP else "phone"
    screenshot(page, f"korean-dashboard-{name}")

    leftover = sorted(english_words(text) - DATA_WORDS)
    assert leftover == [], " ".join(leftover)
    assert page.inner_text("#panel-engine .state-badge") == "실행 중"
    assert page.get_attribute("#panel-engine .state-badge", "data-state") == "RUNNING"  # the code stays for machines
    assert "체결: KRW-BTC 매수 0.001 @ 100,000,000 KRW (수수료 5 KRW)" in text
    assert "매수: MACD(12,26,9) 선 -340,519.65이(가) 시그널 -345,223.26을(를) 상향 돌파" in page.inner_text("#panel-signals")
    assert "21:05:06" in page.inner_text("#panel-orders")  # 12:05:06 UTC, in Seoul, 24-hour with seconds


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_admin_reads_in_korean_only(page, viewport):
    order = seed_console()
    page.set_viewport_size(viewport)
    login(page)
    switch_to_korean(page)
    name = "desktop" if viewport is DESKTOP else "phone"

    for path in ADMIN_PAGES:
        page.goto(page.base_url + path.format(order=order.pk))
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls
        text = visible_text(page)

        assert english_words(text) - DATA_WORDS == set(), (path, english_words(text) - DATA_WORDS)
        assert "를(을)" not in text, path

    page.goto(f"{page.base_url}/admin/trading/order/")
    text = visible_text(page)
    screenshot(page, f"korean-admin-orders-{name}")
    assert "조회할 주문 선택" in text
    assert "2026-11-21 21:05:06" in text
    assert "10,000" in text
    assert "0.00010000" in text  # the executed volume, with all 8 decimals

    page.goto(f"{page.base_url}/admin/trading/pnldaily/")
    screenshot(page, f"korean-admin-pnl-{name}")
    assert "-9.49" in visible_text(page)
    assert "9.49493827" not in visible_text(page)
