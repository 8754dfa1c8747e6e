"""The Content-Security-Policy in a real Chromium: the dashboard (with its polling), the login page and
the admin run under it without a single violation, and the watch used here does see one when it happens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import (
    BacktestRunFactory,
    BalanceSnapshotFactory,
    CandleFactory,
    EngineEventFactory,
    FillFactory,
    ManualOrderRequestFactory,
    OptimizationStudyFactory,
    OrderFactory,
    PnlDailyFactory,
    SignalFactory,
    StrategyConfigFactory,
)
from trading.models import EngineState, Order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN_USER, ADMIN_PASSWORD = "csp-admin", "csp-admin-password-1"

# Reported by the page itself (the securitypolicyviolation event) and by Chromium's console, which also
# names violations that happen before any script of the page runs.
WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${document.location.pathname}`);
});
"""


class Watched:
    """A browser page whose CSP violations are collected in `violations`."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.violations: list[str] = []
        self.policies: dict[str, str] = {}

    def goto(self, path: str) -> None:
        response = self.page.goto(f"{self.base_url}{path}")
        assert response is not None
        assert response.status < 400, (path, response.status)
        self.policies[path] = response.headers.get("content-security-policy", "")
        self.page.wait_for_load_state("load")


@pytest.fixture
def watched(chromium, live_server) -> Iterator[Watched]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Asia/Seoul")
    page = context.new_page()
    page.set_default_timeout(10_000)
    watch = Watched(page, live_server.url)
    context.expose_function("cspViolation", lambda text: watch.violations.append(text))
    context.add_init_script(WATCH)
    page.on("console", lambda message: _console(watch, message))
    yield watch
    context.close()


def _console(watch: Watched, message) -> None:
    if "Content Security Policy" in message.text:
        watch.violations.append(f"console: {message.text}")


@pytest.fixture
def admin_user(transactional_db):
    return get_user_model().objects.create_superuser(ADMIN_USER, password=ADMIN_PASSWORD)


def log_in(watch: Watched, next_path: str = "/") -> None:
    watch.goto(f"/admin/login/?next={next_path}")
    watch.page.fill("#id_username", ADMIN_USER)
    watch.page.fill("#id_password", ADMIN_PASSWORD)
    watch.page.click("input[type=submit]")
    watch.page.wait_for_load_state("load")


def poll(page, condition, *, attempts: int = 100) -> None:
    """Let the page run (50 ms at a time) until `condition()` holds."""
    for _ in range(attempts):
        if condition():
            return
        page.wait_for_timeout(50)
    assert condition()


def test_the_watch_sees_a_violation(watched, admin_user):
    log_in(watched, "/admin/")
    watched.page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">injected</p>')")
    watched.page.wait_for_function("() => document.body.lastElementChild.textContent === 'injected'")
    poll(watched.page, lambda: watched.violations)  # the event is queued as a task after the insertion

    assert any("style-src" in violation for violation in watched.violations), watched.violations


def test_the_dashboard_polls_with_no_violation(watched, admin_user):
    requests: list[str] = []
    watched.page.on("request", lambda request: requests.append(request.url) if "/panels/" in request.url else None)
    log_in(watched, "/")
    watched.page.wait_for_selector("#panel-engine")

    SignalFactory(action="BUY", explanation="csp swap check")
    watched.page.wait_for_selector("#panel-market >> text=csp swap check", timeout=5_000)  # an htmx swap happened
    polled = len(requests)
    poll(watched.page, lambda: len(requests) >= polled + 9)  # every panel polled again at least once
    widths = watched.page.eval_on_selector_all("[data-percent]", "bars => bars.map(b => [b.dataset.percent, b.style.width])")
    assert widths
    assert all(width == f"{percent}%" for percent, width in widths), widths

    assert watched.violations == []
    assert all("script-src 'self'" in policy for policy in watched.policies.values())


def test_the_login_page_and_the_admin_have_no_violation(watched, admin_user):
    order = OrderFactory(status=Order.Status.WAIT)
    config = StrategyConfigFactory()
    ManualOrderRequestFactory()
    EngineEventFactory(message="csp event")
    state = EngineState.load()

    watched.goto("/admin/login/")
    log_in(watched, "/admin/")
    for path in (
        "/admin/",
        reverse("admin:trading_order_changelist"),
        reverse("admin:trading_order_change", args=[order.pk]),
        reverse("admin:trading_enginestate_change", args=[state.pk]),
        reverse("admin:trading_strategyconfig_change", args=[config.pk]),
        reverse("admin:trading_manualorderrequest_add"),
        reverse("admin:trading_engineevent_changelist") + "?from=0001-01-01",
        reverse("admin:auth_user_add"),
        reverse("admin:auth_user_change", args=[admin_user.pk]),
    ):
        watched.goto(path)

    # An action's confirmation page, reached the way a person reaches it.
    watched.goto(reverse("admin:trading_order_changelist"))
    watched.page.check(f"input.action-select[value='{order.pk}']")
    watched.page.select_option("select[name=action]", "cancel_open_orders")
    watched.page.click("button[name=index]")
    watched.page.wait_for_selector("text=Cancel open orders: are you sure?")
    watched.page.click("a.cancel-link")  # admin/js/cancel.js goes back
    # Going back may restore the list from the back/forward cache, which fires no new "load": wait for the
    # navigation itself, or a slow machine that clicks before the cache restore hangs here.
    watched.page.wait_for_url(f"**{reverse('admin:trading_order_changelist')}", wait_until="commit")
    watched.page.wait_for_selector("select[name=action]")

    assert watched.violations == [], "\n".join(watched.violations)
    assert len(watched.policies) >= 10


def test_every_admin_list_and_one_row_of_each_have_no_violation(watched, admin_user):
    for factory in (
        OrderFactory,
        FillFactory,
        SignalFactory,
        EngineEventFactory,
        BalanceSnapshotFactory,
        PnlDailyFactory,
        CandleFactory,
        StrategyConfigFactory,
        ManualOrderRequestFactory,
    ):
        factory()
    # Rows with their charts: a chart drawn from a data: URI or with an inline style is a violation.
    chart = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M0 0L9 9" stroke="#000"/></svg>'
    BacktestRunFactory(equity_svg=chart)
    OptimizationStudyFactory(chart_svg=chart)
    EngineState.load()
    log_in(watched, "/admin/")
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        watched.goto(reverse("admin:{}_{}_changelist".format(*info)))
        row = model._default_manager.first()
        if row is not None:
            watched.goto(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))

    assert watched.violations == [], "\n".join(watched.violations)
    assert len(watched.policies) >= 2 * 10


def test_the_engine_pages_confirmations_still_ask(watched, admin_user):
    log_in(watched, "/admin/")
    watched.goto(reverse("admin:trading_enginestate_change", args=[EngineState.load().pk]))
    dialogs: list[str] = []

    def answer(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    watched.page.on("dialog", answer)
    watched.page.click("button[name=paper_reset]")
    poll(watched.page, lambda: dialogs)

    assert dialogs == ["Reset the paper account? Open paper orders are cancelled and coins removed."]
    assert watched.page.url.endswith(reverse("admin:trading_enginestate_change", args=[EngineState.load().pk]))
    assert watched.violations == []
