"""Pairing fills into round trips (trading/round_trips.py): partial fills and exits, fees, several trips, an open
one, dust, and the figures over closed trips, each checked against values computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.engine.pnl import Book, FillRecord
from trading.round_trips import TradeFill, mark_to_market, pair_round_trips, reason_code, trip_stats

T0 = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)
D = Decimal


def fill(n: int, side: str, volume: str, funds: str, fee: str, reason: str = "strategy") -> TradeFill:
    vol, money = D(volume), D(funds)
    return TradeFill(
        id=n,
        ts=T0 + timedelta(minutes=n),
        side=side,
        price=money / vol,
        volume=vol,
        funds=money,
        fee=D(fee),
        reason=reason,
    )


def three_trips_and_an_open_one() -> list[TradeFill]:
    return [
        # Trip 1: bought in two partial fills, sold in two halves (one up, one down).
        fill(1, "buy", "0.0004", "40000", "20"),
        fill(2, "buy", "0.0006", "60000", "30"),
        fill(3, "sell", "0.0005", "55000", "27.5"),
        fill(4, "sell", "0.0005", "45000", "22.5", "stop_loss"),
        # Trip 2: a take-profit.
        fill(5, "buy", "0.0002", "10000", "5", "manual"),
        fill(6, "sell", "0.0002", "11000", "5.5", "take_profit"),
        # Trip 3: a stop-loss.
        fill(7, "buy", "0.0002", "10000", "5"),
        fill(8, "sell", "0.0002", "9000", "4.5", "stop_loss"),
        # Still open.
        fill(9, "buy", "0.0001", "6000", "3"),
    ]


def test_partial_fills_and_partial_exits_make_one_trip_whose_profit_is_net_of_both_sides_fees():
    book = pair_round_trips(three_trips_and_an_open_one())
    first = book.closed[0]
    assert first.entry_at == T0 + timedelta(minutes=1)
    assert first.exit_at == T0 + timedelta(minutes=4)
    assert first.buy_volume == D("0.001")
    assert first.sell_volume == D("0.001")
    assert first.avg_entry_price == D("100000000")
    assert first.avg_exit_price == D("100000000")
    assert (first.buy_fees, first.sell_fees, first.fees) == (D("50"), D("50"), D("100"))
    # Half sold at +10%: 54,972.5 - 50,025 = 4,947.5; the other half at -10%: 44,977.5 - 50,025 = -5,047.5.
    assert first.profit == D("-100")
    assert first.entry_cost == D("100050")
    assert first.profit_pct.quantize(D("0.00001")) == D("-0.09995")  # -100 / 100,050 × 100
    assert (first.entry_reason, first.exit_reason) == ("strategy", "stop_loss")
    assert first.holding(T0) == timedelta(minutes=3)
    assert first.fill_ids == [1, 2, 3, 4]


def test_several_trips_close_in_order_and_the_last_stays_open():
    book = pair_round_trips(three_trips_and_an_open_one())
    assert [trip.profit for trip in book.closed] == [D("-100"), D("989.5"), D("-1009.5")]
    assert [(trip.entry_reason, trip.exit_reason) for trip in book.closed][1:] == [
        ("manual", "take_profit"),
        ("strategy", "stop_loss"),
    ]
    assert book.open is not None
    assert book.open.exit_at is None
    assert book.open.avg_exit_price is None
    assert (book.volume, book.cost) == (D("0.0001"), D("6003"))
    assert book.open.holding(T0 + timedelta(minutes=19)) == timedelta(minutes=10)


def test_every_trips_profit_adds_up_to_the_engines_realized_pnl():
    fills = three_trips_and_an_open_one()
    engine = Book()
    for f in fills:
        engine.apply(FillRecord(id=f.id, ts=f.ts, side=f.side, volume=f.volume, funds=f.funds, fee=f.fee))  # type: ignore[arg-type]
    trips = pair_round_trips(fills)
    assert sum(trip.profit for trip in trips.closed) == sum(day.realized for day in engine.days.values())
    assert (trips.volume, trips.cost) == (engine.volume, engine.cost)


def test_unrealized_profit_is_net_of_the_sell_fee_and_the_buy_fee():
    book = pair_round_trips(three_trips_and_an_open_one())
    # 0.0001 at 61,000,000 = 6,100, less the 0.05% a sell pays (3.05), less 6,000 + 3 paid: 93.95.
    assert mark_to_market(book.volume, book.cost, D("61000000")) == D("93.95")
    # At the entry price the position is down both fees.
    assert mark_to_market(book.volume, book.cost, D("60000000")) == D("-6")
    assert mark_to_market(D("0"), D("0"), D("60000000")) == 0


def test_a_dust_remainder_closes_the_trip_and_its_cost_carries_into_the_next():
    book = pair_round_trips(
        [
            fill(1, "buy", "0.001", "100000", "50"),
            # 0.00001 left, worth 1,000 KRW: less than the 5,000 KRW minimum order.
            fill(2, "sell", "0.00099", "99000", "49.5"),
            fill(3, "buy", "0.0001", "10000", "5"),
        ]
    )
    closed = book.closed[0]
    assert closed.exit_at == T0 + timedelta(minutes=2)
    assert closed.profit == D("98950.5") - D("100050") * D("0.99")
    assert book.open is not None
    assert book.open.carried_volume == D("0.00001")
    assert book.open.entry_cost == D("1000.5") + D("10005")
    assert book.volume == D("0.00011")


def test_a_sell_of_coins_autocoin_never_bought_makes_no_trip():
    book = pair_round_trips([fill(1, "sell", "0.001", "100000", "50", "manual")])
    assert book.closed == []
    assert book.open is None


def test_a_sell_larger_than_the_position_counts_only_the_part_the_fills_account_for():
    book = pair_round_trips([fill(1, "buy", "0.001", "100000", "50"), fill(2, "sell", "0.002", "220000", "110")])
    trip = book.closed[0]
    assert trip.sell_volume == D("0.001")
    assert trip.sell_funds == D("110000")
    assert trip.profit == D("110000") - D("55") - D("100050")


@pytest.mark.parametrize(
    ("reason", "signal_reason", "expected"),
    [
        ("BUY by macd: entry", None, "strategy"),
        ("SELL by macd: exit_signal", None, "strategy"),
        ("SELL by macd: stop_loss", None, "stop_loss"),
        ("SELL by sma_cross: trailing_stop", None, "trailing_stop"),
        ("SELL by breakout: take_profit", None, "take_profit"),
        ("SELL by macd: atr_stop", None, "atr_stop"),
        ("SELL by macd: day_end", None, "strategy"),
        ("strategy BUY", None, "strategy"),
        ("something else", "trailing_stop", "trailing_stop"),
        ("manual (user:kim): buy 10,000 KRW", None, "manual"),
        ("manual (api-token): sell everything", "stop_loss", "manual"),
        ("kill-switch: flatten", None, "kill_switch"),
        ("", None, "unknown"),
    ],
)
def test_the_reason_code_of_an_order(reason, signal_reason, expected):
    assert reason_code(reason, signal_reason) == expected


def test_win_rate_profit_factor_and_drawdown_by_hand():
    stats = trip_stats(pair_round_trips(three_trips_and_an_open_one()).closed)
    assert (stats.trades, stats.wins, stats.losses) == (3, 1, 2)
    assert stats.win_rate == D(1) / D(3)
    assert stats.profit == D("-120")
    assert (stats.gross_profit, stats.gross_loss) == (D("989.5"), D("1109.5"))
    assert stats.profit_factor == D("989.5") / D("1109.5")
    # Cumulative: -100 (100 below the starting 0), 889.5 (the peak), -120: 1,009.5 below the peak.
    assert stats.max_drawdown == D("1009.5")
    assert stats.fees == D("100") + D("10.5") + D("9.5")


def test_no_trips_and_no_losses_leave_the_ratios_undefined():
    empty = trip_stats([])
    assert empty.win_rate is None
    assert empty.profit_factor is None
    assert empty.max_drawdown == 0
    won = pair_round_trips([fill(1, "buy", "0.001", "100000", "50"), fill(2, "sell", "0.001", "110000", "55")])
    winners = trip_stats(won.closed)
    assert winners.win_rate == 1
    assert winners.profit_factor is None
