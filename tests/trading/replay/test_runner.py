"""The replay runs the real engine over a hand-made candle series and reads its trades back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from exchange.models import PaperBalance, PaperOrder, PaperTrade
from exchange.paper import PaperExchange
from exchange.types import OrderRequest
from trading.models import EngineState, Fill, Order
from trading.replay.market import ReplayMarket
from trading.replay.runner import ReplayConfig, ReplayError, replay_run
from trading.strategies.indicators import CandleArrays
from trading.strategies.market_model import path_offsets

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = 3600
M = 1_000_000
# Hourly closes: flat, a cross above at candle 3 (fast SMA 1 > slow SMA 2), a cross below at candle 5.
CLOSES = [100 * M, 100 * M, 100 * M, 110 * M, 120 * M, 90 * M, 85 * M, 80 * M]


def _arrays() -> CandleArrays:
    opens = [CLOSES[0], *CLOSES[:-1]]
    return CandleArrays.from_columns(
        start=[int(T0.timestamp()) + i * HOUR for i in range(len(CLOSES))],
        open=opens,
        high=[max(o, c) + M for o, c in zip(opens, CLOSES, strict=True)],
        low=[min(o, c) - M for o, c in zip(opens, CLOSES, strict=True)],
        close=CLOSES,
        volume=[1.0] * len(CLOSES),
        unit_sec=HOUR,
    )


def _config(**overrides) -> ReplayConfig:
    values = {
        "market": "KRW-BTC",
        "unit": 60,
        "strategy": "sma_cross",
        "params": {"fast": 1, "slow": 2, "candle_unit": 60},
        "start": T0,
        "end": T0 + timedelta(hours=len(CLOSES)),
        "initial_krw": Decimal("1000000"),
        "fees": True,
        "limits": False,
        "arrays": _arrays(),
        **overrides,
    }
    return ReplayConfig(**values)


def test_the_engine_buys_after_the_cross_above_and_sells_after_the_cross_below():
    result = replay_run(_config())

    assert result.cycles == 4 * len(CLOSES)
    margin = timedelta(seconds=path_offsets(HOUR)[0])
    buy, sell = result.trades
    # Decided on the closed candle, at the first cycle of the next one: its open point, priced at its open.
    assert (buy.side, buy.reason, buy.ts, buy.price) == ("buy", "entry", T0 + timedelta(hours=4) + margin, 110 * M)
    assert (sell.side, sell.reason, sell.ts, sell.price) == ("sell", "exit_signal", T0 + timedelta(hours=6) + margin, 90 * M)
    assert (buy.index, sell.index) == (4, 6)
    assert buy.total == Decimal("999500.00000000")  # all in, the 0.05% fee reserved on top
    assert sell.volume == buy.volume
    assert buy.fee == (buy.funds * Decimal("0.0005")).quantize(Decimal("0.00000001"))
    assert sell.realized_pnl == sell.funds - sell.fee - (buy.funds + buy.fee)
    assert result.round_trip_pnls == [sell.realized_pnl]
    assert result.final_coin == 0
    assert result.final_krw == sell.krw_after
    assert PaperBalance.objects.get(currency="KRW").balance == result.final_krw  # the ledger agrees with the fills
    assert result.final_equity == result.final_krw
    assert result.equity[-1] == pytest.approx(float(result.final_krw))
    assert result.metrics.orders == 2
    assert result.metrics.round_trips == 1
    # The rows the engine wrote carry the simulated time, and the engine is left IDLE.
    assert list(Fill.objects.order_by("ts").values_list("ts", flat=True)) == [buy.ts, sell.ts]
    assert list(Order.objects.order_by("ts").values_list("ts", flat=True)) == [buy.ts, sell.ts]
    assert EngineState.load().state == EngineState.State.IDLE
    # Nothing of the simulated world stays behind.
    assert timezone.now() > datetime(2025, 1, 1, tzinfo=UTC)
    assert settings.STRATEGY != "sma_cross" or result.limits.max_order_krw != settings.MAX_ORDER_KRW


def test_without_fees_nothing_is_charged():
    result = replay_run(_config(fees=False))
    assert [trade.fee for trade in result.trades] == [0, 0]
    assert result.fees == 0


def test_a_database_with_orders_is_refused():
    replay_run(_config())
    with pytest.raises(ReplayError, match="already holds orders"):
        replay_run(_config())


def test_the_paper_exchange_stamps_orders_and_trades_with_its_clock():
    market = ReplayMarket(_arrays(), market="KRW-BTC")
    market.advance_to(3, 2)
    paper = PaperExchange(market, initial_krw=Decimal("1000000"), clock=market.now)
    info = paper.place_order(OrderRequest("KRW-BTC", "buy", "price", "t-1", Decimal("10000")))
    assert info.created_at == market.now()
    assert [trade.created_at for trade in info.trades] == [market.now()]
    assert PaperOrder.objects.get().finished_at == market.now()
    assert PaperTrade.objects.get().created_at == market.now()


def test_a_tripped_kill_switch_is_reset_at_once_and_the_exit_still_happens():
    result = replay_run(_config(limits=True, limit_overrides={"max_daily_loss_krw": Decimal("1"), "cooldown_sec": 0}))

    (trip,) = result.kill_switches
    assert trip.rule == "daily_loss"
    buy, sell = result.trades
    assert trip.ts >= buy.ts
    assert (sell.side, sell.reason) == ("sell", "exit_signal")
    assert EngineState.load().kill_switch is False
