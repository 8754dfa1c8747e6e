"""Permissions in a real Chromium: a Viewer sees no controls, and a control refused because the account lost
its permission says which permission, in the page's notice bar."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, USERNAME, screenshot
from tests.factories import UserFactory, console_group
from trading.models import EngineState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login_as(page, username: str, password: str) -> None:
    page.goto(f"{page.base_url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#panel-engine")
    # Scripts have run (htmx binds the controls on DOMContentLoaded): a click before that is a plain form post.
    page.wait_for_load_state("load")


def test_a_viewer_sees_the_figures_but_no_controls(page):
    UserFactory(username="viewer", password="viewer-password-1", groups=["Viewers"])
    login_as(page, "viewer", "viewer-password-1")
    assert page.is_visible("#panel-balance")
    assert page.locator(".btn-start, .btn-stop, .btn-reset").count() == 0
    assert page.locator("#panel-manual-form").count() == 0
    screenshot(page, "permissions-viewer")


def test_a_refused_control_names_the_missing_permission(page, operator):
    EngineState.load()
    EngineState.objects.update(state=EngineState.State.ERROR)
    login_as(page, USERNAME, PASSWORD)
    # The account is moved to Viewers while its page is open: the Reset button is still on screen.
    operator.groups.set([console_group("Viewers")])

    page.click(".btn-reset")

    banner = page.wait_for_selector('#connection-problem[data-kind="permission"]', timeout=5_000)
    text = banner.inner_text()
    assert "may not start, stop and reset the engine" in text
    assert "trading.control_engine" in text
    assert "Operators group" in text
    assert EngineState.load().state == EngineState.State.ERROR
    screenshot(page, "permissions-refused")
