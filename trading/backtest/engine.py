"""Replay stored candles through the live engine's own strategy, risk gate and paper fill rules.

Nothing here re-implements trading logic. Per candle the backtest calls exactly what the live engine
calls, with the numbers it would have had:

- the strategy: `Strategy.prepare(arrays, params)` once over all candles, then
  `Strategy.decide(prepared, i, position)` at every candle, on the candle's close;
- the risk gate: `trading.engine.risk.evaluate(OrderIntent.from_decision(decision), RiskContext(...))`,
  which sizes the order (fee-aware, MAX_ORDER_KRW, the position cap's room, Upbit's minimum) and applies
  the cooldown and the daily loss limit on the local (TIME_ZONE) trading day;
- the fill: `exchange.matching.validate_order` and `market_buy_fill` / `market_sell_fill`, the functions
  the paper exchange fills with, against a one-level book built from the *next* candle's open (ask
  rounded up and bid rounded down onto the tick grid, unlimited size): the decision is made on a closed
  candle, and the order reaches the market when the next one opens;
- realized PnL: `trading.engine.pnl.Book`, the book the live engine's daily PnL and loss limit use.

Speed: the loop touches Python objects only when something happens. Prices are float64 arrays for the
strategy; Decimal money (balances, fees, sizes) is computed only for the few candles with an order, and
the equity curve is rebuilt with numpy from the balance changes afterwards.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.backtest.account import BacktestAccount, decimal_price
from trading.backtest.metrics import Metrics, compute_metrics
from trading.backtest.records import BacktestConfig, BacktestError, BlockedOrder, TradeRecord, backtest_limits
from trading.backtest.walk import walk
from trading.strategies.base import InvalidParams, Strategy
from trading.strategies.indicators import CandleArrays
from trading.strategies.registry import get_strategy, validate_params

ZERO = Decimal("0")

__all__ = [
    "BacktestConfig",
    "BacktestError",
    "BacktestResult",
    "BlockedOrder",
    "TradeRecord",
    "backtest_limits",
    "run_backtest",
    "run_on_candles",
]


@dataclass
class BacktestResult:
    config: BacktestConfig
    arrays: CandleArrays
    equity: npt.NDArray[np.float64]
    in_position: npt.NDArray[np.bool_]
    trades: list[TradeRecord]
    blocked: list[BlockedOrder]
    round_trip_pnls: list[Decimal]
    metrics: Metrics
    final_krw: Decimal
    final_coin: Decimal
    final_equity: Decimal
    fees: Decimal
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def blocked_by_rule(self) -> dict[str, int]:
        return dict(Counter(block.rule for block in self.blocked))

    def entries(self) -> list[datetime]:
        return [trade.ts for trade in self.trades if trade.side == "buy"]

    def exits(self) -> list[datetime]:
        return [trade.ts for trade in self.trades if trade.side == "sell"]


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector during the replay: it allocates many short-lived objects (Decimals,
    checks, records) and creates no reference cycles, so the collector's frequent passes (about 5% of
    the replay) would find nothing. Memory is still freed by reference counting; the collector resumes
    (if it was on) when the replay ends, also on an error."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_backtest(
    config: BacktestConfig,
    arrays: CandleArrays,
    *,
    exhaustive: bool = False,
    progress: Callable[[float], None] | None = None,
) -> BacktestResult:
    """Replay `arrays` (oldest first) and return trades, blocked orders, the equity curve and the metrics.

    Each candle is walked through its open, low, high and close (market_model.py); at each point the same
    steps run as in an engine cycle: protective exits on the point's price, then — once per newly closed
    candle — the strategy's decision, the risk gate and a fill against the one-level book at that price.

    While flat with no decision pending, a strategy that uses the base class's `decide` can only act on a
    candle where its entry signal fires, so the loop goes straight to the next such candle. `exhaustive=True`
    walks every candle instead; both give the same trades (tests hold them to it). `progress` is called with the
    share of the candles walked (0..1), about every 2% of them."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    strategy = get_strategy(config.strategy)
    n = len(arrays)
    if n == 0:
        raise BacktestError("no candles to replay")
    prepared = strategy.prepare(arrays, config.params)
    timings["prepare"] = time.perf_counter() - started

    loop_started = time.perf_counter()
    with _cycle_collector_paused():
        run = BacktestAccount(config, arrays)
        walk(run, prepared, fast=not exhaustive and type(strategy).decide is Strategy.decide, progress=progress)
    timings["loop"] = time.perf_counter() - loop_started

    metrics_started = time.perf_counter()
    index = np.searchsorted(np.asarray(run.change_index), np.arange(n), side="right") - 1
    krw_curve = np.asarray(run.change_krw)[index]
    coin_curve = np.asarray(run.change_coin)[index]
    equity = krw_curve + coin_curve * arrays.close
    in_position = coin_curve * arrays.close >= float(config.limits.min_order_krw)
    last_price = decimal_price(arrays.close[-1])
    final_equity = run.krw + run.coin * last_price
    metrics = compute_metrics(
        initial_krw=float(config.initial_krw),
        start=arrays.start,
        unit_sec=arrays.unit_sec,
        equity=equity,
        in_position=in_position,
        round_trip_pnls=run.round_trip_pnls,
        orders=len(run.trades),
        fees=run.fees,
        close=arrays.close,
        tz=config.limits.time_zone,
    )
    timings["metrics"] = time.perf_counter() - metrics_started
    return BacktestResult(
        config=config,
        arrays=arrays,
        equity=equity,
        in_position=in_position,
        trades=run.trades,
        blocked=run.blocked,
        round_trip_pnls=run.round_trip_pnls,
        metrics=metrics,
        final_krw=run.krw,
        final_coin=run.coin,
        final_equity=final_equity,
        fees=run.fees,
        seconds=timings,
    )


def run_on_candles(
    arrays: CandleArrays,
    *,
    strategy: str,
    params: Mapping[str, Any] | None = None,
    market: str = "KRW-BTC",
    initial_krw: Decimal = Decimal("1000000"),
    fees: bool = True,
    limits: bool = True,
    limit_overrides: Mapping[str, Any] | None = None,
    max_slippage_pct: Decimal | None = None,
) -> BacktestResult:
    """A backtest on candles already in memory, with no report files and no row: for a caller that runs many
    (a parameter search loads the candles once and calls this per trial; `result.metrics` holds the figures).

    The same run as `backtest_run_create` on the same candles, parameters and limits gives (the unit is the
    candles' own, as `candle_unit`); `params` are validated here and the stored StrategyConfig is not read.
    `max_slippage_pct` None uses MAX_SLIPPAGE_PCT, as the command does. Raises BacktestError for parameters,
    limits or candles that cannot run."""
    from django.conf import settings

    if len(arrays) == 0:
        raise BacktestError("no candles to replay")
    unit = arrays.unit_sec // 60
    try:
        clean = validate_params(strategy, {**dict(params or {}), "candle_unit": unit})
        risk_limits = backtest_limits(fees=fees, limits=limits, overrides=dict(limit_overrides or {}))
    except InvalidParams as error:
        raise BacktestError(str(error)) from None
    except (TypeError, ValueError) as error:
        raise BacktestError(f"bad limit: {error}") from None
    config = BacktestConfig(
        market=market,
        unit=unit,
        strategy=strategy,
        params=clean,
        start=datetime.fromtimestamp(int(arrays.start[0]), tz=UTC),
        end=datetime.fromtimestamp(int(arrays.start[-1]) + arrays.unit_sec, tz=UTC),
        initial_krw=initial_krw,
        limits=risk_limits,
        fees=fees,
        max_slippage_pct=max_slippage_pct if max_slippage_pct is not None else settings.MAX_SLIPPAGE_PCT or None,
    )
    return run_backtest(config, arrays)
