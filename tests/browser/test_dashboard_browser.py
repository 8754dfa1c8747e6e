"""The dashboard in a real Chromium, without an engine process: login, layout, polling, ERROR and Reset."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.browser.conftest import login, screenshot, wait_in_page, watch_polls
from tests.factories import SignalFactory
from trading import services
from trading.models import EngineEvent, EngineState, ManualOrderRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GREY, GREEN, AMBER, RED = "rgb(107, 114, 128)", "rgb(21, 128, 61)", "rgb(180, 83, 9)", "rgb(200, 30, 30)"


def badge(page) -> tuple[str, str]:
    # Read the colour once the stylesheet applies (right after a navigation it may still be loading).
    page.wait_for_load_state("load")
    page.wait_for_function(
        "() => { const el = document.querySelector('.state-badge');"
        " return el && getComputedStyle(el).backgroundColor !== 'rgba(0, 0, 0, 0)'; }",
        timeout=5_000,
    )
    return tuple(page.eval_on_selector(".state-badge", "el => [el.dataset.state, getComputedStyle(el).backgroundColor]"))


def heartbeat(**fields) -> None:
    """What a live engine process writes: its claim and a fresh heartbeat."""
    EngineState.load()
    EngineState.objects.update(owner="browser-test:1", heartbeat_at=timezone.now(), **fields)


def test_login_then_idle_is_grey_and_says_how_to_start_the_engine(page):
    login(page)
    assert page.url.rstrip("/") == page.base_url.rstrip("/")
    assert badge(page) == ("IDLE", GREY)
    assert page.is_visible("text=python manage.py runengine")
    assert page.is_disabled(".btn-start")
    assert page.is_disabled(".btn-stop")
    assert page.is_disabled(".btn-reset")
    assert page.inner_text(".mode-badge") == "PAPER"
    screenshot(page, "01-idle-engine-offline")


def test_error_renders_red_with_its_error_and_reset_brings_idle(page):
    login(page)
    heartbeat(state="RUNNING")
    services.engine_fail(actor="engine", error="Upbit answered 401 invalid_access_key: check UPBIT_ACCESS_KEY", kill_switch=True)
    page.wait_for_selector('.state-badge[data-state="ERROR"]', timeout=5_000)  # arrives by polling
    assert badge(page) == ("ERROR", RED)
    error_box = page.inner_text(".error-box")
    assert "invalid_access_key" in error_box
    assert "press Reset" in error_box
    assert page.is_visible(".kill-switch")
    assert page.is_enabled(".btn-reset")
    assert page.is_disabled(".btn-start")
    screenshot(page, "02-error")

    page.click(".btn-reset")
    page.wait_for_selector('.state-badge[data-state="IDLE"]', timeout=3_000)
    state = EngineState.load()
    assert state.state == "IDLE"
    assert state.kill_switch is False
    assert EngineEvent.objects.filter(kind="state_changed").latest("id").actor == "user:operator"
    assert not page.is_visible(".error-box")
    screenshot(page, "03-after-reset")


def test_running_is_green_and_stopping_amber(page):
    heartbeat(state="RUNNING")
    login(page)
    assert badge(page) == ("RUNNING", GREEN)
    services.engine_stop(actor="user:someone-else")
    page.wait_for_selector('.state-badge[data-state="STOPPING"]', timeout=5_000)
    assert badge(page) == ("STOPPING", AMBER)


def test_unchanged_panels_are_left_alone_and_a_hidden_tab_stops_polling(page):
    login(page)
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/panels/" in request.url else None)
    page.evaluate("window.swaps = 0; document.body.addEventListener('htmx:afterSwap', () => window.swaps++)")
    answered = watch_polls(page)
    for _attempt in range(2):
        day = timezone.localdate()
        page.evaluate("window.swaps = 0")
        answered.clear()
        wait_in_page(page, lambda: len(answered) >= 10, message="the panels did not poll")  # every panel polls each second...
        if timezone.localdate() == day:
            break  # (Seoul's midnight does change what the day's panels show: then look again)
    assert page.evaluate("window.swaps") == 0  # ...and nothing changed, so nothing was swapped

    SignalFactory(action="SELL", explanation="dead cross for the browser test")
    page.wait_for_selector("#panel-market >> text=dead cross for the browser test", timeout=5_000)
    assert page.evaluate("window.swaps") >= 1

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.wait_for_timeout(300)
    polls.clear()
    page.wait_for_timeout(3_000)
    assert polls == []  # a background tab costs the server nothing

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    wait_in_page(page, lambda: polls, timeout=1, message="coming back did not refresh at once")


def test_manual_order_asks_first_and_is_queued_only_when_confirmed(page):
    heartbeat(state="RUNNING")  # manual orders are accepted only while the engine runs
    login(page)
    answers = iter([False, True])
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept() if next(answers) else dialog.dismiss()

    page.on("dialog", on_dialog)
    page.select_option("select[name=kind]", "buy")
    page.fill("input[name=krw]", "10000")
    page.click("#panel-manual-form button[type=submit]")
    page.wait_for_timeout(500)
    assert not ManualOrderRequest.objects.exists()
    page.click("#panel-manual-form button[type=submit]")
    page.wait_for_selector("#panel-manual-form .notice", timeout=5_000)
    queued = ManualOrderRequest.objects.get()
    assert queued.kind == "buy"
    assert queued.requested_by == "user:operator"
    assert len(dialogs) == 2
    assert "Queue this manual order" in dialogs[0]
    page.wait_for_selector(f"#panel-manual >> text=#{queued.pk}", timeout=5_000)


def test_a_bad_manual_amount_is_explained(page):
    heartbeat(state="RUNNING")
    login(page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.fill("input[name=krw]", "4000")
    page.click("#panel-manual-form button[type=submit]")
    page.wait_for_selector("#panel-manual-form .problem", timeout=5_000)
    assert "minimum" in page.inner_text("#panel-manual-form .problem")
    assert not ManualOrderRequest.objects.exists()


def test_the_manual_form_says_why_it_cannot_be_sent_until_the_engine_runs(page):
    login(page)
    button = page.locator("#panel-manual-form button[type=submit]")
    assert button.is_disabled()
    assert "the engine is IDLE; manual orders are only accepted while it runs" in page.inner_text("#manual-refusal")
    page.fill("input[name=krw]", "10000")
    heartbeat(state="RUNNING")
    page.wait_for_selector("#panel-manual-form button[type=submit]:not([disabled])", timeout=10_000)
    assert page.input_value("input[name=krw]") == "10000"  # the poll left the typing alone
    assert not page.is_visible("#manual-refusal")


def test_korean_switch_phone_width_and_admin_in_korean(page):
    login(page)
    page.click("button[lang=ko]")
    page.wait_for_selector("html[lang=ko]")
    page.wait_for_load_state("load")  # htmx has bound the controls
    assert page.inner_text("#panel-engine h2") == "엔진"
    assert page.inner_text(".btn-start") == "시작"
    screenshot(page, "04-korean")

    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone"
    screenshot(page, "05-phone")

    page.goto(f"{page.base_url}/admin/")
    page.wait_for_selector("html[lang=ko]")
    page.wait_for_load_state("load")  # htmx has bound the controls
    assert "로그아웃" in page.content()


def test_live_mode_badge_cannot_be_missed_and_start_asks_first(page, settings):
    settings.PAPER_MODE = False
    settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY = "browser-test-access", "browser-test-secret"
    heartbeat()
    login(page)
    assert page.inner_text(".mode-badge") == "LIVE"
    assert page.eval_on_selector(".mode-badge", "el => getComputedStyle(el).backgroundColor") == RED
    assert page.is_visible(".live-banner")
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click(".btn-start")
    page.wait_for_timeout(500)
    assert dialogs == ["Start trading with REAL money on Upbit?"]
    assert EngineState.load().state == "IDLE"
    screenshot(page, "06-live-mode")
