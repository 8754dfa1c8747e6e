"""A real Chromium used carelessly: double clicks, bad amounts, the admin in Korean, and a clean
console (no script errors, no failed requests, including the icon every page asks for)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.browser.conftest import PASSWORD, USERNAME, login, wait_round_of_polls, watch_polls
from trading.models import EngineEvent, EngineState, ManualOrderRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch(page) -> dict[str, list]:
    """Console errors, uncaught exceptions and every answer of 400 or more, from now on."""
    seen: dict[str, list] = {"console": [], "failed": []}
    page.on("console", lambda message: seen["console"].append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen["console"].append(str(error)))
    page.on(
        "response", lambda response: seen["failed"].append((response.status, response.url)) if response.status >= 400 else None
    )
    return seen


def test_login_dashboard_and_admin_leave_a_clean_console(page, operator):
    operator.is_superuser = True
    operator.save()
    seen = watch(page)
    answered = watch_polls(page)
    login(page)
    wait_round_of_polls(page, answered)
    page.goto(f"{page.base_url}/admin/trading/enginestate/1/change/")
    page.goto(f"{page.base_url}/admin/trading/order/")
    page.click("#logout-form button")
    page.wait_for_load_state()
    assert seen == {"console": [], "failed": []}


def test_double_clicks_send_one_request(page):
    EngineState.load()
    EngineState.objects.update(owner="browser-test:1", heartbeat_at=timezone.now())
    login(page)
    page.on("dialog", lambda dialog: dialog.accept())
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)

    page.dblclick(".btn-start")
    page.wait_for_selector('.state-badge[data-state="RUNNING"]', timeout=5_000)
    page.select_option("select[name=kind]", "buy")
    page.fill("input[name=krw]", "7000")
    page.dblclick("#panel-manual-form button[type=submit]")
    page.wait_for_selector("#panel-manual-form .notice", timeout=5_000)
    page.wait_for_timeout(500)

    assert [url.removeprefix(page.base_url) for url in posts] == ["/engine/start", "/orders/manual"]
    assert ManualOrderRequest.objects.count() == 1
    assert EngineEvent.objects.filter(kind="state_changed", actor="user:operator").count() == 1


@pytest.mark.parametrize(
    ("krw", "says"),
    [("abc", "“abc” is not a number"), ("10000.123456789", "more than 8 decimal places"), ("-5", "must be a positive number")],
)
def test_a_bad_amount_is_explained_next_to_the_form_and_kept(page, krw, says):
    EngineState.load()
    # Manual orders are accepted (and the form's button enabled) only while the engine runs.
    EngineState.objects.update(state="RUNNING", owner="browser-test:1", heartbeat_at=timezone.now())
    login(page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.fill("input[name=krw]", krw)
    page.click("#panel-manual-form button[type=submit]")
    page.wait_for_selector("#panel-manual-form .problem", timeout=5_000)
    problem = page.inner_text("#panel-manual-form .problem")
    assert problem.startswith("KRW amount (buy):")
    assert says in problem
    assert page.input_value("input[name=krw]") == krw
    assert not ManualOrderRequest.objects.exists()


def test_the_admin_switches_language_from_its_login_page(page, operator):
    operator.is_superuser = True
    operator.save()
    page.goto(f"{page.base_url}/admin/login/")
    page.click(".admin-lang-switch button[lang=ko]")
    page.wait_for_selector("html[lang=ko]")
    page.wait_for_load_state("load")  # htmx has bound the controls
    assert page.inner_text("#site-name") == "autocoin 운영 콘솔"
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{page.base_url}/admin/trading/enginestate/1/change/")
    assert "엔진 프로세스:" in page.inner_text(".engine-controls")
    page.click(".admin-lang-switch button[lang=en]")
    page.wait_for_selector("html[lang=en]")
    assert "Engine process:" in page.inner_text(".engine-controls")
    page.goto(page.base_url + "/")
    assert page.get_attribute("html", "lang") == "en"
    assert page.text_content("#panel-engine h2") == "Engine"


def test_a_server_that_stops_answering_is_announced_and_the_notice_clears(page):
    login(page)
    assert page.is_hidden("#connection-problem")
    page.route("**/panels/**", lambda route: route.abort("connectionrefused"))
    page.wait_for_selector("#connection-problem", state="visible", timeout=5_000)
    assert "does not answer" in page.inner_text("#connection-problem")
    page.unroute("**/panels/**")
    page.wait_for_selector("#connection-problem", state="hidden", timeout=5_000)


def test_a_refused_button_press_says_reload(page):
    EngineState.load()
    EngineState.objects.update(owner="browser-test:1", heartbeat_at=timezone.now())
    login(page)
    page.context.clear_cookies(name="csrftoken")  # as after a login elsewhere rotated it
    page.click(".btn-start")
    page.wait_for_selector('#connection-problem[data-kind="denied"]', timeout=5_000)
    assert "Reload the page" in page.inner_text("#connection-problem")
    assert EngineState.load().state == "IDLE"
