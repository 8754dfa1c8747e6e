"""The backtest's shortcuts change nothing: on real candles, the fast walk makes the trades the plain walk makes,
to the won, for every strategy and a spread of parameters and limits; and a run on candles in memory is the
command's run without the report."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from trading.backtest.engine import BacktestConfig, BacktestError, BacktestResult, backtest_limits, run_backtest, run_on_candles
from trading.backtest.services import backtest_run_create
from trading.candle_files import candles_import
from trading.candles import candle_arrays
from trading.strategies.registry import validate_params

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOURS = FIXTURES / "upbit-krw-btc-60m-excerpt.csv"
MINUTES = FIXTURES / "upbit-krw-btc-1m-excerpt.csv"
WIDE = (datetime(2018, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
TIGHT_LOSS = {"max_daily_loss_krw": Decimal("300")}
SMALL_ORDERS = {"max_order_krw": Decimal("6000"), "cooldown_sec": 0}
# Local midnight inside an hourly candle (UTC+05:45), and a zone with daylight saving time.
KATHMANDU = {**TIGHT_LOSS, "time_zone": "Asia/Kathmandu"}
NEW_YORK = {**TIGHT_LOSS, "time_zone": "America/New_York"}


@pytest.fixture
def candles():
    """Both real fixtures: four months of hours (the December 2024 flash crash) and five hours of 2018 minutes."""
    candles_import(path=HOURS, market="KRW-BTC")
    candles_import(path=MINUTES, market="KRW-BTC")
    hours = candle_arrays(market="KRW-BTC", unit=60, start=WIDE[0], end=WIDE[1])
    minutes = candle_arrays(market="KRW-BTC", unit=1, start=WIDE[0], end=WIDE[1])
    return {60: hours, 1: minutes}


def _key(result: BacktestResult) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    trades = [
        (t.index, t.ts, t.side, t.reason, t.price, t.volume, t.funds, t.fee, t.realized_pnl, t.krw_after, t.coin_after)
        for t in result.trades
    ]
    blocked = [(b.index, b.decided_at, b.side, b.reason, b.rule) for b in result.blocked]
    return trades, blocked


def _both(arrays, unit: int, strategy: str, params: dict, overrides: dict | None, limits: bool = True):
    config = BacktestConfig(
        market="KRW-BTC",
        unit=unit,
        strategy=strategy,
        params=validate_params(strategy, {**params, "candle_unit": unit}),
        start=WIDE[0],
        end=WIDE[1],
        initial_krw=Decimal("1000000"),
        limits=backtest_limits(fees=True, limits=limits, overrides=overrides),
        max_slippage_pct=Decimal("0.5"),
    )
    return run_backtest(config, arrays), run_backtest(config, arrays, exhaustive=True)


CASES = [
    # (unit, strategy, params, limit overrides)
    (60, "sma_cross", {"fast": 3, "slow": 8}, None),
    (60, "sma_cross", {"fast": 3, "slow": 8}, TIGHT_LOSS),
    (60, "macd", {"fast": 6, "slow": 13, "signal": 5}, SMALL_ORDERS),
    (60, "macd", {"fast": 6, "slow": 13, "signal": 5, "stop_loss_pct": "1", "take_profit_pct": "2"}, TIGHT_LOSS),
    (60, "macd", {"trailing_stop_pct": "1.5", "atr_stop_mult": "2", "atr_trailing": 1}, None),
    (60, "momentum", {"rsi_period": 7, "oversold": "35", "overbought": "60"}, None),
    (60, "momentum", {"rsi_period": 7, "oversold": "35", "overbought": "60", "max_volatility_pct": "1.2"}, TIGHT_LOSS),
    (60, "sma_cross", {"fast": 3, "slow": 8}, KATHMANDU),
    (60, "macd", {"fast": 6, "slow": 13, "signal": 5}, NEW_YORK),
    (60, "momentum", {"rsi_period": 7, "oversold": "35", "overbought": "60"}, KATHMANDU),
    (60, "volatility_breakout", {"k": "0.4"}, None),
    (60, "volatility_breakout", {"k": "0.3", "trailing_stop_pct": "1"}, SMALL_ORDERS),
    (1, "sma_cross", {"fast": 2, "slow": 5}, SMALL_ORDERS),
    (1, "macd", {"fast": 3, "slow": 7, "signal": 3}, SMALL_ORDERS),
    (1, "macd", {"fast": 3, "slow": 7, "signal": 3, "stop_loss_pct": "0.2", "trailing_stop_pct": "0.3"}, SMALL_ORDERS),
    (1, "momentum", {"rsi_period": 5, "oversold": "40", "overbought": "60"}, {**SMALL_ORDERS, **TIGHT_LOSS}),
]


@pytest.mark.parametrize(("unit", "strategy", "params", "overrides"), CASES)
def test_the_fast_walk_makes_the_plain_walks_trades_to_the_won(candles, unit, strategy, params, overrides):
    quick, plain = _both(candles[unit], unit, strategy, params, overrides)

    assert quick.trades, "a case without trades proves nothing"
    assert _key(quick) == _key(plain)
    assert quick.final_equity == plain.final_equity
    assert np.array_equal(quick.equity, plain.equity)


def test_the_fast_walk_holds_with_every_limit_lifted_too(candles):
    quick, plain = _both(candles[60], 60, "macd", {"fast": 6, "slow": 13, "signal": 5}, None, limits=False)

    assert len(quick.trades) > 10
    assert _key(quick) == _key(plain)


def test_a_tight_daily_loss_limit_is_reached_in_the_cases_that_set_it(candles):
    quick, plain = _both(candles[60], 60, "sma_cross", {"fast": 3, "slow": 8}, TIGHT_LOSS)

    assert "daily_loss" in quick.blocked_by_rule
    assert quick.blocked_by_rule == plain.blocked_by_rule


# --- the in-memory entry point -------------------------------------------------------------------------
def test_a_run_on_candles_in_memory_is_the_commands_run_without_the_report(tmp_path):
    candles_import(path=HOURS, market="KRW-BTC")
    arrays = candle_arrays(market="KRW-BTC", unit=60, start=WIDE[0], end=WIDE[1])
    start = datetime.fromtimestamp(int(arrays.start[0]), tz=UTC)
    end = datetime.fromtimestamp(int(arrays.start[-1]) + 3600, tz=UTC)
    params = {"fast": 6, "slow": 13, "signal": 5, "stop_loss_pct": "1"}

    outcome = backtest_run_create(
        market="KRW-BTC",
        unit=60,
        strategy="macd",
        params=params,
        start=start,
        end=end,
        initial_krw=Decimal("1000000"),
        out_dir=tmp_path,
    )
    in_memory = run_on_candles(arrays, strategy="macd", params=params)

    assert in_memory.trades
    assert _key(in_memory) == _key(outcome.result)
    assert in_memory.metrics.as_dict() == outcome.result.metrics.as_dict()
    assert in_memory.final_equity == outcome.result.final_equity


def test_a_run_on_candles_in_memory_refuses_no_candles_and_bad_parameters_in_one_line():
    arrays = candle_arrays(market="KRW-BTC", unit=60, start=WIDE[0], end=WIDE[1])
    with pytest.raises(BacktestError, match="no candles"):
        run_on_candles(arrays, strategy="macd")

    candles_import(path=HOURS, market="KRW-BTC")
    arrays = candle_arrays(market="KRW-BTC", unit=60, start=WIDE[0], end=WIDE[1])
    with pytest.raises(BacktestError, match="fast"):
        run_on_candles(arrays, strategy="macd", params={"fast": 30, "slow": 10})
    with pytest.raises(BacktestError, match="unknown parameter"):
        run_on_candles(arrays, strategy="macd", params={"speed": 3})
