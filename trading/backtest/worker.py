"""The worker process of a console backtest (`manage.py runbacktest --job N`): run it, report progress, keep the result.

The job's row says what to run (trading/backtest_jobs.py wrote it from the console's form). The backtest
is the command line's (`backtest_run_create`: the same candles, rules, report files and BacktestRun row);
the worker adds the progress reports and the chart data the console draws: candles (grouped into at
most CHART_BARS bars so a year of minutes stays a light page), the equity, buy-and-hold and drawdown at
each bar, and every trade."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from trading import backtest_jobs
from trading.backtest.engine import BacktestError, BacktestResult
from trading.backtest.services import backtest_run_create
from trading.backtest_job_models import BacktestJob

logger = logging.getLogger(__name__)

CHART_BARS = 1500
"""At most this many bars on the console's chart; longer runs group consecutive candles into one bar."""
PROGRESS_STEP = 2
"""Percent between two progress writes."""


def _float(value: float) -> float | None:
    return round(float(value), 2) if math.isfinite(value) else None


def chart_data(result: BacktestResult) -> dict[str, Any]:
    """The series the console's result page draws, in epoch seconds (UTC) and floats, plus the trades."""
    arrays = result.arrays
    n = len(arrays)
    group = max(1, math.ceil(n / CHART_BARS))
    firsts = np.arange(0, n, group)
    lasts = np.minimum(firsts + group, n) - 1
    equity = result.equity
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, (equity - peak) / peak * 100, 0.0)
    initial = float(result.config.initial_krw)
    hold = initial * arrays.close / arrays.close[0] if arrays.close[0] > 0 else np.full(n, initial)
    bars = []
    for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
        bars.append(
            {
                "t": int(arrays.start[first]),
                "o": float(arrays.open[first]),
                "h": float(arrays.high[first : last + 1].max()),
                "l": float(arrays.low[first : last + 1].min()),
                "c": float(arrays.close[last]),
                "eq": _float(equity[last]),
                "bh": _float(hold[last]),
                "dd": round(float(drawdown[first : last + 1].min()), 4),
            }
        )
    trades = [
        {
            "t": int(arrays.start[(trade.index // group) * group]) if 0 <= trade.index < n else trade.ts_epoch,
            "ts": trade.ts.isoformat(),
            "side": trade.side,
            "reason": trade.reason,
            "price": str(trade.price),
            "volume": str(trade.volume),
            "funds": str(trade.funds),
            "fee": str(trade.fee),
            "pnl": str(trade.realized_pnl),
            "equity": str(trade.equity_after.quantize(Decimal("0.01"))),
        }
        for trade in result.trades
    ]
    return {"unit_sec": arrays.unit_sec * group, "grouped": group, "bars": bars, "trades": trades}


def limit_overrides(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The limits as the request stores them (JSON: amounts as text) in the types the risk rules take."""
    return {
        name: int(value) if name == "cooldown_sec" else Decimal(str(value))
        for name, value in (stored or {}).items()
        if value is not None
    }


class _Progress:
    """Writes the job's progress when it has moved by PROGRESS_STEP percent (the heartbeat goes with it)."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.written = 0

    def __call__(self, share: float) -> None:
        percent = round(share * 100)
        if percent >= self.written + PROGRESS_STEP:
            self.written = percent
            backtest_jobs.backtest_job_progress(job_id=self.job_id, percent=percent)


def run_job(job_id: int) -> BacktestJob:
    """Run job `job_id` to the end: done with its run and chart, or failed with the reason. Returns the row."""
    if not backtest_jobs.backtest_job_start(job_id=job_id, worker=backtest_jobs.worker_name()):
        job = BacktestJob.objects.get(pk=job_id)
        raise BacktestError(f"backtest #{job_id} is {job.status}, not queued; nothing to run")
    job = BacktestJob.objects.get(pk=job_id)
    asked = job.request
    try:
        outcome = backtest_run_create(
            market=asked["market"],
            unit=int(asked["unit"]),
            strategy=asked["strategy"],
            params=asked.get("params") or {},
            start=datetime.fromisoformat(asked["start"]),
            end=datetime.fromisoformat(asked["end"]),
            initial_krw=Decimal(str(asked["initial_krw"])),
            fees=bool(asked.get("fees", True)),
            limits=bool(asked.get("limits", True)),
            limit_overrides=limit_overrides(asked.get("limit_overrides")),
            progress=_Progress(job_id),
        )
        chart = chart_data(outcome.result)
    except BacktestError as error:
        backtest_jobs.backtest_job_fail(job_id=job_id, error=str(error))
    except Exception as error:
        logger.exception("backtest #%s failed", job_id)
        backtest_jobs.backtest_job_fail(job_id=job_id, error=f"unexpected error: {type(error).__name__}: {error}")
    else:
        backtest_jobs.backtest_job_finish(job_id=job_id, run_id=outcome.run.pk, chart=chart)
    job.refresh_from_db()
    return job
