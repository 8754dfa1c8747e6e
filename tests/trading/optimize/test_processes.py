"""`manage.py optimize` as real processes: Ctrl-C and resuming, and two processes sharing one study on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import optuna
import pytest
from django.db import connection
from optuna.trial import TrialState

from tests.trading.engine.test_runner import database_url
from tests.trading.optimize.conftest import MACD, SPLIT
from tests.waiting import wait_until
from trading.models import OptimizationStudy, OptimizationTrial
from trading.optimize.storage import close_storage, journal_path, open_storage

ROOT = Path(__file__).resolve().parents[3]
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def study_journal() -> Path:
    """The processes use the journal next to the test database: this module does not move it."""
    return journal_path()


@pytest.fixture
def storage():
    """Optuna's storage as the processes see it; its connections are closed before the test database is dropped."""
    opened = open_storage()
    yield opened
    close_storage(opened)


def command(name: str, trials: int, seed: int, jobs: int = 1) -> list[str]:
    return [
        *(sys.executable, "manage.py", "optimize", *MACD, *SPLIT),
        *("--trials", str(trials), "--seed", str(seed), "--study", name, "--jobs", str(jobs)),
    ]


def start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": database_url()}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def trials_of(name: str, storage: optuna.storages.BaseStorage) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return []


def done(name: str, storage: optuna.storages.BaseStorage) -> int:
    return sum(1 for trial in trials_of(name, storage) if trial.state in DONE)


def test_ctrl_c_keeps_the_finished_trials_and_a_rerun_continues_to_n_with_two_workers(hourly, storage):
    name, total = f"resume-{uuid4().hex[:8]}", 60
    process = start(command(name, total, seed=4))
    try:
        wait_until(lambda: done(name, storage) >= 3 or process.poll() is not None, timeout=120, message="3 trials done")
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert "stopped:" in out
    kept = done(name, storage)
    assert 3 <= kept < total
    # The running trial was let finish: nothing failed, and our tables hold what Optuna holds.
    assert all(trial.state in DONE for trial in trials_of(name, storage))
    study = OptimizationStudy.objects.get(name=name)
    assert (study.state, study.trials_done) == ("INTERRUPTED", kept)
    assert study.trials.count() == kept

    # The same study, now with two worker processes: they share the rest and stop at exactly N.
    again = subprocess.run(
        command(name, total, seed=4, jobs=2),
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert done(name, storage) == total
    study.refresh_from_db()
    assert (study.state, study.trials_done) == ("FINISHED", total)
    assert list(study.trials.order_by("number").values_list("number", flat=True)) == list(range(total))


def test_two_processes_on_postgresql_share_one_study_without_losing_or_repeating_a_trial(hourly, storage):
    if connection.vendor != "postgresql":
        pytest.skip("a study shared across machines lives in PostgreSQL (set DATABASE_URL=postgres://…)")
    name, total = f"shared-{uuid4().hex[:8]}", 30
    # The storage fixture created Optuna's tables once, before the two processes race for them.
    processes = [start(command(name, total, seed=seed)) for seed in (1, 2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    trials = trials_of(name, storage)
    numbers = sorted(trial.number for trial in trials)
    assert numbers == list(range(len(trials)))  # none lost, none twice
    assert all(trial.state in DONE for trial in trials)
    # Each process stops once the study has enough: at most one trial beyond it, started in the same instant.
    assert total <= len(trials) <= total + 1
    study = OptimizationStudy.objects.get(name=name)
    assert OptimizationStudy.objects.filter(name=name).count() == 1
    assert sorted(OptimizationTrial.objects.filter(study=study).values_list("number", flat=True)) == numbers
    assert study.state == "FINISHED"
    # Each process ran some of the trials (both joined the one study).
    assert all("study " + name in out for out, _ in outputs)
