"""The engine's side of the decision rules (docs/DECISIONS.md): what to decide this cycle, and what to remember.

- Protective exits are checked every cycle on the live trade price; the trailing peak is the highest
  live price since entry and is stored, so a restart keeps it.
- The strategy is asked once per newly closed candle (closed by the exchange's clock, with a margin);
  each closed candle is acted on at most once, also across restarts.
- After an exit, no entry is taken on a signal from the candle that triggered it (or an earlier one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from exchange.base import Exchange
from exchange.types import Candle
from trading import events, services
from trading.chart_candles import candle_source, engine_candles_store
from trading.engine.candles import MAX_CANDLES, CandleCache
from trading.engine.pnl import Holdings
from trading.models import DecisionState, Signal
from trading.strategies import registry
from trading.strategies.base import Decision, Position, Prepared, Strategy, atr_min_candles
from trading.strategies.indicators import CandleArrays
from trading.strategies.protective import ProtectiveExit, ProtectiveRules

INDICATOR_HISTORY = 2000
"""Closed candles a history-dependent indicator (an exponential or Wilder average) is computed over, at least:
enough that it no longer depends on where the history starts, so the engine and a backtest over a longer range
agree. Other strategies get the `min_candles` they ask for."""


@dataclass(frozen=True, slots=True)
class CandleDecision:
    """The strategy's decision on a newly closed candle."""

    decision: Decision
    candle_start: datetime


def floor_to_unit(moment: datetime, unit: int) -> datetime:
    """The start of the `unit`-minute candle that contains `moment` (UTC; day candles start at 00:00 UTC)."""
    seconds = unit * 60
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


class DecisionStep:
    """Per cycle: the strategy and its parameters, the closed candles, the protective check and the candle decision."""

    def __init__(
        self, exchange: Exchange, *, market: str, account: str, clock: Callable[[], datetime], store_candles: bool = True
    ) -> None:
        self.market = market
        self.account = account
        self.candles = CandleCache(exchange, market, clock)
        self._state: DecisionState | None = None
        self._params_seen: Any = None
        self._params: dict[str, Any] | None = None
        self._prepared: tuple[datetime, dict[str, Any], Prepared] | None = None
        self._capped_warned: tuple[str, int] | None = None
        self.unit = 1
        self.clock = clock
        self._last_hold: tuple[str, str] | None = None
        self._last_hold_at: datetime | None = None
        self.candle_source = candle_source() if store_candles else None
        self._stored_through: dict[int, datetime] = {}

    # --- memory ---------------------------------------------------------------------------------------
    @property
    def state(self) -> DecisionState:
        if self._state is None:
            self._state = services.decision_state_load(market=self.market, account=self.account)
        return self._state

    def remember(self, **fields: Any) -> None:
        changed = {name: value for name, value in fields.items() if getattr(self.state, name) != value}
        if changed:
            services.decision_state_save(state=self.state, fields=changed)

    # --- the strategy ---------------------------------------------------------------------------------
    def strategy(self, stored: dict[str, Any] | None) -> tuple[Strategy, dict[str, Any]]:
        """The configured strategy and its parameters, validated from the `stored` row (read with the cycle's inputs)."""
        strategy = registry.get_strategy(settings.STRATEGY)
        raw = stored or {}
        if raw == self._params_seen and self._params is not None:
            return strategy, self._params
        try:
            params = registry.validate_params(settings.STRATEGY, raw)
        except ValueError as error:
            # A bad stored row must not stop trading on the last good parameters; say so once.
            if self._params_seen != raw:
                events.engine_error(
                    message=f"Strategy parameters for {settings.STRATEGY} are invalid ({error}); using the defaults",
                    meta={"params": raw},
                    level=events.Level.WARNING,
                )
            params = registry.validate_params(settings.STRATEGY, {})
        self._params_seen, self._params = raw, params
        return strategy, params

    def closed_candles(self, strategy: Strategy, params: dict[str, Any], now: datetime) -> list[Candle]:
        """The closed candles the strategy needs, by the exchange's clock `now` (paged and cached: candles.py)."""
        self.unit = int(params.get("candle_unit") or strategy.default_candle_unit)
        need = max(2, int(strategy.min_candles(params, unit_sec=self.unit * 60)), atr_min_candles(params))
        wanted = max(need, INDICATOR_HISTORY) if strategy.history_dependent(params) and need <= MAX_CANDLES else need
        window = self.candles.closed(self.unit, wanted, now)
        if window.capped and self._capped_warned != (strategy.name, need):
            self._capped_warned = (strategy.name, need)
            events.engine_error(
                message=(
                    f"Strategy {strategy.name} needs {need:,} closed {self.unit}-minute candles but the engine reads at "
                    f"most {MAX_CANDLES:,}: it stays in warm-up (HOLD). Choose shorter periods or a longer candle_unit"
                ),
                meta={"strategy": strategy.name, "need": need, "max_candles": MAX_CANDLES, "candle_unit": self.unit},
                level=events.Level.WARNING,
            )
        self._store(window.candles)
        return window.candles

    def _store(self, candles: list[Candle]) -> None:
        """Store the closed candles not stored yet by this process, for the console's candle chart (chart_candles.py)."""
        through = self._stored_through.get(self.unit)
        if self.candle_source is None or not candles or (through is not None and candles[-1].start <= through):
            return
        fresh = candles if through is None else [candle for candle in candles if candle.start > through]
        engine_candles_store(source=self.candle_source, market=self.market, unit=self.unit, candles=fresh)
        self._stored_through[self.unit] = candles[-1].start

    def prepared(self, strategy: Strategy, params: dict[str, Any], candles: list[Candle]) -> Prepared | None:
        """The strategy's indicators over `candles`, computed once per newest closed candle."""
        if not candles:
            return None
        # `strategy()` hands out the same dict until the stored parameters change, so identity tells a change.
        newest = candles[-1].start
        if self._prepared is None or self._prepared[0] != newest or self._prepared[1] is not params:
            self._prepared = (newest, params, strategy.prepare(CandleArrays.from_candles(candles), params))
        return self._prepared[2]

    # --- protective exits -----------------------------------------------------------------------------
    def protective(
        self,
        params: dict[str, Any],
        holdings: Holdings,
        price: Decimal,
        entry_at: datetime | None,
        atr: float | None,
        *,
        high: Decimal | None = None,
    ) -> ProtectiveExit | None:
        """Raise the stored peak to `price` (and to `high`, the highest streamed price since the last cycle) and
        check the protective exits (None: none fired, or nothing held)."""
        rules = ProtectiveRules.from_params(params)
        if holdings.coin <= 0 or holdings.avg_buy_price <= 0:
            self.position_closed()
            return None
        state = self.state
        peak = state.peak_price if state.peak_entry_at == entry_at and state.peak_price is not None else None
        peak = max(peak or holdings.avg_buy_price, price, high or price)
        self.remember(peak_price=peak, peak_entry_at=entry_at)
        if not rules.active:
            return None
        return rules.check(avg_buy_price=float(holdings.avg_buy_price), peak=float(peak), price=float(price), atr=atr)

    def position_closed(self) -> None:
        """Nothing (or only dust) is held: the next position starts its own peak."""
        self.remember(peak_price=None, peak_entry_at=None)

    def exit_taken(self, candle_start: datetime) -> None:
        """An exit was sent on a signal from (or a price inside) `candle_start`: no re-entry on that candle."""
        self.remember(exit_candle_start=candle_start)

    # --- the candle decision --------------------------------------------------------------------------
    def candle_decision(
        self, strategy: Strategy, prepared: Prepared | None, candles: list[Candle], position: Position | None
    ) -> CandleDecision | None:
        """The strategy's decision on the newest closed candle, if it was not acted on yet (None otherwise)."""
        if prepared is None or not candles:
            return None
        newest = candles[-1].start
        decided = self.state.decided_candle_start
        if decided is not None and newest <= decided:
            return None
        return CandleDecision(strategy.decide(prepared, len(candles) - 1, position), newest)

    def candle_done(self, candle_start: datetime) -> None:
        self.remember(decided_candle_start=candle_start)

    def entry_allowed(self, candle_start: datetime) -> bool:
        """No entry on a signal from the candle that triggered the last exit, or an earlier one."""
        exit_start = self.state.exit_candle_start
        return exit_start is None or candle_start > exit_start

    def record_signal(
        self, source: str, decision: Decision, price: Decimal, last_rejection: dict[str, str] | None
    ) -> Signal | None:
        """The decision as a Signal row; a HOLD only when its reason changes and at most every HOLD_SIGNAL_INTERVAL_SEC."""
        action = str(decision.action)
        now = self.clock()
        if action == "HOLD":
            key = (action, str(decision.reason))
            interval = settings.HOLD_SIGNAL_INTERVAL_SEC
            if (
                key == self._last_hold
                and self._last_hold_at is not None
                and (now - self._last_hold_at).total_seconds() < interval
            ):
                return None
            self._last_hold, self._last_hold_at = key, now
        else:
            self._last_hold = None
        meta = decision.as_meta()
        meta["price"] = price
        if last_rejection:
            meta["last_rejection"] = last_rejection
        return services.signal_record(
            ts=now,
            market=self.market,
            action=action,
            score=Decimal(str(decision.score)),
            source=source,
            explanation=decision.explanation,
            meta=meta,
        )

    def forming_candle(self, now: datetime) -> datetime:
        return floor_to_unit(now, self.unit)


def latest_atr(prepared: Prepared | None) -> float | None:
    """The ATR of the newest closed candle, when the strategy's parameters use one."""
    if prepared is None:
        return None
    series = prepared.lists.get("atr")
    if not series:
        return None
    value = float(series[-1])
    return value if math.isfinite(value) else None


def age_seconds(now: datetime, then: datetime) -> float:
    return (now - then) / timedelta(seconds=1)
