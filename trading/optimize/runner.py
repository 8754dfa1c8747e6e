"""Running a study's trials: in this process (`--jobs 1`) or in N worker processes on this machine.

Workers are forked after the candles are loaded, so each has them in memory from the start and keeps
them for all its trials. Each worker opens its own Optuna storage and asks for a trial, backtests it and
reports it, until the study has the number of trials asked for (finished and invalid ones, from every
process and machine, count) or a stop is asked for.

Ctrl-C: the first one lets the running trials finish and stops (the finished trials are kept; running
the same command again resumes); a second one stops at once (the interrupted trials are marked failed).
Workers ignore SIGINT themselves: a terminal sends it to the whole process group, and only this process
decides.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import wait
from types import FrameType
from typing import Any, Protocol

import optuna
from django.db import connections
from optuna.samplers import TPESampler
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState

from trading.optimize.storage import counts_running, open_storage
from trading.optimize.trials import SearchSetup, objective

POLL_SEC = 0.5
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


class Flag(Protocol):
    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class Budget:
    """The trials this machine may still start, shared by its workers: none is started beyond it."""

    def __init__(self, context: Any, remaining: int) -> None:
        self.value = context.Value("i", max(remaining, 0))

    def take(self) -> bool:
        with self.value.get_lock():
            if self.value.value <= 0:
                return False
            self.value.value -= 1
            return True


def done_count(study: optuna.Study, *, count_running: bool = False) -> int:
    states = DONE_STATES + ((TrialState.RUNNING,) if count_running else ())
    return len(study.get_trials(deepcopy=False, states=states))


def sampler(seed: int | None, worker: int) -> TPESampler:
    # Each worker its own seed: with one seed they would all draw the same first random points.
    # constant_liar: a running trial counts as a bad one, so parallel workers do not all sample the same spot.
    return TPESampler(seed=None if seed is None else seed + worker, constant_liar=True)


def work(
    *,
    setup: SearchSetup,
    name: str,
    storage: BaseStorage,
    n_trials: int,
    stop: Flag,
    budget: Budget,
    seed: int | None,
    worker: int = 0,
    after_trial: Callable[[optuna.Study], None] | None = None,
) -> None:
    """Run trials until the study has `n_trials` done, the budget is spent or `stop` is set."""
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler(seed, worker))
    running = counts_running(storage)
    func = partial(objective, setup)
    while not stop.is_set() and done_count(study, count_running=running) < n_trials and budget.take():
        study.optimize(func, n_trials=1)
        if after_trial is not None:
            after_trial(study)


def _worker_main(setup: SearchSetup, name: str, n_trials: int, stop: Flag, budget: Budget, seed: int | None, worker: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        work(
            setup=setup, name=name, storage=open_storage(), n_trials=n_trials, stop=stop, budget=budget, seed=seed, worker=worker
        )
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # noqa: BLE001 - the worker's error is printed for the person and its exit code tells the parent
        traceback.print_exc()
        sys.exit(1)


@dataclass
class RunOutcome:
    interrupted: bool
    failed_workers: int = 0


@contextmanager
def _ctrl_c(stop: Flag, on_first: Callable[[], None]) -> Iterator[None]:
    """The first SIGINT sets `stop`; a second raises KeyboardInterrupt as usual."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        on_first()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(
    *,
    setup: SearchSetup,
    name: str,
    storage: BaseStorage,
    n_trials: int,
    jobs: int,
    seed: int | None,
    on_progress: Callable[[optuna.Study], None],
    on_stopping: Callable[[], None],
) -> RunOutcome:
    """Run the study to `n_trials` with `jobs` processes; `on_progress` is called after each trial (one job) or
    every half second (several), from this process, with its own view of the study."""
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler(seed, 0))
    if jobs <= 1:
        context = multiprocessing.get_context()
        stop = context.Event()
        budget = Budget(context, n_trials - done_count(study))
        with _ctrl_c(stop, on_stopping):
            try:
                work(
                    setup=setup,
                    name=name,
                    storage=storage,
                    n_trials=n_trials,
                    stop=stop,
                    budget=budget,
                    seed=seed,
                    after_trial=on_progress,
                )
            except KeyboardInterrupt:
                return RunOutcome(interrupted=True)
        return RunOutcome(interrupted=stop.is_set())

    fork = multiprocessing.get_context("fork")
    stop = fork.Event()
    budget = Budget(fork, n_trials - done_count(study))
    # Nothing open may be shared with the children: they open their own database connections.
    connections.close_all()
    if isinstance(storage, RDBStorage):
        storage.engine.dispose()
    workers = [
        fork.Process(target=_worker_main, args=(setup, name, n_trials, stop, budget, seed, worker), daemon=True)
        for worker in range(jobs)
    ]
    for process in workers:
        process.start()
    interrupted = False
    with _ctrl_c(stop, on_stopping):
        try:
            while any(process.is_alive() for process in workers):
                wait([process.sentinel for process in workers if process.is_alive()], timeout=POLL_SEC)
                on_progress(study)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            # A second Ctrl-C, or an error here: the workers stop now (their running trials are marked failed).
            for process in workers:
                if process.is_alive() and (interrupted or sys.exc_info()[0] is not None):
                    process.terminate()
            for process in workers:
                process.join()
    on_progress(study)
    failed = sum(1 for process in workers if process.exitcode not in (0, 130, -signal.SIGTERM))
    return RunOutcome(interrupted=interrupted or stop.is_set(), failed_workers=failed)
