"""Stored candles for the candle chart's tests: a deterministic price path, written as the engine writes them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from exchange.types import Candle as ExchangeCandle
from trading.chart_candles import engine_candles_store

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
"""A Monday 00:00 UTC (09:00 in Seoul): day-aligned, so a breakout's days are complete."""


def price_path(count: int, *, unit: int = 1, start: datetime = START, market: str = "KRW-BTC") -> list[ExchangeCandle]:
    """`count` candles with waves of several lengths, so every indicator crosses now and then."""
    candles = []
    for i in range(count):
        middle = 100_000_000 + 900_000 * math.sin(i / 37) + 400_000 * math.sin(i / 9) + 2_000 * i
        close = middle + 150_000 * math.sin(i / 3)
        open_ = middle - 100_000 * math.cos(i / 5)
        high = max(open_, close) + 50_000 + 10_000 * (i % 7)
        low = min(open_, close) - 50_000 - 10_000 * (i % 5)
        candles.append(
            ExchangeCandle(
                market=market,
                unit=unit,
                start=start + timedelta(minutes=unit * i),
                open=Decimal(round(open_)),
                high=Decimal(round(high)),
                low=Decimal(round(low)),
                close=Decimal(round(close)),
                volume=Decimal("1.25") + Decimal(i % 11) / 10,
            )
        )
    return candles


def store(candles: list[ExchangeCandle], *, source: str = "api.upbit.com") -> None:
    engine_candles_store(source=source, market=candles[0].market, unit=candles[0].unit, candles=candles)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())
