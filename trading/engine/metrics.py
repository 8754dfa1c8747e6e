"""The engine's counters, published with the heartbeat (EngineState.metrics) and served at /metrics."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from exchange.exceptions import RateLimited

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The engine's counters. `snapshot()` is what lands in EngineState.metrics (JSON):

    - ``cycles_total`` (int): cycles run by this process.
    - ``cycle_duration_seconds`` (object): a Prometheus-style histogram of cycle wall time:
      ``{"buckets": {"0.05": n, "0.1": n, "0.25": n, "0.5": n, "1": n, "2.5": n, "5": n, "10": n, "+Inf": n},
      "sum": float_seconds, "count": n}``; bucket counts are cumulative (``le``).
    - ``orders_placed_total`` (int): orders the exchange accepted.
    - ``orders_failed_total`` (int): orders rejected, not placed, or with a lost answer.
    - ``fills_total`` (int): fills this process recorded (the dashboard refreshes its panels when it moves).
    - ``exchange_errors_total`` (object): ``{exception class name: count}``, e.g. ``{"RetryLater": 2}``.
    - ``rate_limited_total`` (int): HTTP 429 answers seen (by the client's retries or by the engine).
    - ``equity_krw`` (str decimal or null): KRW + coin × last price after the last cycle.
    - ``pnl_today_krw`` (str decimal or null): today's realized + unrealized PnL (docs/ENGINE.md).
    - ``last_cycle_at`` (ISO time or null), ``last_cycle_duration_seconds`` (float),
      ``started_at`` (ISO time): when this engine process started, ``owner`` ("host:pid"), ``mode``, ``account``.
    - ``forming_candle`` (object): the candle still forming, for the console's chart (trading/engine/forming.py):
      ``{"market", "unit", "start" (epoch s), "open", "high", "low", "close" (decimal text), "at" (epoch s)}``.
    Counters restart from 0 with each engine process (Prometheus handles counter resets).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cycles_total = 0
        self.bucket_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.orders_placed_total = 0
        self.orders_failed_total = 0
        self.fills_total = 0
        self.exchange_errors_total: dict[str, int] = {}
        self.rate_limited_seen = 0
        self.client_rate_limited = 0
        self.equity_krw: Decimal | None = None
        self.pnl_today_krw: Decimal | None = None
        self.last_cycle_at: datetime | None = None
        self.last_duration = 0.0
        self.started_at = timezone.now()
        self.extra: dict[str, Any] = {}

    def observe_cycle(self, seconds: float) -> None:
        with self._lock:
            self.cycles_total += 1
            self.duration_sum += seconds
            self.last_duration = seconds
            self.last_cycle_at = timezone.now()
            for index, bound in enumerate(DURATION_BUCKETS):
                if seconds <= bound:
                    self.bucket_counts[index] += 1
                    break
            else:
                self.bucket_counts[-1] += 1

    def count_error(self, error: BaseException) -> None:
        with self._lock:
            name = type(error).__name__
            self.exchange_errors_total[name] = self.exchange_errors_total.get(name, 0) + 1
            if isinstance(error, RateLimited):
                self.rate_limited_seen += 1

    def publish(self, name: str, value: Any) -> None:
        """Set one of the `extra` values the heartbeat writes (from any thread: a snapshot may be taken meanwhile)."""
        with self._lock:
            self.extra[name] = value

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            cumulative: dict[str, int] = {}
            running = 0
            for bound, count in zip(DURATION_BUCKETS, self.bucket_counts, strict=False):
                running += count
                cumulative[f"{bound:g}"] = running
            cumulative["+Inf"] = running + self.bucket_counts[-1]
            return {
                "cycles_total": self.cycles_total,
                "cycle_duration_seconds": {"buckets": cumulative, "sum": round(self.duration_sum, 6), "count": self.cycles_total},
                "orders_placed_total": self.orders_placed_total,
                "orders_failed_total": self.orders_failed_total,
                "fills_total": self.fills_total,
                "exchange_errors_total": dict(self.exchange_errors_total),
                "rate_limited_total": max(self.rate_limited_seen, self.client_rate_limited),
                # format(…, "f"): "0.00000000", never "0E-8", for people and scrapers reading the JSON.
                "equity_krw": None if self.equity_krw is None else format(self.equity_krw, "f"),
                "pnl_today_krw": None if self.pnl_today_krw is None else format(self.pnl_today_krw, "f"),
                "last_cycle_at": self.last_cycle_at.isoformat() if self.last_cycle_at else None,
                "last_cycle_duration_seconds": round(self.last_duration, 6),
                "started_at": self.started_at.isoformat(),
                **self.extra,
            }
