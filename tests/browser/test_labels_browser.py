"""Honest labels in a real Chromium, in English and Korean, at desktop and phone width: the sandbox says
SANDBOX (no real money), the manual form refuses a buy over the limits before sending it, the risk panel
tells "at the limit" from "over it", and a panel whose polls fail says since when it is old."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from tests.browser.conftest import SCREENSHOTS, login, screenshot, wait_in_page, wait_round_of_polls, watch_polls
from tests.browser.test_dashboard_browser import RED, heartbeat
from tests.factories import BalanceSnapshotFactory, OrderFactory
from trading.models import ManualOrderRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}
BOTH = [pytest.mark.parametrize("language", ["en", "ko"]), pytest.mark.parametrize("width", ["desktop", "phone"])]


def both(test):
    for mark in BOTH:
        test = mark(test)
    return test


# Behaviour that is one script whatever the language and width: English on a desktop and Korean on a phone cover
# both languages and both widths (their screenshots show each).
PAIRS = pytest.mark.parametrize(("language", "width"), [("en", "desktop"), ("ko", "phone")])


def open_dashboard(page, language: str, width: str) -> None:
    page.set_viewport_size(WIDTHS[width])
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls


@both
def test_the_sandbox_says_sandbox_and_no_real_money(page, settings, language, width):
    settings.PAPER_MODE = False
    settings.UPBIT_API_BASE = "http://127.0.0.1:8765"
    settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY = "sandbox-demo-access-key", "sandbox-demo-secret-key"
    heartbeat()
    open_dashboard(page, language, width)

    assert page.inner_text(".mode-badge") == "SANDBOX"
    assert page.eval_on_selector(".mode-badge", "el => getComputedStyle(el).backgroundColor") != RED
    assert not page.is_visible(".live-banner")
    banner = page.inner_text(".sandbox-banner")
    expected = {"en": "SANDBOX: simulated exchange, no real money.", "ko": "샌드박스: 모의 거래소이며 실제 돈이 쓰이지 않습니다."}
    assert expected[language] in banner
    # Start asks no "real money" question for the sandbox.
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click(".btn-start")
    page.wait_for_selector("#panel-engine .state-badge[data-state=RUNNING]")
    assert dialogs == []
    screenshot(page, f"labels-sandbox-{language}-{width}")

    page.goto(f"{page.base_url}/admin/")
    assert "SANDBOX" in page.inner_text("#header .venue-badge")


@both
def test_a_manual_buy_over_the_limit_is_refused_in_the_form_before_it_is_sent(page, settings, language, width):
    settings.MAX_ORDER_KRW = Decimal("10000")
    heartbeat(state="RUNNING")
    open_dashboard(page, language, width)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    dialogs: list[str] = []

    def dismiss(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)

    limits = page.inner_text("#panel-manual-form .manual-limits")
    assert "5,000 KRW" in limits
    assert "10,000 KRW" in limits
    page.select_option("select[name=kind]", "buy")
    page.fill("input[name=krw]", "20,000")
    page.click("#panel-manual-form button[type=submit]")
    refusal = page.wait_for_selector("#panel-manual-form .manual-problem[data-refused-by=form]")
    expected = {
        "en": "KRW amount (buy): 20,000 KRW is over the largest order allowed, 10,000 KRW (MAX_ORDER_KRW).",
        "ko": "20,000 KRW는 허용된 최대 주문 금액 10,000 KRW를 넘습니다 (MAX_ORDER_KRW).",
    }
    text = refusal.inner_text()
    assert expected[language] in text
    assert text.endswith("(MAX_ORDER_KRW).")  # the whole sentence, not cut off
    box, card = refusal.bounding_box(), page.locator("#panel-manual-form").bounding_box()
    assert box["x"] + box["width"] <= card["x"] + card["width"] + 1
    assert dialogs == []
    assert sent == []
    assert not ManualOrderRequest.objects.exists()
    screenshot(page, f"labels-manual-refused-{language}-{width}")

    # Within the limit the form sends it (after the confirmation), and the refusal goes away.
    page.fill("input[name=krw]", "10000")
    page.remove_listener("dialog", dismiss)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#panel-manual-form button[type=submit]")
    page.wait_for_selector("#panel-manual-form .notice")
    assert ManualOrderRequest.objects.get().krw == Decimal("10000")
    assert not page.is_visible("#panel-manual-form .manual-problem")


@both
def test_the_risk_panel_tells_at_the_limit_from_over_it(page, settings, language, width):
    settings.MAX_ORDER_KRW = Decimal("10000")
    heartbeat(state="RUNNING")
    order = OrderFactory(executed_funds=Decimal("10000"), ts=timezone.now())
    open_dashboard(page, language, width)

    row = page.locator("#panel-risk tr[data-limit=max_order]")
    assert row.get_attribute("data-level") == "at"
    words = {"en": ("at the limit", "over the limit"), "ko": ("한도 도달", "한도 초과")}[language]
    assert row.locator(".limit-word").inner_text() == words[0]
    assert row.locator(".meter span").evaluate("el => getComputedStyle(el).backgroundColor") != RED
    page.locator("#panel-risk").screenshot(path=str(screenshot_path(f"labels-risk-at-{language}-{width}")))

    order.executed_funds = Decimal("12000")
    order.save(update_fields=["executed_funds"])
    page.wait_for_selector("#panel-risk tr[data-limit=max_order][data-level=over]", timeout=10_000)
    row = page.locator("#panel-risk tr[data-limit=max_order]")
    assert row.locator(".limit-word").inner_text() == words[1]
    assert row.locator(".meter span").evaluate("el => getComputedStyle(el).backgroundColor") == RED
    page.locator("#panel-risk").screenshot(path=str(screenshot_path(f"labels-risk-over-{language}-{width}")))


@PAIRS
def test_panels_say_they_are_stale_while_the_server_does_not_answer_and_recover(page, language, width):
    heartbeat(state="RUNNING")
    answered = watch_polls(page)
    open_dashboard(page, language, width)
    wait_round_of_polls(page, answered)

    page.route("**/panels/**", lambda route: route.abort())
    marker = page.wait_for_selector("#panel-engine > .stale-marker", timeout=10_000)
    prefix = {"en": "Stale: not updated since ", "ko": "오래된 정보: "}[language]
    assert marker.inner_text().startswith(prefix)
    assert re.search(r"\d\d:\d\d:\d\d", marker.inner_text())
    assert page.get_attribute("#panel-engine", "data-stale") == "true"
    page.wait_for_selector("#panel-orders.stale", timeout=10_000)
    screenshot(page, f"labels-stale-{language}-{width}")

    page.unroute("**/panels/**")
    wait_in_page(page, lambda: page.locator(".stale").count() == 0, timeout=15, message="the stale marks never cleared")
    assert page.locator(".stale-marker").count() == 0


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_form_names_the_position_cap_with_the_servers_own_sentence(page, settings, language):
    settings.MAX_ORDER_KRW = Decimal("100000")
    settings.MAX_POSITION_RATIO = Decimal("0.3")
    BalanceSnapshotFactory(krw=Decimal("30000"), coin_volume=Decimal("0"), price=Decimal("100000000"))
    heartbeat(state="RUNNING")
    open_dashboard(page, language, "desktop")
    page.fill("input[name=krw]", "9000")
    page.click("#panel-manual-form button[type=submit]")
    in_browser = page.wait_for_selector("#panel-manual-form .manual-problem[data-refused-by=form]").inner_text()
    assert {"en": "cap of 30% of total equity", "ko": "총자산의 30% 한도"}[language] in in_browser
    # The server, asked directly, words it identically.
    page.evaluate("document.querySelector('#panel-manual-form form').removeAttribute('data-manual-limits')")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#panel-manual-form button[type=submit]")
    from_server = page.wait_for_selector("#panel-manual-form .manual-problem:not([data-refused-by])").inner_text()
    assert from_server == in_browser
    assert not ManualOrderRequest.objects.exists()
