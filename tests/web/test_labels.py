"""Honest labels on every page: the sandbox is never called real money, Upbit always is; the risk panel says
"at the limit" and "over the limit" in words; the manual form shows its limits and the whole refusal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone, translation

from tests.factories import BalanceSnapshotFactory, ManualOrderRequestFactory, OrderFactory, UserFactory
from tests.web.conftest import engine_heartbeat
from trading.models import ManualOrderRequest

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
SANDBOX_SENTENCE = "SANDBOX: simulated exchange, no real money."


@pytest.fixture
def sandbox(settings):
    settings.PAPER_MODE = False
    settings.UPBIT_API_BASE = "http://127.0.0.1:8765"


@pytest.fixture
def upbit(settings):
    settings.PAPER_MODE = False
    settings.UPBIT_API_BASE = "https://api.upbit.com"


def test_the_sandbox_is_labelled_sandbox_on_the_dashboard_not_real_money(session_client, sandbox):
    page = session_client.get("/").content.decode()
    assert SANDBOX_SENTENCE in page
    assert 'class="badge mode-badge mode-sandbox"' in page
    assert "LIVE MODE" not in page
    assert "mode-live" not in page
    engine_heartbeat()
    assert "REAL money" not in session_client.get("/panels/engine").content.decode()


def test_upbit_keeps_the_red_live_banner(session_client, upbit):
    page = session_client.get("/").content.decode()
    assert "LIVE MODE: orders use real money on Upbit." in page
    assert 'class="badge mode-badge mode-live"' in page
    assert "SANDBOX" not in page


def test_the_sandbox_banner_is_korean_in_korean(session_client, sandbox):
    session_client.cookies["django_language"] = "ko"
    page = session_client.get("/", headers={"Accept-Language": "ko"}).content.decode()
    assert "샌드박스" in page
    assert SANDBOX_SENTENCE not in page


@pytest.mark.parametrize(("venue", "expected"), [("sandbox", "sandbox"), ("upbit", "live")])
def test_the_api_status_and_metrics_name_the_venue(session_client, request, venue, expected):
    request.getfixturevalue(venue)
    assert session_client.get("/api/engine/status").json()["data"]["venue"] == expected
    metrics = Client().get("/metrics").content.decode()
    assert f'autocoin_venue{{venue="{expected}"}} 1' in metrics
    others = {"paper", "sandbox", "live"} - {expected}
    assert all(f'autocoin_venue{{venue="{other}"}} 0' in metrics for other in others)


def test_paper_is_paper_in_the_status_and_metrics(session_client):
    assert session_client.get("/api/engine/status").json()["data"]["venue"] == "paper"
    assert 'autocoin_venue{venue="paper"} 1' in Client().get("/metrics").content.decode()


@pytest.mark.parametrize(("venue", "badge"), [("sandbox", "SANDBOX · no real money"), ("upbit", "LIVE · real money")])
def test_every_admin_page_header_names_the_venue(client, request, venue, badge):
    request.getfixturevalue(venue)
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    for path in ("/admin/", "/admin/trading/order/"):
        assert badge in client.get(path).content.decode()


def test_the_admin_engine_page_does_not_call_the_sandbox_real_money(client, sandbox):
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    page = client.get("/admin/trading/enginestate/1/change/", follow=True).content.decode()
    assert "SANDBOX: simulated exchange, no real money" in page
    assert "LIVE trading: real money" not in page
    assert "Start LIVE trading with real money?" not in page


# ---------------------------------------------------------------------------------------------------
# Risk panel: within, at, over
# ---------------------------------------------------------------------------------------------------
def risk_row(html: str, name: str) -> str:
    start = html.index(f'data-limit="{name}"')
    return html[html.rindex("<tr", 0, start) : html.index("</tr>", start)]


def test_an_order_of_exactly_the_largest_size_is_at_the_limit_not_alarm_red(session_client, settings):
    settings.MAX_ORDER_KRW = Decimal("10000")
    engine_heartbeat()
    OrderFactory(executed_funds=Decimal("10000"), ts=timezone.now())
    row = risk_row(session_client.get("/panels/risk").content.decode(), "max_order")
    assert 'data-level="at"' in row
    assert "at the limit" in row
    assert "danger" not in row


def test_an_order_over_the_largest_size_is_over_the_limit_in_red(session_client, settings):
    settings.MAX_ORDER_KRW = Decimal("10000")
    engine_heartbeat()
    OrderFactory(price=Decimal("12000"), executed_funds=Decimal("12000"), ts=timezone.now())
    row = risk_row(session_client.get("/panels/risk").content.decode(), "max_order")
    assert 'data-level="over"' in row
    assert "over the limit" in row
    assert "danger" in row


def test_a_limit_well_within_says_nothing_alarming(session_client, settings):
    engine_heartbeat()
    row = risk_row(session_client.get("/panels/risk").content.decode(), "failures")
    assert 'data-level="ok"' in row
    assert "the limit" not in row


def test_the_limit_words_are_korean_in_korean(session_client, settings):
    settings.MAX_ORDER_KRW = Decimal("10000")
    engine_heartbeat()
    OrderFactory(executed_funds=Decimal("10000"), ts=timezone.now())
    with translation.override("ko"):
        session_client.cookies["django_language"] = "ko"
        row = risk_row(session_client.get("/panels/risk").content.decode(), "max_order")
    assert "at the limit" not in row
    assert "한도 도달" in row


# ---------------------------------------------------------------------------------------------------
# The manual order form
# ---------------------------------------------------------------------------------------------------
def test_the_manual_form_shows_its_limits_and_carries_them_for_the_browser(session_client, settings):
    settings.MAX_ORDER_KRW = Decimal("10000")
    settings.MAX_POSITION_RATIO = Decimal("0.3")
    BalanceSnapshotFactory(krw=Decimal("990000"), coin_volume=Decimal("0.0001"), price=Decimal("100000000"))
    page = session_client.get("/").content.decode()
    limits = page[page.index("manual-limits") : page.index("</dl>", page.index("manual-limits"))]
    assert "5,000 KRW" in limits
    assert "10,000 KRW" in limits
    assert "MAX_ORDER_KRW" in limits
    assert "30.0%" in limits
    assert "MAX_POSITION_RATIO" in limits
    assert "989,505 KRW" in limits  # 990,000 less the 0.05% fee reserved on top
    assert 'data-max-order-krw="10000"' in page
    assert 'data-available-krw="989505"' in page
    assert 'data-ratio-percent="30"' in page
    assert 'data-msg-over-max-order="%(value)s KRW is over the largest order allowed, %(limit)s KRW (MAX_ORDER_KRW)."' in page


def test_a_manual_buy_over_the_largest_order_is_refused_at_the_form_with_the_whole_reason(session_client, settings):
    settings.MAX_ORDER_KRW = Decimal("10000")
    engine_heartbeat(state="RUNNING")
    html = session_client.post("/orders/manual", {"kind": "buy", "krw": "20000"}, headers=HTMX).content.decode()
    assert "KRW amount (buy): 20,000 KRW is over the largest order allowed, 10,000 KRW (MAX_ORDER_KRW)." in html
    assert not ManualOrderRequest.objects.exists()


def test_the_manual_requests_panel_shows_a_long_reason_whole(session_client):
    reason = "blocked: " + "the position cap allows only 1,234 KRW more; " * 6 + "the end of the reason"
    ManualOrderRequestFactory(status=ManualOrderRequest.Status.REJECTED, result=reason)
    html = session_client.get("/panels/manual").content.decode()
    assert "the end of the reason" in html
    assert "…" not in html
