"""Candles the engine traded on that did not come from Upbit (the sandbox's), kept apart from the market history.

The `Candle` table is the market's real history: backtests, optimisations and replays read it. A sandbox
makes up its own prices, so its candles must never land there (an `INSERT … ON CONFLICT DO NOTHING` would
keep a made-up candle over the real one imported later). The engine stores the candles it decides on in
`Candle` when they come from Upbit and here, under the quotation host they came from, otherwise; the
console's candle chart reads whichever table its source uses (trading/chart_candles.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

ZERO = Decimal("0")


def _money(**kwargs: Any) -> models.DecimalField[Any, Any]:
    # The same column as trading.models.money_field; that module imports this one, so it is not imported back.
    return models.DecimalField(max_digits=24, decimal_places=8, **kwargs)


class EngineCandle(models.Model):
    """One closed candle from a market data source other than Upbit; `source` is its API host[:port]."""

    source = models.CharField(max_length=128, help_text="the quotation API's host[:port], e.g. 127.0.0.1:8765")
    market = models.CharField(max_length=32)
    unit = models.PositiveIntegerField()
    ts = models.DateTimeField(help_text="candle start, UTC")
    open = _money()
    high = _money()
    low = _money()
    close = _money()
    volume = _money(default=ZERO)
    value = models.DecimalField(max_digits=32, decimal_places=8, default=ZERO)

    class Meta:
        verbose_name = _("engine candle (other source)")
        verbose_name_plural = _("engine candles (other source)")
        ordering = ("source", "market", "unit", "ts")
        constraints = (
            models.UniqueConstraint(fields=["source", "market", "unit", "ts"], name="engine_candle_unique_source_market_unit_ts"),
        )

    def __str__(self) -> str:
        return f"{self.source} {self.market} {self.unit}m {self.ts:%Y-%m-%d %H:%M}"
