"""What the console-backtest tests share: the candles, a valid request, and waiting for a worker process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.waiting import wait_until
from trading.backtest_job_models import BacktestJob
from trading.candle_files import candles_import

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "upbit-krw-btc-60m-excerpt.csv"


def load_hourly() -> None:
    """2,900 hourly KRW-BTC candles, 2024-12-01 to 2025-03-31."""
    candles_import(path=FIXTURE, market="KRW-BTC")


def request_data(**changes: Any) -> dict[str, Any]:
    """What the console's form hands the service for an SMA cross on the hourly candles (Seoul dates)."""
    data: dict[str, Any] = {
        "market": "KRW-BTC",
        "unit": 60,
        "strategy": "sma_cross",
        "params": {"fast": "5", "slow": "20", "candle_unit": "60"},
        "start": "2024-12-01T00:00:00+09:00",
        "end": "2025-04-01T00:00:00+09:00",
        "initial_krw": "1000000",
        "fees": True,
        "limits": True,
        "limit_overrides": {},
    }
    data.update(changes)
    return data


def wait_finished(job: BacktestJob, *, timeout: float = 60) -> BacktestJob:
    """Poll the row until the worker has finished it (done or failed); the log is shown when it never does."""

    def finished() -> BacktestJob | None:
        job.refresh_from_db()
        return job if job.finished else None

    return wait_until(finished, timeout=timeout, interval=0.05, message=lambda: f"backtest #{job.pk} stuck at {job.status}")
