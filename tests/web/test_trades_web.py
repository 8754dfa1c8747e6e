"""The Trades and Performance panels, GET /api/trades and /api/performance, and one unrealized profit everywhere."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tests.factories import BalanceSnapshotFactory, FillFactory, OrderFactory, PnlDailyFactory, UserFactory
from tests.web.conftest import engine_heartbeat
from tests.web.test_api import envelope
from trading import trade_selectors
from trading.accounts import account_current
from trading.engine.pnl import PnlTracker
from trading.models import PnlDaily

SEOUL = ZoneInfo("Asia/Seoul")
D = Decimal


@pytest.fixture(autouse=True)
def _fresh_trips():
    trade_selectors.trades_cache_clear()
    yield
    trade_selectors.trades_cache_clear()


def trade(side: str, ts: datetime, *, volume: str, funds: str, fee: str, reason: str = ""):
    vol, money = D(volume), D(funds)
    placed = OrderFactory(side=side, ts=ts, reason=reason or f"{side.upper()} by macd: entry")
    return FillFactory(order=placed, ts=ts, price=money / vol, volume=vol, funds=money, fee=D(fee))


def round_trip(entry: datetime, exit_: datetime, *, sell_funds: str, exit_reason: str = "SELL by macd: exit_signal") -> None:
    trade("buy", entry, volume="0.0001", funds="10000", fee="5")
    trade("sell", exit_, volume="0.0001", funds=sell_funds, fee="5", reason=exit_reason)


def text_of(html: str, pattern: str) -> str:
    found = re.search(pattern, html, re.S)
    assert found, pattern
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip()


# ---------------------------------------------------------------------------------------------------
# One unrealized profit
# ---------------------------------------------------------------------------------------------------
def test_balance_todays_pnl_trades_api_and_metrics_agree_on_the_unrealized_profit(session_client, token_client):
    """Bought 10,000 KRW of BTC (fee 5) and the price rose 0.05%: the move alone is +5, but selling now would
    also pay 5 KRW, so the position is down 5. Balance used to say +5 while Today's PnL said -5."""
    now = timezone.now()
    trade("buy", now - timedelta(minutes=1), volume="0.0001", funds="10000", fee="5")
    price = D("100050000")
    BalanceSnapshotFactory(krw=D("990000"), coin_volume=D("0.0001"), avg_buy_price=D("100000000"), price=price)
    # The day's row exactly as the engine writes it after a cycle at this price, and the price it records.
    tracker = PnlTracker(market="KRW-BTC", account=account_current())
    tracker.update(price=price, equity=D("990000") + D("0.0001") * price, now=now)
    engine_heartbeat(last_price=price)

    html = session_client.get("/").content.decode()
    balance = text_of(html, r'id="panel-balance".*?Evaluation</dt><dd>[^<]*<small[^>]*>\(([^)]*)\)</small>')
    pnl = text_of(html, r'id="panel-pnl".*?Unrealized</dt>\s*<dd[^>]*>([^<]*)</dd>')
    trades = text_of(html, r'id="panel-trades".*?Unrealized profit</dt>\s*<dd[^>]*>([^<(]*)')
    assert balance == pnl == "-5"
    assert trades == "-5 KRW"

    api = envelope(token_client.get("/api/account/balance"))["data"]
    position = envelope(token_client.get("/api/trades"))["data"]["open_position"]
    assert D(api["unrealized"]) == D(position["unrealized_krw"]) == D("-5.0025")
    metrics = Client().get("/metrics").content.decode()
    assert "autocoin_position_unrealized_krw -5.0025" in metrics.splitlines()


# ---------------------------------------------------------------------------------------------------
# The panels
# ---------------------------------------------------------------------------------------------------
def test_trades_panel_lists_closed_trips_newest_first_with_profit_reason_and_holding(session_client):
    round_trip(
        datetime(2025, 9, 1, 10, 0, tzinfo=SEOUL),
        datetime(2025, 9, 1, 12, 5, 7, tzinfo=SEOUL),
        sell_funds="10110",
        exit_reason="SELL by macd: take_profit",
    )
    round_trip(datetime(2025, 9, 2, 10, 0, tzinfo=SEOUL), datetime(2025, 9, 2, 10, 0, 45, tzinfo=SEOUL), sell_funds="9910")
    html = session_client.get("/panels/trades").content.decode()
    rows = re.findall(r'<tr class="round-trip[^"]*">(.*?)</tr>', html, re.S)
    assert len(rows) == 2
    newest, oldest = (re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows)
    assert newest.startswith("09-02 10:00:00 09-02 10:00:45")
    assert "-100 KRW (-1.00%)" in newest
    assert "45 s" in newest
    assert "09-01 12:05:07" in oldest
    assert "+100 KRW (+1.00%)" in oldest
    assert "strategy → take-profit" in oldest
    assert "2 h 5 min" in oldest
    assert "No open position." in html


def test_trades_panel_in_korean(session_client):
    round_trip(datetime(2025, 9, 1, 10, 0, tzinfo=SEOUL), datetime(2025, 9, 1, 11, 0, tzinfo=SEOUL), sell_funds="10110")
    session_client.cookies["django_language"] = "ko"
    html = session_client.get("/panels/trades").content.decode()
    assert "거래" in html
    assert "열린 포지션 없음." in html
    assert "전략 → 전략" in html


@pytest.mark.usefixtures("frozen_now")
def test_the_trades_panel_answers_204_when_nothing_changed_and_renders_after_a_fill(session_client):
    first = session_client.get("/panels/trades", headers={"HX-Request": "true"})
    etag = first["ETag"]
    again = session_client.get("/panels/trades", headers={"HX-Request": "true", "If-None-Match": etag})
    assert again.status_code == 204
    trade("buy", timezone.now(), volume="0.0001", funds="10000", fee="5")
    changed = session_client.get("/panels/trades", headers={"HX-Request": "true", "If-None-Match": etag})
    assert changed.status_code == 200
    assert 'data-open-position="true"' in changed.content.decode()


def test_performance_panel_shows_day_week_and_month_tables_and_the_figures(session_client):
    round_trip(datetime(2025, 8, 31, 20, 0, tzinfo=SEOUL), datetime(2025, 8, 31, 23, 59, tzinfo=SEOUL), sell_funds="10110")
    round_trip(datetime(2025, 9, 1, 0, 0, tzinfo=SEOUL), datetime(2025, 9, 1, 0, 1, tzinfo=SEOUL), sell_funds="9960")
    html = session_client.get("/panels/performance").content.decode()
    for period in ("day", "week", "month"):
        assert f'data-period="{period}"' in html
        assert f'data-period-tab="{period}"' in html
    assert 'data-period-start="2025-08-31"' in html
    assert 'data-period-start="2025-08-25"' in html  # the week of Monday 25 August
    assert 'data-period-start="2025-08-01"' in html
    figures = dict(re.findall(r'data-(win-rate|profit-factor|max-drawdown)="([^"]*)"', html))
    # One trip +100, one -50: half of them won, 100 gained per 50 lost, 50 given back from the peak.
    assert {name: D(value) for name, value in figures.items()} == {"win-rate": D("0.5"), "profit-factor": 2, "max-drawdown": 50}
    assert 'class="profit-chart' in html
    assert "<script" not in html
    assert "style=" not in html


def test_a_few_krw_of_cumulative_profit_never_fill_the_charts_height(session_client):
    round_trip(datetime(2025, 9, 1, 10, 0, tzinfo=SEOUL), datetime(2025, 9, 1, 11, 0, tzinfo=SEOUL), sell_funds="10013")
    round_trip(datetime(2025, 9, 2, 10, 0, tzinfo=SEOUL), datetime(2025, 9, 2, 11, 0, tzinfo=SEOUL), sell_funds="10008")
    html = session_client.get("/panels/performance").content.decode()
    points = re.search(r'class="profit-chart[^"]*".*?points="([^"]+)"', html, re.S).group(1).split()
    ys = [float(point.split(",")[1]) for point in points]
    # Profits of 3 and 1 KRW on a chart at least 1,000 KRW high: the line stays within a pixel of its start.
    assert max(ys) - min(ys) < 1


# ---------------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------------
def test_api_trades_pages_newest_first(token_client):
    for day in range(1, 6):
        entry = datetime(2025, 9, day, 10, 0, tzinfo=SEOUL)
        round_trip(entry, entry + timedelta(hours=1), sell_funds=f"{10000 + day * 10}")
    data = envelope(token_client.get("/api/trades?page=1&page_size=2"))["data"]
    assert (data["page"], data["page_size"], data["total"], data["pages"], data["has_next"]) == (1, 2, 5, 3, True)
    assert [item["exit_at"] for item in data["items"]] == ["2025-09-05T02:00:00.000Z", "2025-09-04T02:00:00.000Z"]
    first = data["items"][0]
    assert first == {
        "entry_at": "2025-09-05T01:00:00.000Z",
        "exit_at": "2025-09-05T02:00:00.000Z",
        "entry_reason": "strategy",
        "exit_reason": "strategy",
        "avg_entry_price": "100000000",
        "avg_exit_price": "100500000",
        "volume": "0.0001",
        "sold_volume": "0.0001",
        "entry_cost": "10005",
        "buy_fees": "5",
        "sell_fees": "5",
        "fees": "10",
        "profit_krw": "40",
        "profit_pct": "0.4",
        "holding_sec": 3600,
        "fills": 2,
    }
    last = envelope(token_client.get("/api/trades?page=3&page_size=2"))["data"]
    assert [item["exit_at"][:10] for item in last["items"]] == ["2025-09-01"]
    assert last["has_next"] is False
    past = envelope(token_client.get("/api/trades?page=9&page_size=2"))["data"]
    assert (past["items"], past["total"]) == ([], 5)
    assert data["open_position"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page_size=1.5", "page_size"),
        ("page=1&page=2", "page"),
        ("cursor=5", "cursor"),
    ],
)
def test_api_trades_refuses_bad_parameters_with_400_and_says_which(token_client, query, field):
    response = token_client.get(f"/api/trades?{query}")
    assert response.status_code == 400
    error = envelope(response)["error"]
    assert error["code"] in ("invalid_parameter", "unknown_parameter")
    assert error["field"] == field
    assert field in error["message"]


def test_api_trades_and_performance_need_a_login_and_the_view_permission(db):
    assert Client().get("/api/trades").status_code == 401
    assert Client().get("/api/performance").status_code == 401
    nobody = get_user_model().objects.create_user("nobody", password="nobody-password-1")
    client = Client()
    client.force_login(nobody)
    response = client.get("/api/trades")
    assert response.status_code == 403
    assert envelope(response)["error"]["permission"] == "trading.view_dashboard"
    viewer = Client()
    viewer.force_login(UserFactory(username="viewer", groups=["Viewers"]))
    assert viewer.get("/api/trades").status_code == 200
    assert viewer.get("/api/performance").status_code == 200
    assert viewer.post("/api/trades").status_code == 405


def test_api_performance_by_seoul_period_with_the_summary(token_client):
    round_trip(datetime(2025, 8, 31, 20, 0, tzinfo=SEOUL), datetime(2025, 8, 31, 23, 59, tzinfo=SEOUL), sell_funds="10110")
    round_trip(datetime(2025, 9, 1, 0, 0, tzinfo=SEOUL), datetime(2025, 9, 1, 0, 1, tzinfo=SEOUL), sell_funds="9960")
    data = envelope(token_client.get("/api/performance?period=month"))["data"]
    assert (data["period"], data["time_zone"]) == ("month", "Asia/Seoul")
    assert [(row["start"], row["profit_krw"], row["trades"], row["cumulative_profit_krw"]) for row in data["periods"]] == [
        ("2025-09-01", "-50", 1, "50"),
        ("2025-08-01", "100", 1, "100"),
    ]
    summary = data["summary"]
    assert (summary["trades"], summary["wins"], summary["losses"]) == (2, 1, 1)
    assert (summary["win_rate"], summary["profit_factor"], summary["max_drawdown_krw"]) == ("0.5", "2", "50")
    assert [point["profit_krw"] for point in data["cumulative"]] == ["0", "100", "50"]
    days = envelope(token_client.get("/api/performance?limit=1"))["data"]
    assert days["period"] == "day"
    assert [row["start"] for row in days["periods"]] == ["2025-09-01"]


@pytest.mark.parametrize(("query", "field"), [("period=year", "period"), ("limit=0", "limit"), ("days=3", "days")])
def test_api_performance_refuses_bad_parameters(token_client, query, field):
    response = token_client.get(f"/api/performance?{query}")
    assert response.status_code == 400
    assert envelope(response)["error"]["field"] == field


def test_a_position_held_over_midnight_is_labelled_since_midnight_in_todays_pnl(session_client):
    today = PnlDailyFactory(date=timezone.localdate(), unrealized=D("-3"))
    assert "data-since-midnight" not in session_client.get("/panels/pnl").content.decode()
    # The engine stores the midnight price only when a position was carried into the day.
    PnlDaily.objects.filter(pk=today.pk).update(start_price=D("100000000"))
    assert "since midnight" in session_client.get("/panels/pnl").content.decode()
