"""The strategy interface: closed candles, the current position and validated parameters in, a Decision out.

A strategy is pure (no database, no HTTP, no clock) and has two entry points that share one implementation:

- `prepare(arrays, params) -> Prepared` computes every indicator over all candles at once (vectorised);
- `decide(prepared, i, position) -> Decision` decides at candle `i`, cheaply.

The backtester calls `prepare` once and `decide` for every candle; the live engine calls
`signal(candles, position, params)`, which is `decide(prepare(candles), last, position)` at the last
*closed* candle. Because both go through the same two functions, a backtest and the live engine that
see the same candles make the same decision.

`decide` evaluates, in this order:

1. holding a position (worth at least Upbit's 5,000 KRW minimum at the close; less is dust, treated as flat):
   the strategy's own exit signal, otherwise HOLD;
2. flat: during warm-up HOLD; on the strategy's entry signal BUY; otherwise HOLD.

Stop-loss, take-profit, trailing and ATR stops are not part of `decide`: they protect the position on
every price seen, not once per candle (protective.py, docs/DECISIONS.md). Their parameters are still
validated with the strategy's, so one set of parameters describes a strategy completely.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from exchange.frozen import quick_init
from exchange.rules import KRW_MIN_ORDER_TOTAL
from exchange.types import Candle
from trading.strategies.indicators import CandleArrays, FloatArray, atr
from trading.strategies.params import (
    CANDLE_UNITS,
    EXIT_PARAM_SPECS,
    VOLATILITY_PARAM_SPECS,
    WILDER_WARMUP_PERIODS,
    InvalidParams,
    ParamSpec,
    atr_min_candles,
    candle_unit_spec,
    uses_atr,
)

__all__ = [
    "CANDLE_UNITS",
    "EXIT_PARAM_SPECS",
    "EXIT_RULE_REASONS",
    "VOLATILITY_PARAM_SPECS",
    "WILDER_WARMUP_PERIODS",
    "Action",
    "Decision",
    "InvalidParams",
    "ParamSpec",
    "Position",
    "Prepared",
    "Reason",
    "Strategy",
    "atr_min_candles",
    "candle_unit_spec",
    "fmt",
    "to_decimal",
    "uses_atr",
]

ZERO = Decimal("0")
_MIN_ORDER_F = float(KRW_MIN_ORDER_TOTAL)


class Action(StrEnum):
    """The three actions; the same values as `trading.models.Signal.Action`."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class Reason(StrEnum):
    """Why a decision was made: a stable code for logs, metrics and the risk gate."""

    ENTRY = "entry"
    """The strategy's entry signal (BUY)."""
    EXIT_SIGNAL = "exit_signal"
    """The strategy's own exit signal (SELL)."""
    DAY_END = "day_end"
    """Volatility breakout: the trading day ends with this candle; sell at the next day's open."""
    DAY_CHANGED = "day_changed"
    """Volatility breakout: still holding a position bought on an earlier day."""
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    ATR_STOP = "atr_stop"
    """The price fell `atr_stop_mult` × ATR below the entry (or the peak, when trailing)."""
    VOLATILITY = "volatility"
    """Entry held back: the recent volatility (ATR / close) is above `max_volatility_pct`."""
    HOLDING = "holding"
    """In a position, nothing to do."""
    NO_SIGNAL = "no_signal"
    """Flat, no entry signal."""
    NOTHING_TO_SELL = "nothing_to_sell"
    """The strategy's exit signal fired while flat."""
    WARMUP = "warmup"
    """Not enough candles yet for the indicators to be trusted."""
    NO_HISTORY = "no_history"
    """The candles do not cover what the strategy needs (e.g. a complete previous day)."""


EXIT_RULE_REASONS: frozenset[Reason] = frozenset({Reason.STOP_LOSS, Reason.TAKE_PROFIT, Reason.TRAILING_STOP, Reason.ATR_STOP})
"""Protective exits (protective.py): they are never held back by the risk gate's cooldown."""


@quick_init
@dataclass(frozen=True, slots=True)
class Position:
    """The position the decision is about. A volume of 0 (or `None` instead of a Position) means flat.

    `highest_price` is the highest price seen since entry, kept by the caller for the trailing stop
    (the entry price when unknown). `entry_at` is the aware time of the (first) buy fill.
    """

    volume: Decimal
    avg_buy_price: Decimal
    entry_at: datetime | None = None
    highest_price: Decimal | None = None

    def with_high(self, price: Decimal) -> Position:
        """This position with `highest_price` raised to `price` if that is higher."""
        if self.highest_price is not None and self.highest_price >= price:
            return self
        return replace(self, highest_price=price)


_new = object.__new__


class Decision:
    """What a strategy decided at one candle.

    `action` and `reason` are computed eagerly; `score`, `explanation` and `values` are computed on first
    access from the prepared indicators, because the backtester reads them only for the few candles that
    lead to an order and half a million explanations would cost seconds.

    - `score`: the signed strength of the strategy's indicator in percent of the price (> 0 favours buying),
      as a Decimal with at most 8 decimals;
    - `explanation`: one human sentence with the indicator values that decided it;
    - `values`: those values by name (Decimal, int, str or None), ready for an event or signal's JSON meta.
    """

    __slots__ = ("_resolved", "_source", "action", "index", "reason")

    def __init__(
        self,
        action: Action,
        score: Decimal,
        explanation: str,
        values: dict[str, Any] | None = None,
        *,
        reason: Reason | str = "",
        index: int = -1,
    ) -> None:
        self.action = action
        self.reason = reason
        self.index = index
        self._resolved: tuple[Decimal, str, dict[str, Any]] | None = (score, explanation, values or {})
        self._source: tuple[Strategy, Prepared, Position | None] | None = None

    @classmethod
    def lazy(cls, action: Action, reason: Reason, index: int, source: tuple[Strategy, Prepared, Position | None]) -> Decision:
        """A decision explained on first access by `source`'s strategy (what `decide` returns; cheap to make)."""
        decision = _new(cls)
        decision.action = action
        decision.reason = reason
        decision.index = index
        decision._resolved = None
        decision._source = source
        return decision

    def _resolve(self) -> tuple[Decimal, str, dict[str, Any]]:
        if self._resolved is None:
            if self._source is None:
                raise RuntimeError("a decision built without its strategy cannot explain itself")
            strategy, prepared, position = self._source
            self._resolved = strategy.explain(prepared, self.index, position, self.action, Reason(self.reason))
            self._source = None
        return self._resolved

    @property
    def score(self) -> Decimal:
        return self._resolve()[0]

    @property
    def explanation(self) -> str:
        return self._resolve()[1]

    @property
    def values(self) -> dict[str, Any]:
        return self._resolve()[2]

    @property
    def is_exit_rule(self) -> bool:
        """A stop-loss, take-profit or trailing-stop exit (not the strategy's own signal)."""
        return self.reason in EXIT_RULE_REASONS

    def as_meta(self) -> dict[str, Any]:
        """The decision as JSON-ready meta for a Signal row or an event."""
        return {"action": str(self.action), "reason": str(self.reason), "score": str(self.score), "values": self.values}

    def _key(self) -> tuple[Any, ...]:
        return (self.action, str(self.reason), self.score, self.explanation, self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Decision({self.action}, reason={str(self.reason)!r}, score={self.score}, explanation={self.explanation!r})"


# ---------------------------------------------------------------------------------------------------
# Prepared indicators
# ---------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Prepared:
    """Indicators over all candles, ready for `decide(prepared, i, position)`.

    `series` holds the indicator arrays by name (for charts and inspection); `signal` is the
    position-independent raw signal per candle (+1 entry, -1 exit, 0 none); the Python lists mirror
    the arrays `decide` reads, because indexing a list is several times cheaper than a numpy array.
    """

    strategy: str
    params: dict[str, Any]
    arrays: CandleArrays
    series: dict[str, FloatArray]
    signal: list[int]
    ready_from: int
    """The first candle index at which an entry may be decided (earlier candles are warm-up)."""
    close: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    """Strategy-specific per-candle lists read by `decide`."""

    def __len__(self) -> int:
        return len(self.close)


def to_decimal(value: float, places: int = 8) -> Decimal | None:
    """A float indicator value as a Decimal with at most `places` decimals (None for NaN)."""
    if value is None or not math.isfinite(value):
        return None
    number = Decimal(f"{value:.{places}f}")
    if number == 0:
        return ZERO  # also for -0.00000000
    # No exponent notation (1.24124E+8) in stored meta: whole numbers as integers, others without trailing zeros.
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()


def fmt(value: float | Decimal | None) -> str:
    """A number for a human: thousands separators, 2 decimals for large values, 6 significant digits for small ones."""
    if value is None:
        return "n/a"
    number = float(value)
    if not math.isfinite(number):
        return "n/a"
    if abs(number) >= 1:
        text = f"{number:,.2f}"
        return text[:-3] if text.endswith(".00") else text
    return f"{number:.6g}"


def _pct(value: Decimal | None) -> str:
    return "off" if value is None else f"{value.normalize():f}%"


# ---------------------------------------------------------------------------------------------------
# The interface
# ---------------------------------------------------------------------------------------------------
class Strategy:
    """Base class of every strategy. Subclasses set `name`, `title`, `param_specs` and implement the hooks.

    Hooks: `_indicators(arrays, params)` (vectorised, returns series, raw signal, ready_from, lists),
    `_describe(prepared, i, action, reason)` (the indicator sentence) and `_score(prepared, i)`;
    optionally `_strategy_exit`, `_entry_blocked`, `_check(params)` and `min_candles`.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    param_specs: ClassVar[tuple[ParamSpec, ...]] = ()
    default_candle_unit: ClassVar[int] = 1

    # --- parameters -------------------------------------------------------------------------------
    @property
    def all_param_specs(self) -> tuple[ParamSpec, ...]:
        """The strategy's own parameters, then `candle_unit`, then the exits and ATR rules shared by every strategy."""
        return (*self.param_specs, candle_unit_spec(self.default_candle_unit), *EXIT_PARAM_SPECS, *VOLATILITY_PARAM_SPECS)

    def defaults(self) -> dict[str, Any]:
        return {spec.name: spec.default for spec in self.all_param_specs}

    def validate(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Parameters with defaults merged in, parsed and range-checked; raises InvalidParams naming the culprit."""
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise InvalidParams(
                f"{self.name}: parameters must be an object of name: value, got {type(params).__name__}", strategy=self.name
            )
        specs = {spec.name: spec for spec in self.all_param_specs}
        unknown = sorted(str(key) for key in params if key not in specs)
        if unknown:
            raise InvalidParams(
                f"{self.name}: unknown parameter {unknown[0]!r}; allowed: {', '.join(specs)}",
                strategy=self.name,
                param=unknown[0],
                value=params[unknown[0]],
            )
        clean = {name: spec.parse(self.name, params[name]) if name in params else spec.default for name, spec in specs.items()}
        self._check(clean)
        return clean

    def _check(self, params: dict[str, Any]) -> None:
        """Rules between parameters (e.g. fast < slow); raise InvalidParams."""

    def min_candles(self, params: Mapping[str, Any] | None = None, unit_sec: int | None = None) -> int:
        """How many closed candles the live engine should pass so the decision is trusted.

        `unit_sec` is the candle length in seconds; by default the `candle_unit` parameter's."""
        return 2

    def history_dependent(self, params: Mapping[str, Any]) -> bool:
        """Whether an indicator remembers its whole history (an exponential or Wilder average, like the ATR):
        then the engine computes it over a long history (decisions.py), so it agrees with a backtest over any range."""
        return uses_atr(params)

    # --- the two entry points ---------------------------------------------------------------------
    def prepare(self, arrays: CandleArrays, params: Mapping[str, Any] | None = None) -> Prepared:
        """Compute every indicator over all `arrays` (oldest first) with validated `params`."""
        clean = self.validate(params)
        series, signal, ready_from, lists = self._indicators(arrays, clean)
        if uses_atr(clean):
            # Only when a rule reads it: about 50 ms on a year of minutes, a quarter of a MACD's prepare.
            average = atr(arrays.high, arrays.low, arrays.close, clean["atr_period"])
            series["atr"] = average
            lists["atr"] = average.tolist()
        return Prepared(
            strategy=self.name,
            params=clean,
            arrays=arrays,
            series=series,
            signal=signal,
            ready_from=ready_from,
            close=arrays.close.tolist(),
            high=arrays.high.tolist(),
            lists=lists,
        )

    def decide(self, prepared: Prepared, i: int, position: Position | None = None) -> Decision:
        """The decision at candle `i` (negative counts from the end) given the position held before it."""
        n = len(prepared.close)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"candle index {i} is outside the {n} prepared candles")
        source = (self, prepared, position)
        close = prepared.close[i]
        if position is not None and position.volume > 0 and float(position.volume) * close >= _MIN_ORDER_F:
            # Stop-loss, take-profit and trailing stop are not judged here but on every price (protective.py).
            reason = self._strategy_exit(prepared, i, position)
            if reason is not None:
                return Decision.lazy(Action.SELL, reason, i, source)
            return Decision.lazy(Action.HOLD, Reason.HOLDING, i, source)
        if i < prepared.ready_from:
            return Decision.lazy(Action.HOLD, Reason.WARMUP, i, source)
        raw = prepared.signal[i]
        if raw > 0:
            blocked = self._entry_blocked(prepared, i) or self._too_volatile(prepared, i)
            if blocked is None:
                return Decision.lazy(Action.BUY, Reason.ENTRY, i, source)
            return Decision.lazy(Action.HOLD, blocked, i, source)
        if raw < 0:
            return Decision.lazy(Action.HOLD, Reason.NOTHING_TO_SELL, i, source)
        return Decision.lazy(Action.HOLD, self._idle_reason(prepared, i), i, source)

    def signal(
        self,
        candles: Sequence[Candle] | CandleArrays,
        position: Position | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Decision:
        """The live entry point: the decision at the last of `candles` (closed candles only, oldest first)."""
        arrays = candles if isinstance(candles, CandleArrays) else CandleArrays.from_candles(candles)
        if len(arrays) == 0:
            raise ValueError(f"{self.name}: no candles to decide on")
        return self.decide(self.prepare(arrays, params), len(arrays) - 1, position)

    # --- exits ------------------------------------------------------------------------------------
    def _strategy_exit(self, p: Prepared, i: int, position: Position) -> Reason | None:
        if i >= p.ready_from and p.signal[i] < 0:
            return Reason.EXIT_SIGNAL
        return None

    def _entry_blocked(self, p: Prepared, i: int) -> Reason | None:
        return None

    def _too_volatile(self, p: Prepared, i: int) -> Reason | None:
        """The volatility filter: no entry while ATR/close is above `max_volatility_pct`, or not known yet."""
        limit = p.params.get("max_volatility_pct")
        if limit is None:
            return None
        ratio = self.volatility_pct(p, i)
        return Reason.VOLATILITY if ratio is None or ratio > float(limit) else None

    @staticmethod
    def volatility_pct(p: Prepared, i: int) -> float | None:
        """ATR(atr_period) / close × 100 at candle `i` (None while the ATR warms up or is not computed)."""
        series = p.lists.get("atr")
        if not series or p.close[i] <= 0:
            return None
        value = float(series[i])
        return value / p.close[i] * 100 if math.isfinite(value) else None

    def _idle_reason(self, p: Prepared, i: int) -> Reason:
        return Reason.NO_SIGNAL

    # --- explanations (lazy) ----------------------------------------------------------------------
    def explain(
        self, p: Prepared, i: int, position: Position | None, action: Action, reason: Reason
    ) -> tuple[Decimal, str, dict[str, Any]]:
        """Score, explanation and values of the decision at `i`; called by Decision on first access."""
        close = p.close[i]
        values: dict[str, Any] = {
            "candle_start": datetime.fromtimestamp(int(p.arrays.start[i]), tz=UTC).isoformat(),
            "close": to_decimal(close),
        }
        indicator_text, indicator_values = self._describe(p, i, action, reason)
        values.update(indicator_values)
        score = to_decimal(self._score(p, i)) or ZERO
        holding = ""
        if position is not None and position.volume > 0:
            avg = float(position.avg_buy_price)
            change = (close / avg - 1) * 100 if avg > 0 else 0.0
            values["position_volume"] = position.volume
            values["avg_buy_price"] = position.avg_buy_price
            values["pnl_pct"] = to_decimal(change, 4)
            holding = f"holding {position.volume.normalize():f} at an average {fmt(avg)} ({change:+.2f}%)"
        if reason == Reason.VOLATILITY:
            ratio = self.volatility_pct(p, i)
            values["volatility_pct"] = to_decimal(ratio, 4) if ratio is not None else None
            values["max_volatility_pct"] = p.params["max_volatility_pct"]
            limit = _pct(p.params["max_volatility_pct"])
            if ratio is None:
                why = f"the volatility (ATR/close) is not known yet (the ATR is warming up; limit {limit})"
            else:
                why = f"the volatility (ATR/close) {ratio:.2f}% is above max_volatility_pct {limit}"
            head = f"HOLD: entry signal held back, {why}; {indicator_text}"
            indicator_text = ""
        elif reason == Reason.WARMUP:
            need = p.ready_from + 1
            head = f"HOLD: warming up, {i + 1} of {need} candles needed before an entry"
        elif reason == Reason.NOTHING_TO_SELL:
            head = f"HOLD: exit signal but no position to sell; {indicator_text}"
            indicator_text = ""
        elif reason == Reason.HOLDING:
            head = f"HOLD: {holding}"
            holding = ""
        else:
            head = f"{action}: {indicator_text}"
            indicator_text = ""
        parts = [head]
        if indicator_text:
            parts.append(indicator_text)
        if holding:
            parts.append(holding)
        text = "; ".join(parts)
        return score, text, values

    # --- hooks ------------------------------------------------------------------------------------
    def _indicators(
        self, arrays: CandleArrays, params: dict[str, Any]
    ) -> tuple[dict[str, FloatArray], list[int], int, dict[str, list[Any]]]:
        raise NotImplementedError

    def _describe(self, p: Prepared, i: int, action: Action, reason: Reason) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _score(self, p: Prepared, i: int) -> float:
        return 0.0
