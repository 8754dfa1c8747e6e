from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import (
    BalanceSnapshotFactory,
    EngineEventFactory,
    FillFactory,
    ManualOrderRequestFactory,
    OrderFactory,
    PnlDailyFactory,
    SignalFactory,
)
from tests.web.conftest import engine_heartbeat
from trading import services
from trading.models import EngineEvent, EngineState, ManualOrderRequest

pytestmark = pytest.mark.django_db

PANELS = ["engine", "market", "balance", "pnl", "risk", "chart", "signals", "orders", "manual", "log"]
HTMX = {"HX-Request": "true"}


def busy_history() -> None:
    """A dashboard's worst case: long texts everywhere and every table full."""
    engine_heartbeat(state="RUNNING", last_price=Decimal("101234567"), iteration=99999)
    for _ in range(20):
        order = OrderFactory(error_message="x" * 2000, reason="strategy BUY " * 10)
        FillFactory.create_batch(3, order=order)
        SignalFactory(explanation="MACD crossed above its signal line " * 30)
        EngineEventFactory(message="a long cycle message " * 100, level="WARNING")
    for _ in range(10):
        ManualOrderRequestFactory(result="r" * 500)
    for minute in range(2000):
        BalanceSnapshotFactory(ts=timezone.now() - timedelta(minutes=minute * 5), total_krw=Decimal(1_000_000 + minute))
    PnlDailyFactory(date=timezone.localdate())


# ---------------------------------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------------------------------
def test_anonymous_is_sent_to_the_admin_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/")


@pytest.mark.parametrize("name", PANELS)
def test_anonymous_panel_poll_redirects(client, name):
    assert client.get(f"/panels/{name}").status_code == 302
    # An htmx poll after the session expired sends the whole page to the login, not the login into a panel.
    response = client.get(f"/panels/{name}", headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/admin/login/")


def test_anonymous_cannot_press_start(client):
    engine_heartbeat()
    response = client.post("/engine/start")
    assert response.status_code == 302
    assert EngineState.load().state == "IDLE"


def test_logging_in_through_the_admin_page_leads_to_the_dashboard(operator):
    client = Client()
    response = client.post("/admin/login/?next=/", {"username": "operator", "password": "operator-password-1", "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


# ---------------------------------------------------------------------------------------------------
# Page and partials
# ---------------------------------------------------------------------------------------------------
def test_page_holds_every_panel_and_loads_htmx_locally(session_client):
    html = session_client.get("/").content.decode()
    for name in PANELS:
        assert f'id="panel-{name}"' in html
    assert 'src="/static/django_htmx/htmx-2.min.js"' in html
    assert "https://" not in html.split("<body")[0]  # nothing from a CDN
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"\w+\"\}'", html)
    assert 'href="/static/css/dashboard.css"' in html


@pytest.mark.parametrize("name", PANELS)
def test_each_partial_is_its_own_swap_target_and_small(session_client, name):
    busy_history()
    response = session_client.get(f"/panels/{name}", headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith(f'<section id="panel-{name}"')
    assert 'hx-swap="outerHTML"' in html
    # Hidden tabs drop their polls in js/dashboard.js (a trigger filter would need eval, which the CSP refuses).
    assert re.search(r'hx-trigger="every \d+s, ', html)
    assert "tabVisible from:body" in html
    assert "[" not in html.split("hx-trigger=")[1].split('"')[1]
    assert len(response.content) < 20 * 1024, f"{name} is {len(response.content)} bytes"
    assert "<html" not in html


@pytest.mark.parametrize("name", PANELS)
@pytest.mark.usefixtures("frozen_now")  # the risk panel counts the cooldown down by the second
def test_unchanged_panel_answers_304_or_204_without_a_body(session_client, name):
    busy_history()
    first = session_client.get(f"/panels/{name}")
    etag = first["ETag"]
    assert etag in first.content.decode().replace("&quot;", '"').replace('\\"', '"')
    plain = session_client.get(f"/panels/{name}", headers={"If-None-Match": etag})
    assert plain.status_code == 304
    assert plain.content == b""
    polled = session_client.get(f"/panels/{name}", headers={"If-None-Match": etag, **HTMX})
    assert polled.status_code == 204
    assert polled.content == b""


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("market", lambda: SignalFactory(action="SELL")),
        ("signals", lambda: SignalFactory()),
        ("orders", lambda: OrderFactory()),
        ("log", lambda: EngineEventFactory()),
        ("balance", lambda: BalanceSnapshotFactory()),
        ("chart", lambda: BalanceSnapshotFactory(total_krw=Decimal("2000000"))),
        ("manual", lambda: ManualOrderRequestFactory()),
        ("pnl", lambda: PnlDailyFactory(date=timezone.localdate())),
        ("engine", lambda: services.engine_start(actor="test")),
        ("risk", lambda: EngineState.objects.update(consecutive_failures=2)),
    ],
)
@pytest.mark.usefixtures("frozen_now")
def test_a_change_makes_the_poll_render_again(session_client, name, change):
    engine_heartbeat()
    BalanceSnapshotFactory(ts=timezone.now() - timedelta(minutes=1))
    etag = session_client.get(f"/panels/{name}")["ETag"]
    change()
    response = session_client.get(f"/panels/{name}", headers={"If-None-Match": etag, **HTMX})
    assert response.status_code == 200
    assert response["ETag"] != etag


@pytest.mark.usefixtures("frozen_now")
def test_online_engine_panel_does_not_change_with_every_heartbeat(session_client):
    engine_heartbeat(heartbeat_at=timezone.now() - timedelta(seconds=1))
    first = session_client.get("/panels/engine")
    assert "heartbeat under 5 s ago" in first.content.decode()
    for age in (3, 0, 2):  # the engine keeps writing heartbeats; the page need not move
        engine_heartbeat(heartbeat_at=timezone.now() - timedelta(seconds=age))
        assert session_client.get("/panels/engine", headers={"If-None-Match": first["ETag"], **HTMX}).status_code == 204
    engine_heartbeat(heartbeat_at=timezone.now() - timedelta(minutes=3))
    changed = session_client.get("/panels/engine", headers={"If-None-Match": first["ETag"], **HTMX})
    assert changed.status_code == 200
    assert "Engine process offline · last heartbeat: 3 min" in changed.content.decode()


def test_etag_depends_on_the_language(session_client):
    english = session_client.get("/panels/engine")["ETag"]
    korean = session_client.get("/panels/engine", headers={"Accept-Language": "ko"})["ETag"]
    assert english != korean


# ---------------------------------------------------------------------------------------------------
# Engine panel: states, buttons, errors
# ---------------------------------------------------------------------------------------------------
def buttons(html: str) -> dict[str, bool]:
    """{"start": enabled?, ...} read from the rendered buttons."""
    found = {}
    for action in ("start", "stop", "reset"):
        match = re.search(rf'<button type="submit" class="btn btn-{action}"([^>]*)>', html)
        assert match, action
        found[action] = "disabled" not in match.group(1)
    return found


def test_offline_engine_says_how_to_start_it_and_start_is_disabled(session_client):
    html = session_client.get("/panels/engine").content.decode()
    assert 'data-online="false"' in html
    assert "python manage.py runengine" in html
    assert buttons(html) == {"start": False, "stop": False, "reset": False}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("IDLE", {"start": True, "stop": False, "reset": False}),
        ("RUNNING", {"start": False, "stop": True, "reset": False}),
        ("STOPPING", {"start": False, "stop": False, "reset": False}),
        ("ERROR", {"start": False, "stop": False, "reset": True}),
    ],
)
def test_buttons_follow_the_allowed_transitions(session_client, state, expected):
    engine_heartbeat(state=state)
    html = session_client.get("/panels/engine").content.decode()
    assert f'data-state="{state}"' in html
    assert f"state-badge state-{state}" in html
    assert buttons(html) == expected


def test_error_state_shows_the_error_and_what_to_do(session_client):
    engine_heartbeat(state="RUNNING")
    services.engine_fail(actor="engine", error="Daily loss 51,000 KRW exceeded MAX_DAILY_LOSS_KRW", kill_switch=True)
    html = session_client.get("/panels/engine").content.decode()
    assert "state-error" in html
    assert "state-badge state-ERROR" in html
    assert 'class="error-box" role="alert"' in html
    assert "Daily loss 51,000 KRW exceeded MAX_DAILY_LOSS_KRW" in html
    assert "press Reset" in html
    assert "Kill-switch tripped" in html


def test_start_button_posts_and_returns_the_new_panel_with_an_event_for_the_others(session_client):
    engine_heartbeat()
    response = session_client.post("/engine/start", headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<section id="panel-engine"')
    assert 'data-state="RUNNING"' in html
    assert "engineChanged" in response["HX-Trigger"]
    assert EngineEvent.objects.get(kind="state_changed").actor == "user:operator"


def test_refused_transition_is_shown_in_the_panel(session_client):
    engine_heartbeat()
    response = session_client.post("/engine/reset", headers=HTMX)
    assert "Reset is only possible from ERROR" in response.content.decode()
    assert EngineState.load().state == "IDLE"


def test_start_refused_offline_in_the_dashboard_too(session_client):
    response = session_client.post("/engine/start", headers=HTMX)
    assert "engine process is offline" in response.content.decode()
    assert EngineState.load().state == "IDLE"
    session_client.cookies["django_language"] = "ko"
    korean = session_client.post("/engine/start", headers={**HTMX, "Accept-Language": "ko"}).content.decode()
    assert "엔진 프로세스가 오프라인입니다. `python manage.py runengine`(또는 `make run`)으로 엔진을 시작하세요." in korean
    assert "start it with" not in korean


def test_controls_work_without_javascript(session_client):
    engine_heartbeat()
    response = session_client.post("/engine/start")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert EngineState.load().state == "RUNNING"
    assert "IDLE → RUNNING" in session_client.get("/").content.decode()


def test_engine_action_needs_csrf(csrf_client):
    engine_heartbeat()
    assert csrf_client.post("/engine/start", headers=HTMX).status_code == 403
    assert EngineState.load().state == "IDLE"


def test_in_flight_requests_disable_their_button_and_live_start_asks_first(session_client, settings):
    engine_heartbeat()
    html = session_client.get("/panels/engine").content.decode()
    assert html.count('hx-disabled-elt="find button"') == 4  # Start, Stop, Reset, Pause entries
    assert "hx-confirm" not in html
    settings.PAPER_MODE = False
    page = session_client.get("/").content.decode()
    assert 'class="badge mode-badge mode-live"' in page
    assert "LIVE MODE" in page
    assert 'hx-confirm="Start trading with REAL money on Upbit?"' in session_client.get("/panels/engine").content.decode()


def test_paper_mode_badge(session_client):
    assert 'class="badge mode-badge mode-paper"' in session_client.get("/").content.decode()


# ---------------------------------------------------------------------------------------------------
# Cards: money, times, PnL bar, risk
# ---------------------------------------------------------------------------------------------------
def test_money_has_separators_and_times_are_seoul(session_client):
    engine_heartbeat(last_price=Decimal("101234567.5"))
    SignalFactory(ts=datetime(2025, 3, 1, 0, 30, tzinfo=UTC), score=Decimal("0.12345678"))
    BalanceSnapshotFactory(krw=Decimal("1234567.89"), coin_volume=Decimal("0.00123456"))
    market = session_client.get("/panels/market").content.decode()
    assert "101,234,567.5" in market
    assert "09:30:00" in market  # 00:30 UTC is 09:30 in Seoul
    balance = session_client.get("/panels/balance").content.decode()
    assert "1,234,568" in balance  # whole won, rounded half up
    assert "0.00123456" in balance


@pytest.mark.usefixtures("frozen_now")
def test_pnl_bar_shows_the_loss_against_the_daily_limit(session_client, settings):
    settings.MAX_DAILY_LOSS_KRW = Decimal("50000")
    PnlDailyFactory(date=timezone.localdate(), realized=Decimal("-30000"), unrealized=Decimal("-10000"))
    html = session_client.get("/panels/pnl").content.decode()
    assert 'aria-valuenow="80"' in html
    assert "Loss today 40,000 of 50,000 KRW" in html
    assert "-40,000" in html


@pytest.mark.usefixtures("frozen_now")
def test_pnl_panel_does_not_count_the_loss_while_the_days_start_is_unknown(session_client, settings):
    settings.MAX_DAILY_LOSS_KRW = Decimal("50000")
    PnlDailyFactory(date=timezone.localdate(), realized=Decimal("-16"), unrealized=0, start_unknown_since=timezone.now())
    html = session_client.get("/panels/pnl").content.decode()
    assert "Loss today unknown, limit 50,000 KRW" in html
    assert "Loss today 16" not in html
    session_client.cookies["django_language"] = "ko"
    korean = session_client.get("/panels/pnl", headers={"Accept-Language": "ko"}).content.decode()
    assert "오늘 손실 알 수 없음 / 한도 50,000 KRW" in korean


@pytest.mark.usefixtures("frozen_now")
def test_risk_panel_shows_cooldown_failures_and_kill_switch(session_client, settings):
    settings.ORDER_COOLDOWN_SEC = 60
    OrderFactory(side="buy", ts=timezone.now() - timedelta(seconds=15))
    engine_heartbeat(consecutive_failures=2)
    html = session_client.get("/panels/risk").content.decode()
    assert 'data-cooldown-buy="45"' in html
    assert 'data-cooldown-sell="0"' in html
    assert "2 / 3" in html
    assert "armed" in html


def test_equity_chart_is_an_svg_of_at_most_300_points(session_client):
    for minute in range(1000):
        BalanceSnapshotFactory(ts=timezone.now() - timedelta(minutes=minute), total_krw=Decimal(1_000_000 + minute))
    html = session_client.get("/panels/chart").content.decode()
    polylines = re.findall(r'<polyline fill="none" points="([^"]+)"', html)
    assert len(polylines) == 2
    for points in polylines:
        assert 2 <= len(points.split()) <= 300
    assert "<script" not in html


def test_orders_table_lists_fills_under_their_order(session_client):
    order = OrderFactory(identifier="ac-visible-order")
    FillFactory(order=order, volume=Decimal("0.00004321"), price=Decimal("99000000"))
    html = session_client.get("/panels/orders").content.decode()
    assert 'data-identifier="ac-visible-order"' in html
    assert "0.00004321 @ 99,000,000" in html


def test_log_rows_are_coloured_by_level(session_client):
    EngineEventFactory(level="ERROR", message="order rejected: insufficient funds")
    html = session_client.get("/panels/log").content.decode()
    assert '<li class="level-ERROR">' in html
    assert "insufficient funds" in html


# ---------------------------------------------------------------------------------------------------
# Manual order form
# ---------------------------------------------------------------------------------------------------
def test_manual_buy_from_the_form_is_queued(engine_running, session_client):
    response = session_client.post("/orders/manual", {"kind": "buy", "krw": "10,000"}, headers=HTMX)
    queued = ManualOrderRequest.objects.get()
    assert (queued.kind, queued.krw, queued.requested_by) == ("buy", Decimal("10000"), "user:operator")
    html = response.content.decode()
    assert f"Manual order #{queued.pk} queued." in html
    assert "manualQueued" in response["HX-Trigger"]


def test_manual_sell_all_from_the_form(engine_running, session_client):
    session_client.post("/orders/manual", {"kind": "sell", "volume": "all"}, headers=HTMX)
    assert ManualOrderRequest.objects.get().kind == "sell_all"


def test_bad_manual_order_keeps_the_input_and_names_the_field(session_client):
    response = session_client.post("/orders/manual", {"kind": "buy", "krw": "4000"}, headers=HTMX)
    html = response.content.decode()
    assert "KRW amount (buy):" in html
    assert "minimum" in html
    assert 'value="4000"' in html
    assert not ManualOrderRequest.objects.exists()


def test_manual_form_asks_for_confirmation(session_client):
    html = session_client.get("/").content.decode()
    assert re.search(r'<form method="post" action="/orders/manual"[^>]*hx-confirm="Queue this manual order', html, re.S)


# ---------------------------------------------------------------------------------------------------
# Languages
# ---------------------------------------------------------------------------------------------------
def test_browser_language_korean_is_used_by_default(session_client):
    html = session_client.get("/", headers={"Accept-Language": "ko-KR,ko;q=0.9"}).content.decode()
    assert '<html lang="ko">' in html
    assert "엔진" in html
    assert "시작" in html


def test_language_switch_sets_korean_for_the_dashboard_and_the_admin(session_client):
    response = session_client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    assert response.status_code == 302
    assert "최근 주문" in session_client.get("/").content.decode()
    admin = session_client.get("/admin/").content.decode()
    assert '<html lang="ko"' in admin
    assert "로그아웃" in admin
    session_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Recent orders" in session_client.get("/").content.decode()


# ---------------------------------------------------------------------------------------------------
# Phone width: nothing forces a wide layout
# ---------------------------------------------------------------------------------------------------
def test_page_declares_a_mobile_viewport(session_client):
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in session_client.get("/").content.decode()
