"""Protective exits: stop-loss, ATR stop, trailing stop and take-profit, checked on every price seen.

The strategy's own signals are judged once per closed candle; these exits protect the position in real
time. The live engine and paper trading call `ProtectiveRules.check` every cycle with the live trade
price; the backtest and the replay call it at each point of a candle's path (market_model.py), in the
same order. The trailing stop's peak is the highest price seen since entry (the entry price to begin
with), kept by the caller: the engine stores it, so a restart keeps it.

Checks run in a fixed order, the stop-type exits first: stop-loss, ATR stop, trailing stop, take-profit.
The comparisons are made in floats on the same inputs everywhere, so every caller reaches the same verdict.
See docs/DECISIONS.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from trading.strategies.base import Action, Decision, Reason, fmt, to_decimal

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class ProtectiveExit:
    """A protective exit that fired: the rule, the price that fired it and the level it crossed."""

    reason: Reason
    price: float
    level: float
    avg_buy_price: float
    peak: float
    atr: float | None

    def decision(self, params: Mapping[str, Any], candle_start: datetime | None = None) -> Decision:
        """The exit as a SELL decision with its sentence and numbers (for the Signal row and the event)."""
        pct = _pct_param(params, self.reason)
        values: dict[str, Any] = {
            "rule": str(self.reason),
            "price": to_decimal(self.price),
            "level": to_decimal(self.level),
            "avg_buy_price": to_decimal(self.avg_buy_price),
            "peak": to_decimal(self.peak),
        }
        if pct is not None:
            values[f"{self.reason}_pct"] = pct
        if self.atr is not None:
            values["atr"] = to_decimal(self.atr)
        if candle_start is not None:
            values["candle_start"] = candle_start.isoformat()
        change = (self.price / self.avg_buy_price - 1) * 100 if self.avg_buy_price > 0 else 0.0
        values["pnl_pct"] = to_decimal(change, 4)
        if self.reason == Reason.STOP_LOSS:
            head = f"SELL (stop-loss {_pct_text(pct)}): price {fmt(self.price)} is at or below the stop {fmt(self.level)}"
        elif self.reason == Reason.ATR_STOP:
            base = "the peak" if params.get("atr_trailing") else "the average buy price"
            head = (
                f"SELL (ATR stop {params.get('atr_stop_mult')} × ATR {fmt(self.atr)} below {base}): "
                f"price {fmt(self.price)} is at or below the stop {fmt(self.level)}"
            )
        elif self.reason == Reason.TRAILING_STOP:
            head = (
                f"SELL (trailing stop {_pct_text(pct)}): price {fmt(self.price)} is at or below {fmt(self.level)}, "
                f"{_pct_text(pct)} under the highest price since entry {fmt(self.peak)}"
            )
        else:
            head = f"SELL (take-profit {_pct_text(pct)}): price {fmt(self.price)} reached the target {fmt(self.level)}"
        text = f"{head}; average buy price {fmt(self.avg_buy_price)} ({change:+.2f}%)"
        score = to_decimal(change, 8) or ZERO
        return Decision(Action.SELL, score, text, values, reason=self.reason)


def _pct_param(params: Mapping[str, Any], reason: Reason) -> Decimal | None:
    value = params.get(f"{reason}_pct")
    return value if isinstance(value, Decimal) else None


def _pct_text(value: Decimal | None) -> str:
    return "off" if value is None else f"{value.normalize():f}%"


def _factor(pct: Any, sign: int) -> float | None:
    if pct is None or pct == 0:
        return None
    return float(1 + sign * Decimal(pct) / 100)


@dataclass(frozen=True, slots=True)
class ProtectiveRules:
    """The protective exits a strategy's validated parameters turn on (each None when off)."""

    stop_loss_factor: float | None = None
    take_profit_factor: float | None = None
    trailing_factor: float | None = None
    atr_mult: float | None = None
    atr_trailing: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ProtectiveRules:
        mult = params.get("atr_stop_mult")
        return cls(
            stop_loss_factor=_factor(params.get("stop_loss_pct"), -1),
            take_profit_factor=_factor(params.get("take_profit_pct"), +1),
            trailing_factor=_factor(params.get("trailing_stop_pct"), -1),
            atr_mult=float(mult) if mult else None,
            atr_trailing=bool(params.get("atr_trailing")),
        )

    @property
    def active(self) -> bool:
        return any(
            value is not None for value in (self.stop_loss_factor, self.take_profit_factor, self.trailing_factor, self.atr_mult)
        )

    @property
    def uses_peak(self) -> bool:
        return self.trailing_factor is not None or (self.atr_mult is not None and self.atr_trailing)

    def levels(self, *, avg_buy_price: float, peak: float, atr: float | None = None) -> dict[Reason, float]:
        """The price each active exit fires at (for a chart's price lines): the same formulas as `check`."""
        found: dict[Reason, float] = {}
        if avg_buy_price <= 0:
            return found
        if self.stop_loss_factor is not None:
            found[Reason.STOP_LOSS] = avg_buy_price * self.stop_loss_factor
        if self.atr_mult is not None and atr is not None and math.isfinite(atr) and atr > 0:
            found[Reason.ATR_STOP] = (peak if self.atr_trailing else avg_buy_price) - self.atr_mult * atr
        if self.trailing_factor is not None:
            found[Reason.TRAILING_STOP] = peak * self.trailing_factor
        if self.take_profit_factor is not None:
            found[Reason.TAKE_PROFIT] = avg_buy_price * self.take_profit_factor
        return found

    def check(self, *, avg_buy_price: float, peak: float, price: float, atr: float | None = None) -> ProtectiveExit | None:
        """The first exit whose level `price` crossed, or None. `peak` already includes `price`."""
        if avg_buy_price <= 0:
            return None
        if self.stop_loss_factor is not None:
            level = avg_buy_price * self.stop_loss_factor
            if price <= level:
                return ProtectiveExit(Reason.STOP_LOSS, price, level, avg_buy_price, peak, atr)
        if self.atr_mult is not None and atr is not None and math.isfinite(atr) and atr > 0:
            level = (peak if self.atr_trailing else avg_buy_price) - self.atr_mult * atr
            if price <= level:
                return ProtectiveExit(Reason.ATR_STOP, price, level, avg_buy_price, peak, atr)
        if self.trailing_factor is not None:
            level = peak * self.trailing_factor
            if price <= level:
                return ProtectiveExit(Reason.TRAILING_STOP, price, level, avg_buy_price, peak, atr)
        if self.take_profit_factor is not None:
            level = avg_buy_price * self.take_profit_factor
            if price >= level:
                return ProtectiveExit(Reason.TAKE_PROFIT, price, level, avg_buy_price, peak, atr)
        return None
