"""The replay: the live engine itself, run over stored candles at a simulated clock.

`replay_run` builds the very objects the `runengine` thread runs, a `TradingEngine` over a
`PaperExchange`, but the paper exchange reads its market from a `ReplayMarket` and both take their
time from its simulated clock. Every candle is visited at the four points of the shared market model
(open → low → high → close, `trading.strategies.market_model`), with one `run_cycle()` per point, so
the strategy, the exit rules, the risk gate, the order path, the paper fills, the PnL book and the
events are the engine's own. The trades are read back from the Fill and Order rows it wrote.

It runs in the current database, which must hold no orders yet (the `replay` command gives it a fresh
database of its own). For its length it sets the engine's settings (the strategy, the market, the risk
limits: `--no-limits` lifts them exactly as the backtest does), stores the strategy's parameters,
starts the paper account with the initial KRW and puts the engine in RUNNING.

The kill-switch: when the engine trips it (the daily loss limit, or too many rejected orders in a row)
the replay acts as an operator who presses Reset at once (`engine_reset`, then `engine_start`) and goes
on. Exits work again from the next cycle; entries stay blocked until local midnight by the risk gate,
which remembers the day the loss limit was hit. Each trip is kept in `ReplayResult.kill_switches`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.test import override_settings

from exchange.account import PAPER_ACCOUNT
from exchange.paper import PaperExchange
from exchange.rules import DEFAULT_FEE_RATE
from exchange.types import side_name
from trading import housekeeping, pause_services, services
from trading.backtest.engine import TradeRecord, backtest_limits
from trading.backtest.metrics import Metrics, compute_metrics
from trading.candles import candle_arrays
from trading.engine.cycle import TradingEngine
from trading.engine.pnl import Book, FillRecord
from trading.engine.risk import RiskLimits
from trading.models import EngineEvent, EngineState, Fill, Order
from trading.replay.clock import simulated_time
from trading.replay.market import ReplayMarket, decimal_price
from trading.strategies.indicators import CandleArrays

ZERO = Decimal("0")
ACTOR = "replay"
POINTS = 4


class ReplayError(ValueError):
    """A replay that cannot run as asked, or an engine that stopped with an error; one line for the person."""


@dataclass(frozen=True)
class ReplayConfig:
    market: str
    unit: int
    strategy: str
    params: dict[str, Any]
    """Validated strategy parameters (`trading.backtest.services.strategy_params`)."""
    start: datetime
    end: datetime
    initial_krw: Decimal
    fees: bool = True
    limits: bool = True
    limit_overrides: Mapping[str, Any] = field(default_factory=dict)
    arrays: CandleArrays | None = None
    """The candles to replay; None: the stored `market`/`unit` candles with start in [start, end)."""

    def risk_limits(self) -> RiskLimits:
        return backtest_limits(fees=self.fees, limits=self.limits, overrides=dict(self.limit_overrides))

    @property
    def fee_rate(self) -> Decimal:
        return DEFAULT_FEE_RATE if self.fees else ZERO


@dataclass(frozen=True, slots=True)
class RiskBlock:
    """An order the engine's risk gate refused (a `risk_blocked` event)."""

    ts: datetime
    side: str  # the blocked decision's action as the event recorded it
    source: str
    reason: str
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class KillSwitchTrip:
    ts: datetime
    rule: str
    """`daily_loss`, or empty for the other trips (rejected orders in a row)."""
    message: str


@dataclass
class ReplayResult:
    config: ReplayConfig
    arrays: CandleArrays
    limits: RiskLimits
    equity: npt.NDArray[np.float64]
    """Equity at each candle's close point (KRW + coin x close), from the paper balances."""
    in_position: npt.NDArray[np.bool_]
    trades: list[TradeRecord]
    blocked: list[RiskBlock]
    kill_switches: list[KillSwitchTrip]
    round_trip_pnls: list[Decimal]
    metrics: Metrics
    final_krw: Decimal
    final_coin: Decimal
    final_equity: Decimal
    fees: Decimal
    cycles: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def candles_per_second(self) -> float:
        loop = self.seconds.get("loop", 0.0)
        return len(self.arrays) / loop if loop > 0 else 0.0


Progress = Callable[[int, int], None]
"""Called with (candles done, candles in all) every few thousand cycles."""


def engine_settings(config: ReplayConfig, limits: RiskLimits) -> dict[str, Any]:
    """The settings the engine reads, as the replay runs it: paper mode, the market and strategy asked for,
    the limits (already lifted for --no-limits), no notifications."""
    return {
        "PAPER_MODE": True,
        "TRADING_MARKET": config.market,
        "STRATEGY": config.strategy,
        "MAX_ORDER_KRW": limits.max_order_krw,
        "MAX_DAILY_LOSS_KRW": limits.max_daily_loss_krw,
        "MAX_POSITION_RATIO": limits.max_position_ratio,
        "ORDER_COOLDOWN_SEC": limits.cooldown_sec,
        "DEBUG": False,
        "NOTIFY_WEBHOOK_URL": "",
        "TELEGRAM_BOT_TOKEN": "",
        "TELEGRAM_CHAT_ID": "",
    }


@contextmanager
def _kept_connection() -> Iterator[None]:
    """Keep the database connection open across cycles. The engine closes an obsolete connection at the
    start and end of every cycle (right for a long-lived thread); with CONN_MAX_AGE 0 that is a close and
    a reconnect per cycle, which on SQLite in WAL mode (a checkpoint at each close) was half of a replay.
    PostgreSQL's connections come from a pool (which refuses persistent ones): a close there is cheap."""
    if connection.vendor != "sqlite":
        yield
        return
    saved = connection.settings_dict.get("CONN_MAX_AGE", 0)
    connection.settings_dict["CONN_MAX_AGE"] = None
    connection.close_at = None
    try:
        yield
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = saved
        connection.close_at = None if saved is None else time.monotonic() + saved


@contextmanager
def _engine_world(config: ReplayConfig, limits: RiskLimits, market: ReplayMarket) -> Iterator[None]:
    with override_settings(**engine_settings(config, limits)), simulated_time(market.now), _kept_connection():
        yield


def _prepare_database(config: ReplayConfig) -> None:
    if Order.objects.exists():
        raise ReplayError("the database already holds orders; a replay needs one without (the replay command makes a fresh one)")
    from exchange.models import PaperAccount

    state = EngineState.load()
    if state.state == EngineState.State.ERROR:
        services.engine_reset(actor=ACTOR, reason="replay starts")
    elif state.state != EngineState.State.IDLE:
        raise ReplayError(f"the engine is {state.state} in this database; a replay needs it IDLE")
    if PaperAccount.objects.exists():
        housekeeping.paper_account_reset(actor=ACTOR, initial_krw=config.initial_krw)
    services.decision_state_clear(market=config.market, account=PAPER_ACCOUNT)
    # A person's pause belongs to the live engine; pause windows stored in this database do apply (by the
    # simulated clock), as they would to the engine (docs/ENGINE.md, "Pausing new entries").
    pause_services.entries_resume(actor=ACTOR, reason="replay starts")
    services.strategy_config_update(strategy=config.strategy, params=config.params, actor=ACTOR)
    services.engine_start(actor=ACTOR, reason="replay")


def _operator_reset(trips: list[KillSwitchTrip], moment: datetime) -> None:
    """The engine left RUNNING: Reset at once after a kill-switch (see the module docstring); stop on an error."""
    state = EngineState.load()
    if state.state == EngineState.State.RUNNING:
        return
    if not state.kill_switch:
        raise ReplayError(f"the engine stopped at {moment:%Y-%m-%d %H:%M:%S} UTC: {state.last_error or state.state_reason}")
    event = EngineEvent.objects.filter(kind=EngineEvent.Kind.KILL_SWITCH).order_by("-ts", "-id").first()
    rule = str((event.meta or {}).get("rule", "")) if event is not None else ""
    trips.append(KillSwitchTrip(ts=moment, rule=rule, message=state.kill_switch_reason))
    services.engine_reset(actor=ACTOR, reason="operator reset during a replay")
    services.engine_start(actor=ACTOR, reason="operator restart during a replay")


def replay_run(config: ReplayConfig, *, progress: Progress | None = None) -> ReplayResult:
    """Run the engine over the candles, one cycle per path point; see the module docstring."""
    timings: dict[str, float] = {}
    began = time.perf_counter()
    arrays = config.arrays
    if arrays is None:
        arrays = candle_arrays(market=config.market, unit=config.unit, start=config.start, end=config.end)
    n = len(arrays)
    if n == 0:
        raise ReplayError("no candles to replay")
    limits = config.risk_limits()
    market = ReplayMarket(arrays, market=config.market)
    timings["load"] = time.perf_counter() - began

    equity = np.zeros(n, dtype=np.float64)
    coin_curve = np.zeros(n, dtype=np.float64)
    trips: list[KillSwitchTrip] = []
    marks: dict[int, Decimal] = {}
    cycles = 0
    with _engine_world(config, limits, market):
        _prepare_database(config)
        paper = PaperExchange(market, initial_krw=config.initial_krw, fee_rate=config.fee_rate, clock=market.now)
        engine = TradingEngine(paper, market=config.market, clock=market.now, store_candles=False)
        krw_f, coin_f = float(config.initial_krw), 0.0
        loop_started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(n):
            changed = False
            for k in range(POINTS):
                market.advance_to(i, k)
                outcome = engine.run_cycle()
                cycles += 1
                if outcome.orders:
                    changed = True
                    for order in outcome.orders:
                        marks[order.pk] = market.price
                if outcome.stopped:
                    changed = True
                    _operator_reset(trips, market.moment)
            if changed:
                krw_f, coin_f = _balances(paper, config.market)
            coin_curve[i] = coin_f
            equity[i] = krw_f + coin_f * float(arrays.close[i])
            if progress is not None and (i + 1) % 1000 == 0:
                progress(i + 1, n)
        timings["loop"] = time.perf_counter() - loop_started
        timings["loop_cpu"] = time.process_time() - cpu_started
        services.engine_stop(actor=ACTOR, reason="replay finished")
        services.engine_stop_complete(actor=ACTOR, reason="replay finished")

        read_started = time.perf_counter()
        trades, round_trips, fees = _trades(config, market, marks)
        blocked = _risk_blocks()
        timings["read"] = time.perf_counter() - read_started

    final_krw = trades[-1].krw_after if trades else config.initial_krw
    final_coin = trades[-1].coin_after if trades else ZERO
    in_position = coin_curve * arrays.close >= float(limits.min_order_krw)
    metrics = compute_metrics(
        initial_krw=float(config.initial_krw),
        start=arrays.start,
        unit_sec=arrays.unit_sec,
        equity=equity,
        in_position=in_position,
        round_trip_pnls=round_trips,
        orders=len(trades),
        fees=fees,
        close=arrays.close,
        tz=limits.time_zone,
    )
    timings["total"] = time.perf_counter() - began
    return ReplayResult(
        config=config,
        arrays=arrays,
        limits=limits,
        equity=equity,
        in_position=in_position,
        trades=trades,
        blocked=blocked,
        kill_switches=trips,
        round_trip_pnls=round_trips,
        metrics=metrics,
        final_krw=final_krw,
        final_coin=final_coin,
        final_equity=final_krw + final_coin * decimal_price(arrays.close[-1]),
        fees=fees,
        cycles=cycles,
        seconds=timings,
    )


def _balances(paper: PaperExchange, market: str) -> tuple[float, float]:
    coin_currency = market.split("-", 1)[1]
    krw = coin = ZERO
    for balance in paper.get_accounts():
        if balance.currency == "KRW":
            krw = balance.total
        elif balance.currency == coin_currency:
            coin = balance.total
    return float(krw), float(coin)


def _trades(
    config: ReplayConfig, market: ReplayMarket, marks: dict[int, Decimal]
) -> tuple[list[TradeRecord], list[Decimal], Decimal]:
    """The engine's fills as the backtest's TradeRecords, with the balances after each and round-trip PnLs.

    Realized PnL comes from the engine's own PnL book (`trading.engine.pnl.Book`) applied to the fills in
    order; `reason` is the strategy's decision reason (entry, exit_signal, stop_loss …) from the order's signal."""
    book = Book()
    krw, coin = config.initial_krw, ZERO
    fees = trip = ZERO
    trades: list[TradeRecord] = []
    round_trips: list[Decimal] = []
    fills = Fill.objects.select_related("order", "order__signal").order_by("ts", "id")
    for fill in fills:
        order = fill.order
        signal = order.signal
        reason = str((signal.meta or {}).get("reason", "")) if signal is not None else ""
        realized = book.apply(FillRecord(fill.pk, fill.ts, side_name(order.side), fill.volume, fill.funds, fill.fee))
        if order.side == "buy":
            if coin <= 0:
                trip = ZERO
            krw -= fill.funds + fill.fee
            coin += fill.volume
        else:
            krw += fill.funds - fill.fee
            coin -= fill.volume
            trip += realized
        fees += fill.fee
        if coin <= 0 and order.side == "sell":
            round_trips.append(trip)
            trip = ZERO
        price_then = marks.get(order.pk, fill.price)
        trades.append(
            TradeRecord(
                index=max(0, market.index_at(fill.ts)),
                ts=fill.ts,
                side=side_name(order.side),
                reason=reason or order.reason,
                decided_at=signal.ts if signal is not None else order.ts,
                price=fill.price,
                volume=fill.volume,
                funds=fill.funds,
                fee=fill.fee,
                realized_pnl=realized,
                krw_after=krw,
                coin_after=coin,
                equity_after=krw + coin * price_then,
                total=order.price if order.side == "buy" else None,
            )
        )
    return trades, round_trips, fees


def _risk_blocks() -> list[RiskBlock]:
    rows = EngineEvent.objects.filter(kind=EngineEvent.Kind.RISK_BLOCKED).order_by("ts", "id").values_list("ts", "meta")
    blocks: list[RiskBlock] = []
    for ts, meta in rows:
        meta = meta or {}
        reasons = meta.get("reasons") or []
        blocks.append(
            RiskBlock(
                ts=ts,
                side=str(meta.get("action", "")),
                source=str(meta.get("source", "")),
                reason=str(meta.get("reason", "")),
                rule=str(meta.get("blocked_by") or "open_order"),
                message="; ".join(str(reason) for reason in reasons),
            )
        )
    return blocks
