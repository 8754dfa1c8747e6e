"""Console backtests: the job row, the worker process (real, on a small candle set), progress, failures, applying."""

from __future__ import annotations

import itertools
import os
import signal
import socket
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import StrategyConfigFactory
from tests.trading.backtest_console_helpers import load_hourly, request_data, wait_finished
from tests.waiting import wait_until
from trading import backtest_jobs
from trading.backtest.worker import CHART_BARS, chart_data, run_job
from trading.backtest_job_models import BacktestJob
from trading.errors import InvalidInput
from trading.models import BacktestRun, EngineEvent, StrategyConfig


@pytest.mark.django_db(transaction=True)
def test_the_service_starts_a_worker_process_that_runs_the_backtest_to_the_end():
    load_hourly()
    # The limits as the console's form stores them: amounts as text.
    limits = {"max_order_krw": "20000", "max_daily_loss_krw": "50000", "max_position_ratio": "0.5", "cooldown_sec": 60}
    job = backtest_jobs.backtest_job_create(request=request_data(limit_overrides=limits), actor="user:alice")
    assert job.status == BacktestJob.Status.QUEUED
    job = wait_finished(job)
    assert job.status == BacktestJob.Status.DONE, job.error
    assert job.progress == 100
    assert job.worker.startswith(f"{socket.gethostname()}:")
    run = BacktestRun.objects.get(pk=job.run_id)
    assert (run.strategy, run.unit, run.params["fast"], run.params["slow"]) == ("sma_cross", 60, 5, 20)
    assert run.metrics["candles"] == 2900
    assert run.metrics["limits"]["max_order_krw"] == "20000"
    assert run.metrics["limits"]["cooldown_sec"] == 60
    bars = job.chart["bars"]
    assert (len(bars), job.chart["grouped"]) == (1450, 2)  # 2,900 candles, at most CHART_BARS bars: two a bar
    assert bars[0]["eq"] == 1000000.0
    assert len(job.chart["trades"]) == run.metrics["orders"] > 0


@pytest.mark.django_db
def test_the_worker_reports_progress_every_two_percent_and_finishes_at_100(monkeypatch):
    load_hourly()
    job = backtest_jobs.backtest_job_create(request=request_data(limits=False), actor="user:alice", launch=False)
    seen: list[int] = []
    real = backtest_jobs.backtest_job_progress

    def spy(*, job_id: int, percent: int, now=None) -> None:
        seen.append(percent)
        real(job_id=job_id, percent=percent, now=now)

    monkeypatch.setattr(backtest_jobs, "backtest_job_progress", spy)
    job = run_job(job.pk)
    assert job.status == BacktestJob.Status.DONE
    assert seen[0] == 10  # the candles are loaded
    assert seen == sorted(seen)
    assert all(later - earlier >= 2 for earlier, later in itertools.pairwise(seen))
    assert seen[-1] >= 88
    assert len(seen) >= 10
    assert job.progress == 100


@pytest.mark.django_db
def test_a_backtest_that_cannot_run_fails_with_the_reason():
    load_hourly()
    job = backtest_jobs.backtest_job_create(request=request_data(market="KRW-ETH"), actor="user:alice", launch=False)
    job = run_job(job.pk)
    assert job.status == BacktestJob.Status.FAILED
    assert "no KRW-ETH 60m candles" in job.error
    with pytest.raises(CommandError, match="is failed, not queued"):
        call_command("runbacktest", "--job", str(job.pk))


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_shows_as_failed_not_running_forever():
    load_hourly()
    # A worker that will never finish: it is stopped before it starts its run, then killed.
    job = backtest_jobs.backtest_job_create(request=request_data(), actor="user:alice", launch=False)
    pid, pk = backtest_jobs.backtest_job_launch(job=job), job.pk
    os.kill(pid, signal.SIGKILL)
    # What a page showing the job does on every poll: settle it (which also collects the exited child).
    job = wait_until(
        lambda: (settled := backtest_jobs.backtest_job_settle(job=BacktestJob.objects.get(pk=pk))).finished and settled,
        timeout=10,
        message="the killed worker's job never settled",
    )
    assert job.status == BacktestJob.Status.FAILED
    assert "ended without finishing" in job.error


@pytest.mark.django_db
def test_a_silent_worker_and_a_worker_that_never_started_are_failed_after_their_grace():
    now = timezone.now()
    silent = BacktestJob.objects.create(
        request=request_data(), status=BacktestJob.Status.RUNNING, worker="elsewhere:1", heartbeat_at=now
    )
    assert backtest_jobs.backtest_job_settle(job=silent, now=now + timedelta(seconds=60)).status == "running"
    late = now + timedelta(seconds=backtest_jobs.BACKTEST_STALE_SEC + 1)
    settled = backtest_jobs.backtest_job_settle(job=silent, now=late)
    assert settled.status == "failed"
    assert "has not reported" in settled.error

    never = BacktestJob.objects.create(request=request_data(), created_at=now)
    assert backtest_jobs.backtest_job_settle(job=never, now=now + timedelta(seconds=5)).status == "queued"
    settled = backtest_jobs.backtest_job_settle(
        job=never, now=now + timedelta(seconds=backtest_jobs.BACKTEST_START_GRACE_SEC + 1)
    )
    assert settled.status == "failed"
    assert "never started" in settled.error


@pytest.mark.django_db
def test_using_a_runs_parameters_is_validated_and_audited_with_old_and_new():
    load_hourly()
    StrategyConfigFactory(strategy="sma_cross", params={"fast": 3, "slow": 30})
    job = run_job(backtest_jobs.backtest_job_create(request=request_data(), actor="user:a", launch=False).pk)
    backtest_jobs.backtest_params_apply(job=job, actor="user:alice")
    config = StrategyConfig.objects.get(strategy="sma_cross")
    assert (config.params["fast"], config.params["slow"], config.updated_by) == (5, 20, "user:alice")
    event = EngineEvent.objects.filter(meta__backtest_job=job.pk).get()
    assert event.actor == "user:alice"
    assert f"backtest #{job.pk}" in event.message
    assert "fast 3 → 5" in event.message
    assert "slow 30 → 20" in event.message
    assert event.meta["old"]["fast"] == 3
    assert event.meta["new"]["fast"] == 5


@pytest.mark.django_db
def test_an_unfinished_run_has_no_parameters_to_apply():
    job = BacktestJob.objects.create(request=request_data())
    with pytest.raises(InvalidInput, match="has not finished"):
        backtest_jobs.backtest_params_apply(job=job, actor="user:alice")
    assert not EngineEvent.objects.filter(kind="config_changed").exists()


def test_a_long_run_is_grouped_into_at_most_chart_bars_bars():
    import numpy as np

    from trading.backtest.engine import run_on_candles
    from trading.strategies.indicators import CandleArrays

    n = CHART_BARS * 3 + 7
    close = 100_000_000 + 1_000_000 * np.sin(np.arange(n) / 50)
    arrays = CandleArrays.from_columns(
        open=close, high=close * 1.001, low=close * 0.999, close=close, volume=np.ones(n), start=np.arange(n) * 60 + 1_700_000_000
    )
    result = run_on_candles(arrays, strategy="sma_cross", params={"fast": 5, "slow": 20}, limits=False)
    chart = chart_data(result)
    assert len(chart["bars"]) <= CHART_BARS
    assert chart["grouped"] == 4
    assert chart["bars"][0]["h"] == pytest.approx(float(close[:4].max() * 1.001))
    assert {trade["t"] for trade in chart["trades"]} <= {bar["t"] for bar in chart["bars"]}
