"""A real Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live Django server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.factories import console_group
from tests.waiting import wait_until
from trading import selectors

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = os.environ.get("AUTOCOIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERNAME, PASSWORD = "operator", "operator-password-1"

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are ordinary blocking calls, which Django would otherwise refuse next to a loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _chromium_path() -> str | None:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    path = _chromium_path()
    if path is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (install the chromium package, or set AUTOCOIN_CHROMIUM); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _browser_settings(settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.DASHBOARD_POLL_SEC = 1
    settings.LANGUAGE_CODE = "en"
    selectors.equity_cache_clear()


@pytest.fixture
def operator(transactional_db):
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(console_group("Operators"))  # the dashboard's controls need the Operators' permissions
    return user


@pytest.fixture
def page(chromium, live_server, operator) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Asia/Seoul")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.base_url = live_server.url  # type: ignore[attr-defined]
    yield page
    context.close()


def login(page, path: str = "/") -> None:
    """Log in through the admin login page, as a person would, and land on `path`."""
    page.goto(f"{page.base_url}{path}")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#panel-engine")
    # Scripts have run (htmx binds the controls on DOMContentLoaded): a click before that is a plain form post.
    page.wait_for_load_state("load")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_in_page(page, predicate: Callable[[], object], *, timeout: float = 5.0, message: str = "the page never changed") -> None:
    """Poll a condition that page events update: Playwright hands those events to Python only while it waits."""

    def pumped() -> object:
        page.wait_for_timeout(20)
        return predicate()

    wait_until(pumped, timeout=timeout, interval=0, message=message)


def watch_polls(page) -> list[str]:
    """The panel URLs whose poll has been answered so far, in order (filled in as the page runs)."""
    answered: list[str] = []
    page.on("response", lambda response: answered.append(response.url) if "/panels/" in response.url else None)
    return answered


def wait_round_of_polls(page, answered: list[str]) -> None:
    """Until every polling panel on the page (the chart's period is the longest) has had a poll answered."""
    panels = page.locator('[hx-trigger^="every"]').count()
    assert panels > 0
    wait_in_page(page, lambda: len(set(answered)) >= panels, timeout=15, message=f"not all {panels} panels were polled")
