"""The candle still forming, for the console's candle chart: its open, high, low and close so far.

The engine decides on closed candles only and stores each once it closes (trading/chart_candles.py); the chart
would lag one candle behind without this. The forming candle costs no request and no query: it is built in
memory from what each cycle already has (the ticker's trade price and time, and the newest candle of the last
candle read, which the exchange returns with the closed ones), and published with the engine's other counters
in `EngineState.metrics["forming_candle"]` by the heartbeat that already writes them. The chart's endpoint
reads it back (trading/chart_selectors.py) and carries it to the engine's last price (`EngineState.last_price`,
written by every cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from exchange.types import Candle
from trading.engine.decisions import floor_to_unit

METRIC_KEY = "forming_candle"


@dataclass(slots=True)
class FormingCandle:
    market: str
    unit: int
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    at: datetime
    """The exchange's time of the last price folded in."""

    def as_metric(self) -> dict[str, Any]:
        """JSON for `EngineState.metrics`: times as UTC epoch seconds, prices as exact decimal text."""
        return {
            "market": self.market,
            "unit": self.unit,
            "start": int(self.start.timestamp()),
            "open": format(self.open, "f"),
            "high": format(self.high, "f"),
            "low": format(self.low, "f"),
            "close": format(self.close, "f"),
            "at": int(self.at.timestamp()),
        }


class FormingTracker:
    """The forming candle of one market, updated once per cycle."""

    def __init__(self, market: str) -> None:
        self.market = market
        self.candle: FormingCandle | None = None

    def observe(self, *, unit: int, price: Decimal, now: datetime, read: Candle | None) -> FormingCandle:
        """Fold the cycle's trade `price` at the exchange's time `now` into the candle containing `now` (a new one
        starts at each candle boundary). `read` is the newest candle of the last candle read: when it is this
        candle, its open (the period's first trade, which the engine may have missed) and its range are taken in."""
        start = floor_to_unit(now, unit)
        candle = self.candle
        if candle is None or candle.unit != unit or candle.start != start:
            candle = FormingCandle(self.market, unit, start, price, price, price, price, now)
        elif now >= candle.at:  # a ticker older than the last one folded in (the stream and REST disagree) is skipped
            candle.high = max(candle.high, price)
            candle.low = min(candle.low, price)
            candle.close = price
            candle.at = now
        if read is not None and read.unit == unit and read.start == start:
            candle.open = read.open
            candle.high = max(candle.high, read.high)
            candle.low = min(candle.low, read.low)
        self.candle = candle
        return candle
