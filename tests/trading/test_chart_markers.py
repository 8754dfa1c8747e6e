"""The candle chart's trades and exit levels: each kind of order as its own marker, the exits' price lines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.chart_data import START, epoch, price_path, store
from tests.factories import BalanceSnapshotFactory, OrderFactory, SignalFactory, StrategyConfigFactory
from trading.chart_selectors import ChartQuery, chart_cache_clear, chart_payload, marker_kind
from trading.models import DecisionState, EngineState, Signal
from trading.strategies.protective import ProtectiveRules
from trading.strategies.registry import get_strategy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _chart_settings(settings):
    settings.TRADING_MARKET = "KRW-BTC"
    settings.STRATEGY = "macd"
    settings.UPBIT_API_BASE = "https://api.upbit.com"
    settings.PAPER_MODE = True
    chart_cache_clear()


def _order(minute: int, side: str, reason: str, signal: Signal | None = None, **fields):
    return OrderFactory(
        side=side,
        reason=reason,
        signal=signal,
        executed_volume=Decimal("0.001"),
        executed_funds=Decimal("100000"),
        **fields,
        ts=START + timedelta(minutes=minute, seconds=25),
    )


def test_every_kind_of_trade_gets_its_own_marker_with_its_reason():
    store(price_path(120))
    entry_signal = SignalFactory(source="macd", explanation="MACD line crossed above its signal", meta={"reason": "entry"})
    exit_signal = SignalFactory(
        source="macd", action="SELL", explanation="MACD line crossed below", meta={"reason": "exit_signal"}
    )
    stop_signal = SignalFactory(source="macd", action="SELL", explanation="SELL (stop-loss 2%)", meta={"reason": "stop_loss"})
    manual_signal = SignalFactory(source=Signal.MANUAL_SOURCE, explanation="manual buy")
    entry = _order(10, "buy", "BUY by macd: entry", entry_signal)
    exit_ = _order(20, "sell", "SELL by macd: exit_signal", exit_signal)
    stop = _order(30, "sell", "SELL by macd: stop_loss", stop_signal)
    manual = _order(40, "buy", "manual (user:alice): buy 10,000 KRW", manual_signal)
    trailing = _order(50, "sell", "SELL by macd: trailing_stop")  # its signal row was pruned
    kill = _order(60, "sell", "kill-switch: close the position")

    markers = {m["id"]: m for m in chart_payload(query=ChartQuery())["markers"]}

    assert {key: markers[key]["kind"] for key in markers} == {
        entry.id: "entry",
        exit_.id: "exit",
        stop.id: "protective",
        manual.id: "manual",
        trailing.id: "protective",
        kill.id: "protective",
    }
    assert markers[entry.id]["time"] == epoch(START + timedelta(minutes=10))  # on its candle's start
    assert markers[entry.id]["explanation"] == "MACD line crossed above its signal"
    assert markers[stop.id]["reason"] == "SELL by macd: stop_loss"
    assert markers[entry.id]["price"] == 100000 / 0.001  # the average fill price
    assert markers[exit_.id]["side"] == "sell"


def test_orders_that_did_not_trade_or_belong_elsewhere_are_not_marked():
    store(price_path(60))
    _order(5, "buy", "BUY by macd: entry")
    OrderFactory(ts=START + timedelta(minutes=5), status="REJECTED", executed_volume=Decimal("0"), executed_funds=Decimal("0"))
    OrderFactory(ts=START + timedelta(minutes=6), executed_volume=Decimal("0"), executed_funds=Decimal("0"), status="CANCEL")
    OrderFactory(ts=START + timedelta(minutes=7), mode="live", executed_volume=Decimal("0.001"))  # the live account's
    OrderFactory(ts=START + timedelta(minutes=8), market="KRW-ETH", executed_volume=Decimal("0.001"))
    OrderFactory(ts=START + timedelta(minutes=90), executed_volume=Decimal("0.001"))  # after the newest stored candle

    markers = chart_payload(query=ChartQuery())["markers"]

    assert [m["time"] for m in markers] == [epoch(START + timedelta(minutes=5))]


def test_markers_follow_their_page_when_scrolling_back():
    store(price_path(300))
    old = _order(20, "buy", "BUY by macd: entry")
    new = _order(250, "sell", "SELL by macd: exit_signal")
    newest = chart_payload(query=ChartQuery(limit=100))
    older = chart_payload(query=ChartQuery(before=newest["candles"]["time"][0], limit=200))
    assert [m["id"] for m in newest["markers"]] == [new.id]
    assert [m["id"] for m in older["markers"]] == [old.id]


@pytest.mark.parametrize(
    ("side", "reason", "source", "signal_reason", "kind"),
    [
        ("buy", "BUY by sma_cross: entry", "sma_cross", "entry", "entry"),
        ("sell", "SELL by volatility_breakout: day_end", "volatility_breakout", "day_end", "exit"),
        ("sell", "SELL by macd: take_profit", "macd", None, "protective"),
        ("sell", "SELL by macd: atr_stop", None, None, "protective"),
        ("sell", "manual (user:bob): sell everything", Signal.MANUAL_SOURCE, None, "manual"),
        ("buy", "", None, None, "entry"),
    ],
)
def test_marker_kind(side, reason, source, signal_reason, kind):
    assert marker_kind(side=side, reason=reason, signal_source=source, signal_reason=signal_reason) == kind


def test_open_position_shows_the_exit_levels_the_engine_checks():
    store(price_path(60))
    StrategyConfigFactory(strategy="macd", params={"stop_loss_pct": "2", "take_profit_pct": "5", "trailing_stop_pct": "3"})
    BalanceSnapshotFactory(coin_volume=Decimal("0.01"), avg_buy_price=Decimal("100000000"))
    DecisionState.objects.create(market="KRW-BTC", mode="paper", account="paper", peak_price=Decimal("104000000"))
    EngineState.load()
    EngineState.objects.filter(pk=1).update(last_price=Decimal("103000000"))

    levels = {level["kind"]: level["price"] for level in chart_payload(query=ChartQuery())["levels"]}

    assert levels == pytest.approx(
        {"average": 100_000_000, "stop_loss": 98_000_000, "take_profit": 105_000_000, "trailing_stop": 104_000_000 * 0.97}
    )
    # Each line is where the engine's own check fires.
    rules = ProtectiveRules.from_params(
        get_strategy("macd").validate({"stop_loss_pct": "2", "take_profit_pct": "5", "trailing_stop_pct": "3"})
    )
    for kind, price in levels.items():
        if kind != "average":
            fired = rules.check(avg_buy_price=100_000_000, peak=104_000_000, price=price)
            assert fired is not None


def test_no_levels_without_a_position():
    store(price_path(60))
    StrategyConfigFactory(strategy="macd", params={"stop_loss_pct": "2"})
    BalanceSnapshotFactory(coin_volume=Decimal("0"), avg_buy_price=Decimal("0"))
    assert chart_payload(query=ChartQuery())["levels"] == []


def test_atr_stop_level_uses_the_atr_of_the_newest_candle():
    candles = price_path(200)
    store(candles)
    StrategyConfigFactory(strategy="macd", params={"atr_stop_mult": "2", "atr_period": 14})
    BalanceSnapshotFactory(coin_volume=Decimal("0.01"), avg_buy_price=Decimal("100000000"))
    from trading.strategies.indicators import CandleArrays, atr

    arrays = CandleArrays.from_candles(candles)
    expected = 100_000_000 - 2 * float(atr(arrays.high, arrays.low, arrays.close, 14)[-1])
    levels = {level["kind"]: level["price"] for level in chart_payload(query=ChartQuery())["levels"]}
    assert levels["atr_stop"] == pytest.approx(expected)
