"""Moving-average crossover: BUY when the fast SMA crosses above the slow SMA, SELL when it crosses below."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from trading.strategies.base import Action, InvalidParams, ParamSpec, Prepared, Reason, Strategy, fmt, to_decimal
from trading.strategies.indicators import CandleArrays, FloatArray, crossed_above, crossed_below, sma


class SmaCrossStrategy(Strategy):
    name = "sma_cross"
    title = "SMA crossover"
    description = "BUY when the fast simple moving average of the close crosses above the slow one; SELL when it crosses below."
    param_specs = (
        ParamSpec("fast", "int", 5, 1, 1000, "the fast SMA period, in candles (1 = the close itself)"),
        ParamSpec("slow", "int", 20, 2, 2000, "the slow SMA period, in candles (more than fast)"),
    )

    def _check(self, params: dict[str, Any]) -> None:
        if params["fast"] >= params["slow"]:
            raise InvalidParams(
                f"sma_cross: parameter fast={params['fast']} must be less than slow={params['slow']}",
                strategy=self.name,
                param="fast",
                value=params["fast"],
            )

    def min_candles(self, params: Mapping[str, Any] | None = None, unit_sec: int | None = None) -> int:
        """slow + 1 candles: the slow SMA on this candle and the one before (a cross needs both)."""
        return int(self.validate(params)["slow"]) + 1

    def _indicators(
        self, arrays: CandleArrays, params: dict[str, Any]
    ) -> tuple[dict[str, FloatArray], list[int], int, dict[str, list[Any]]]:
        fast = sma(arrays.close, params["fast"])
        slow = sma(arrays.close, params["slow"])
        raw = crossed_above(fast, slow).astype(np.int8) - crossed_below(fast, slow).astype(np.int8)
        series = {"sma_fast": fast, "sma_slow": slow}
        lists = {"fast": fast.tolist(), "slow": slow.tolist()}
        return series, raw.tolist(), params["slow"], lists

    def _score(self, p: Prepared, i: int) -> float:
        slow = p.lists["slow"][i]
        if not slow or slow != slow:  # NaN during warm-up
            return 0.0
        return float((p.lists["fast"][i] - slow) / slow * 100)

    def _describe(self, p: Prepared, i: int, action: Action, reason: Reason) -> tuple[str, dict[str, Any]]:
        fast, slow = p.lists["fast"], p.lists["slow"]
        names = f"SMA({p.params['fast']})", f"SMA({p.params['slow']})"
        values: dict[str, Any] = {
            "sma_fast": to_decimal(fast[i]),
            "sma_slow": to_decimal(slow[i]),
            "fast": p.params["fast"],
            "slow": p.params["slow"],
        }
        raw = p.signal[i]
        if raw != 0 and i > 0:
            values["sma_fast_prev"] = to_decimal(fast[i - 1])
            values["sma_slow_prev"] = to_decimal(slow[i - 1])
            direction = "above" if raw > 0 else "below"
            sign = "<=" if raw > 0 else ">="
            text = (
                f"{names[0]} {fmt(fast[i])} crossed {direction} {names[1]} {fmt(slow[i])} "
                f"(previous candle: {fmt(fast[i - 1])} {sign} {fmt(slow[i - 1])})"
            )
        else:
            gap = fast[i] - slow[i]
            side = "above" if gap > 0 else "below" if gap < 0 else "level with"
            text = f"{names[0]} {fmt(fast[i])} is {side} {names[1]} {fmt(slow[i])}, no cross"
        return text, values
