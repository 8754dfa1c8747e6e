"""Pause entries in a real Chromium, in English and Korean, at desktop and phone width: the button pauses, the panel
says "entries paused", Resume clears it; a scheduled window and Upbit's maintenance are named on the panel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.conftest import SCREENSHOTS, login
from tests.browser.test_dashboard_browser import heartbeat
from trading.models import EngineState
from trading.schedule_models import PauseWindow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = {
    "en": {"pause": "Pause entries", "resume": "Resume entries", "paused": "Entries paused", "offline": "Market offline"},
    "ko": {"pause": "진입 일시정지", "resume": "진입 재개", "paused": "신규 진입 일시정지", "offline": "마켓 오프라인"},
}


def open_dashboard(page, language: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls


def fits_the_card(page, selector: str) -> None:
    card = page.locator("#panel-engine").bounding_box()
    box = page.locator(selector).bounding_box()
    assert box is not None
    assert box["x"] >= card["x"] - 1
    assert box["x"] + box["width"] <= card["x"] + card["width"] + 1, f"{selector} sticks out of the engine panel"


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("width", [1280, 375])
def test_pause_shows_entries_paused_and_resume_clears_it(page, language, width):
    heartbeat(state="RUNNING")
    words = WORDS[language]
    open_dashboard(page, language, width)
    page.wait_for_selector('#panel-engine [data-entries-paused="false"]')

    page.click(f"#panel-engine button:has-text('{words['pause']}')")

    badge = page.wait_for_selector("#panel-engine .badge-paused")
    assert badge.inner_text() == words["paused"]
    page.wait_for_selector(f"#panel-engine button:has-text('{words['resume']}')")
    assert EngineState.load().entries_paused
    fits_the_card(page, "#panel-engine .entries-paused")
    fits_the_card(page, "#panel-engine .btn-resume-entries")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#panel-engine").screenshot(path=str(SCREENSHOTS / f"pause-entries-{language}-{width}.png"))

    page.click(f"#panel-engine button:has-text('{words['resume']}')")

    page.wait_for_selector('#panel-engine [data-entries-paused="false"]')
    assert page.locator("#panel-engine .badge-paused").count() == 0
    page.wait_for_selector(f"#panel-engine button:has-text('{words['pause']}')")
    assert not EngineState.load().entries_paused


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("width", [1280, 375])
def test_a_window_and_upbits_maintenance_are_named_on_the_panel(page, language, width):
    now = timezone.now()
    heartbeat(state="RUNNING", market_offline_at=now)
    PauseWindow.objects.create(label="Upbit maintenance", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1))
    PauseWindow.objects.create(label="FOMC", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=2))
    words = WORDS[language]
    open_dashboard(page, language, width)

    paused = page.wait_for_selector('#panel-engine .entries-paused[data-cause="schedule"]')
    assert words["paused"] in paused.inner_text()
    assert "Upbit maintenance" in paused.inner_text()
    assert words["offline"] in page.locator("#panel-engine .market-offline").inner_text()
    assert "FOMC" in page.locator("#panel-engine .pause-window-next").inner_text()
    for selector in (".entries-paused", ".market-offline", ".pause-window-next"):
        fits_the_card(page, f"#panel-engine {selector}")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#panel-engine").screenshot(path=str(SCREENSHOTS / f"pause-window-{language}-{width}.png"))
