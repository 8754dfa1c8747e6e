"""The account's round trips as the dashboard and the API read them (trading/trade_selectors.py): per account,
kept up to date, and profit by the Seoul day, week and month."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.factories import FillFactory, OrderFactory, SignalFactory
from tests.web.conftest import engine_heartbeat
from trading import trade_selectors
from trading.models import Fill, Mode
from trading.round_trips import RoundTrip

pytestmark = pytest.mark.django_db
SEOUL = ZoneInfo("Asia/Seoul")
D = Decimal


@pytest.fixture(autouse=True)
def _fresh_trips():
    trade_selectors.trades_cache_clear()
    yield
    trade_selectors.trades_cache_clear()


def trade(side: str, ts: datetime, *, volume: str, funds: str, fee: str, reason: str = "", **order: object):
    vol, money = D(volume), D(funds)
    placed = OrderFactory(side=side, ts=ts, reason=reason or f"{side.upper()} by macd: entry", **order)
    return FillFactory(order=placed, ts=ts, price=money / vol, volume=vol, funds=money, fee=D(fee))


def round_trip(entry: datetime, exit_: datetime, *, sell_funds: str, **order: object) -> None:
    trade("buy", entry, volume="0.0001", funds="10000", fee="5", **order)
    trade("sell", exit_, volume="0.0001", funds=sell_funds, fee="5", reason="SELL by macd: exit_signal", **order)


def seoul(*args: int) -> datetime:
    return datetime(*args, tzinfo=SEOUL)


def test_a_trip_closing_at_2359_and_one_at_0001_seoul_fall_in_different_days_weeks_and_months():
    # Sunday 31 August 2025, 23:59 KST and Monday 1 September, 00:01 KST: the same UTC day (14:59 and 15:01).
    round_trip(seoul(2025, 8, 31, 20, 0), seoul(2025, 8, 31, 23, 59), sell_funds="10110")  # +100
    round_trip(seoul(2025, 9, 1, 0, 0, 30), seoul(2025, 9, 1, 0, 1), sell_funds="9910")  # -100
    days = trade_selectors.profit_by_period("day")
    assert [(row.start.isoformat(), row.stats.profit) for row in days] == [("2025-09-01", D("-100")), ("2025-08-31", D("100"))]
    weeks = trade_selectors.profit_by_period("week")
    assert [(row.start.isoformat(), row.stats.profit) for row in weeks] == [("2025-09-01", D("-100")), ("2025-08-25", D("100"))]
    months = trade_selectors.profit_by_period("month")
    assert [(row.start.isoformat(), row.stats.profit) for row in months] == [("2025-09-01", D("-100")), ("2025-08-01", D("100"))]


def test_trips_in_the_same_seoul_week_add_up_with_their_win_rate():
    round_trip(seoul(2025, 9, 1, 10, 0), seoul(2025, 9, 1, 11, 0), sell_funds="10110")  # Monday, +100
    round_trip(seoul(2025, 9, 3, 10, 0), seoul(2025, 9, 3, 11, 0), sell_funds="10060")  # Wednesday, +50
    round_trip(seoul(2025, 9, 7, 10, 0), seoul(2025, 9, 7, 23, 59, 59), sell_funds="9960")  # Sunday, -50
    (week,) = trade_selectors.profit_by_period("week")
    assert week.start.isoformat() == "2025-09-01"
    assert (week.stats.trades, week.stats.wins, week.stats.profit) == (3, 2, D("100"))
    assert week.stats.win_rate == D(2) / D(3)
    assert len(trade_selectors.profit_by_period("day", limit=2)) == 2
    with pytest.raises(ValueError, match="period"):
        trade_selectors.profit_by_period("year")


def test_cumulative_profit_starts_at_zero_and_steps_at_each_exit():
    round_trip(seoul(2025, 9, 1, 10, 0), seoul(2025, 9, 1, 11, 0), sell_funds="10110")
    round_trip(seoul(2025, 9, 2, 10, 0), seoul(2025, 9, 2, 11, 0), sell_funds="9810")
    assert trade_selectors.cumulative_profit() == [
        (seoul(2025, 9, 1, 10, 0), D("0")),
        (seoul(2025, 9, 1, 11, 0), D("100")),
        (seoul(2025, 9, 2, 11, 0), D("-100")),
    ]
    stats = trade_selectors.performance_overview()
    assert stats.max_drawdown == D("200")
    assert stats.profit_factor == D("0.5")


def test_the_cumulative_series_is_thinned_to_its_budget_keeping_both_ends():
    start = seoul(2025, 9, 1, 0, 0)
    trips = [
        RoundTrip(
            entry_at=start + timedelta(hours=n),
            entry_reason="strategy",
            profit=D(1),
            exit_at=start + timedelta(hours=n, minutes=30),
        )
        for n in range(1000)
    ]
    points = trade_selectors._cumulative(trips, 300)
    assert len(points) == 300
    assert points[0] == (start, D(0))
    assert points[-1] == (start + timedelta(hours=999, minutes=30), D(1000))
    assert [total for _, total in points] == sorted(total for _, total in points)


def test_a_newest_fill_rolled_back_and_replaced_is_noticed():
    round_trip(seoul(2025, 9, 1, 10, 0), seoul(2025, 9, 1, 11, 0), sell_funds="10110")
    assert trade_selectors.trades_page(page=1, page_size=10).trades[0].profit == D("100")
    newest = Fill.objects.order_by("-id").first()
    Fill.objects.filter(pk=newest.pk).delete()
    assert trade_selectors.position_current() is not None  # the sell is gone: the position is open again
    assert trade_selectors.trades_page(page=1, page_size=10).total == 0


def test_only_the_current_accounts_fills_make_its_trips():
    round_trip(seoul(2025, 9, 1, 10, 0), seoul(2025, 9, 1, 11, 0), sell_funds="10110")
    round_trip(seoul(2025, 9, 1, 12, 0), seoul(2025, 9, 1, 13, 0), sell_funds="20000", mode=Mode.LIVE)
    round_trip(seoul(2025, 9, 1, 14, 0), seoul(2025, 9, 1, 15, 0), sell_funds="30000", market="KRW-ETH")
    page = trade_selectors.trades_page(page=1, page_size=10)
    assert page.total == 1
    assert page.trades[0].profit == D("100")


def test_new_fills_are_picked_up_and_pages_are_newest_first():
    for day in range(1, 6):
        round_trip(seoul(2025, 9, day, 10, 0), seoul(2025, 9, day, 11, 0), sell_funds=str(10000 + day * 10))
    first = trade_selectors.trades_page(page=1, page_size=2)
    assert (first.total, first.pages, first.has_next) == (5, 3, True)
    assert [trip.closed_at.astimezone(SEOUL).day for trip in first.trades] == [5, 4]
    last = trade_selectors.trades_page(page=3, page_size=2)
    assert [trip.closed_at.astimezone(SEOUL).day for trip in last.trades] == [1]
    assert last.has_next is False
    assert trade_selectors.trades_page(page=4, page_size=2).trades == []
    round_trip(seoul(2025, 9, 6, 10, 0), seoul(2025, 9, 6, 11, 0), sell_funds="10100")
    assert trade_selectors.trades_page(page=1, page_size=2).trades[0].closed_at == seoul(2025, 9, 6, 11, 0)
    # A fill reported late, dated before the others, is paired in its place.
    round_trip(seoul(2025, 8, 30, 10, 0), seoul(2025, 8, 30, 11, 0), sell_funds="10100")
    assert trade_selectors.trades_page(page=1, page_size=10).trades[-1].closed_at == seoul(2025, 8, 30, 11, 0)


def test_the_exit_reason_comes_from_the_signal_of_the_order_that_closed_the_trip():
    signal = SignalFactory(action="SELL", meta={"reason": "trailing_stop"})
    trade("buy", seoul(2025, 9, 1, 10, 0), volume="0.0001", funds="10000", fee="5", reason="manual (user:kim): buy 10,000 KRW")
    trade("sell", seoul(2025, 9, 1, 11, 0), volume="0.0001", funds="10100", fee="5", reason="protective exit", signal=signal)
    (trip,) = trade_selectors.trades_page(page=1, page_size=10).trades
    assert (trip.entry_reason, trip.exit_reason) == ("manual", "trailing_stop")


def test_the_open_position_is_valued_at_the_engines_price_net_of_the_sell_fee(settings):
    trade("buy", seoul(2025, 9, 1, 10, 0), volume="0.0001", funds="10000", fee="5")
    assert trade_selectors.position_current() is not None
    engine_heartbeat(last_price=D("100050000"), metrics={"sell_fee_rate": "0.001"})
    position = trade_selectors.position_current()
    assert position is not None
    assert position.entry_at == seoul(2025, 9, 1, 10, 0)
    assert (position.volume, position.cost, position.avg_entry_price) == (D("0.0001"), D("10005"), D("100000000"))
    assert position.fee_rate == D("0.001")
    # 10,005 at the last price, less 0.1% (10.005), less the 10,005 paid.
    assert position.unrealized == D("-10.005")
    assert position.unrealized_pct == D("-10.005") * 100 / D("10005")
    assert position.holding(seoul(2025, 9, 1, 12, 30)) == timedelta(hours=2, minutes=30)


def test_a_nonsense_fee_rate_in_the_engines_metrics_falls_back_to_upbits():
    state = engine_heartbeat(metrics={"sell_fee_rate": "banana"})
    assert trade_selectors.sell_fee_rate(state) == D("0.0005")
    state = engine_heartbeat(metrics={"sell_fee_rate": "2"})
    assert trade_selectors.sell_fee_rate(state) == D("0.0005")


def test_a_flat_account_has_no_open_position():
    round_trip(seoul(2025, 9, 1, 10, 0), seoul(2025, 9, 1, 11, 0), sell_funds="10110")
    assert trade_selectors.position_current() is None
    assert "autocoin_position_unrealized_krw 0" in trade_selectors.position_metrics_text()


def test_the_trips_read_from_the_database_add_up_to_the_engines_realized_pnl_to_the_last_decimal():
    """The dashboard reads the fills its own way (fast on SQLite); every figure must equal the engine's ORM reads."""
    from trading.engine.pnl import fill_records, replay_fills

    trade("buy", seoul(2025, 9, 1, 10, 0), volume="0.00012345", funds="12345.67891234", fee="6.17283946")
    trade("buy", seoul(2025, 9, 1, 10, 5), volume="0.00000077", funds="77.12345678", fee="0.03856173")
    trade(
        "sell",
        seoul(2025, 9, 1, 11, 0),
        volume="0.00005",
        funds="5123.45678901",
        fee="2.5617284",
        reason="SELL by x: exit_signal",
    )
    trade("sell", seoul(2025, 9, 1, 12, 0), volume="0.00007422", funds="7700.00000001", fee="3.85", reason="SELL by x: stop_loss")
    engine = replay_fills(fill_records(market="KRW-BTC", account=trade_selectors.account_current()))
    (trip,) = trade_selectors.trades_page(page=1, page_size=10).trades
    assert trip.profit == sum(day.realized for day in engine.days.values())
    assert trip.buy_fees == D("6.17283946") + D("0.03856173")
    assert trip.sell_funds == D("5123.45678901") + D("7700.00000001")
    assert trip.entry_at == seoul(2025, 9, 1, 10, 0)


def test_the_trades_panel_changes_each_minute_only_while_a_trip_is_open(frozen_now):
    round_trip(seoul(2025, 9, 1, 10, 0), seoul(2025, 9, 1, 11, 0), sell_funds="10110")
    frozen_now.now = seoul(2025, 9, 2, 9, 33, 59)
    trade_selectors.trades_panel_context(None)  # the dashboard renders the panel before it polls it
    before = trade_selectors.trades_panel_version(None)
    frozen_now.advance(seconds=1)
    assert trade_selectors.trades_panel_version(None) == before  # flat: nothing shown depends on the clock

    trade("buy", seoul(2025, 9, 2, 9, 0), volume="0.0001", funds="10000", fee="5")
    trade_selectors.trades_panel_context(None)
    before = trade_selectors.trades_panel_version(None)
    frozen_now.advance(seconds=60)
    assert trade_selectors.trades_panel_version(None) != before  # the open trip's holding time moved on a minute
