"""Backtests asked for from the console: the job row, its worker process, its progress, and applying its parameters.

The web never runs a backtest itself (the backtester is not imported by the web's doors): it writes a
queued BacktestJob and starts `manage.py runbacktest --job N` as a detached process with the web's own
settings and database. The worker reports progress into the row (trading/backtest/worker.py). A page that
shows a job first settles it: a worker whose process is gone, or whose heartbeat is older than
BACKTEST_STALE_SEC, leaves a job marked failed with the reason, never one stuck at "running"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from trading import events, services
from trading.backtest_job_models import BacktestJob
from trading.errors import InvalidInput
from trading.liveness import owner_is_dead
from trading.models import StrategyConfig

BACKTEST_STALE_SEC = 300
"""A running job whose worker has not reported for this long is failed (its process may be on another machine)."""
BACKTEST_START_GRACE_SEC = 60
"""A queued job whose worker never started within this long is failed (the process could not start)."""


_CHILDREN: list[subprocess.Popen[bytes]] = []
"""Workers this process started. An exited child stays a zombie (and looks alive to a pid check) until its
parent collects its exit status, so every settle collects the ones that have ended."""


def _reap_children() -> None:
    _CHILDREN[:] = [child for child in _CHILDREN if child.poll() is None]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def log_dir() -> Path:
    return Path(settings.BASE_DIR) / "var" / "backtests" / "logs"


def _database_url() -> str:
    """The database this process uses, as DATABASE_URL, so the worker writes where the page reads."""
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    user = quote(str(config.get("USER") or ""), safe="")
    password = quote(str(config.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host, port = config.get("HOST") or "127.0.0.1", config.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{config['NAME']}"


def backtest_job_create(*, request: dict[str, Any], actor: str, launch: bool = True) -> BacktestJob:
    """Queue a backtest (already validated by the console's form) and start its worker process."""
    job = BacktestJob.objects.create(request=request, requested_by=actor[:150])
    if launch:
        backtest_job_launch(job=job)
    return job


def backtest_job_launch(*, job: BacktestJob) -> int:
    """Start `manage.py runbacktest --job N` detached from this process (its own session: a web restart does not
    kill it), output to var/backtests/logs/job-N.log. Returns the pid; a process that cannot start fails the job."""
    directory = log_dir()
    env = {**os.environ, "DATABASE_URL": _database_url(), "PYTHONUNBUFFERED": "1"}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / f"job-{job.pk}.log", "ab") as log:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py, with an integer argument)
                [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "runbacktest", "--job", str(job.pk)],
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as error:
        backtest_job_fail(job_id=job.pk, error=f"the worker process could not start: {error.strerror or error}")
        return 0
    _CHILDREN.append(process)
    BacktestJob.objects.filter(pk=job.pk, status=BacktestJob.Status.QUEUED, worker="").update(
        worker=f"{socket.gethostname()}:{process.pid}"
    )
    return process.pid


def backtest_job_start(*, job_id: int, worker: str, now: datetime | None = None) -> bool:
    """The worker takes its queued job: running, its pid, a first heartbeat. False when it is not queued any more."""
    now = now or timezone.now()
    return bool(
        BacktestJob.objects.filter(pk=job_id, status=BacktestJob.Status.QUEUED).update(
            status=BacktestJob.Status.RUNNING, worker=worker[:200], started_at=now, heartbeat_at=now, progress=0
        )
    )


def backtest_job_progress(*, job_id: int, percent: int, now: datetime | None = None) -> None:
    """The worker's progress (0..99 while running) and heartbeat."""
    BacktestJob.objects.filter(pk=job_id, status=BacktestJob.Status.RUNNING).update(
        progress=max(0, min(99, percent)), heartbeat_at=now or timezone.now()
    )


def backtest_job_finish(*, job_id: int, run_id: int, chart: dict[str, Any], now: datetime | None = None) -> None:
    now = now or timezone.now()
    BacktestJob.objects.filter(pk=job_id, status=BacktestJob.Status.RUNNING).update(
        status=BacktestJob.Status.DONE, progress=100, run_id=run_id, chart=chart, finished_at=now, heartbeat_at=now
    )


def backtest_job_fail(*, job_id: int, error: str, now: datetime | None = None) -> bool:
    """Mark a job that has not finished as failed with `error` (one line a person can act on)."""
    unfinished = (BacktestJob.Status.QUEUED, BacktestJob.Status.RUNNING)
    return bool(
        BacktestJob.objects.filter(pk=job_id, status__in=unfinished).update(
            status=BacktestJob.Status.FAILED, error=error[:2000], finished_at=now or timezone.now()
        )
    )


def backtest_job_settle(*, job: BacktestJob, now: datetime | None = None) -> BacktestJob:
    """`job` as it stands, after failing it if its worker is gone: the process has exited on this machine, its
    heartbeat is older than BACKTEST_STALE_SEC, or it never started within BACKTEST_START_GRACE_SEC."""
    if job.finished:
        return job
    _reap_children()
    now = now or timezone.now()
    reason = ""
    if job.worker and owner_is_dead(job.worker):
        reason = f"the worker process ({job.worker}) ended without finishing the backtest"
    elif (
        job.status == BacktestJob.Status.RUNNING
        and job.heartbeat_at
        and now - job.heartbeat_at > timedelta(seconds=BACKTEST_STALE_SEC)
    ):
        reason = f"the worker process ({job.worker}) has not reported for {int((now - job.heartbeat_at).total_seconds())} s"
    elif job.status == BacktestJob.Status.QUEUED and now - job.created_at > timedelta(seconds=BACKTEST_START_GRACE_SEC):
        reason = "the worker process never started"
    if reason:
        # Failed here, or finished by the worker a moment ago: either way the row now says what happened.
        backtest_job_fail(job_id=job.pk, error=reason, now=now)
        job.refresh_from_db()
    return job


def backtest_params_apply(*, job: BacktestJob, actor: str) -> StrategyConfig:
    """Write a finished backtest's parameters to its strategy (validated and recorded by the strategy-parameter
    service), and record which backtest they came from with the old and the new parameters."""
    if job.status != BacktestJob.Status.DONE or job.run is None:
        raise InvalidInput("params", "invalid_params", problem=f"backtest #{job.pk} has not finished; there is nothing to apply")
    strategy = job.run.strategy
    with transaction.atomic():
        old = StrategyConfig.objects.filter(strategy=strategy).values_list("params", flat=True).first() or {}
        config = services.strategy_config_update(strategy=strategy, params=dict(job.run.params), actor=actor)
        events.backtest_params_applied(
            actor=actor, job=job.pk, run=job.run.pk, strategy=strategy, old=dict(old), new=dict(config.params)
        )
    return config
