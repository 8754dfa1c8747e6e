"""Search a strategy's parameters with Optuna: each trial a backtest on the training period, reported on the test period."""

from __future__ import annotations

import sys
from typing import Any

import optuna
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from optuna.storages import BaseStorage

from trading import study_selectors
from trading.backtest.options import OptionError, add_account_arguments, parse_account_options, parse_params
from trading.candles import CandleDataError, parse_unit, unit_label
from trading.models import OptimizationStudy
from trading.optimize import runner
from trading.optimize.objective import OBJECTIVES
from trading.optimize.report import ProgressLine, result_lines
from trading.optimize.services import (
    StudyInputError,
    StudyRequest,
    search_setup,
    study_finish,
    study_open,
    study_request_check,
    study_sync,
)
from trading.optimize.storage import close_storage, open_storage
from trading.optimize.trials import SearchSetup
from trading.strategies.registry import STRATEGIES

BAD_INPUT = 2
INTERRUPTED = 130
SYNC_EVERY_SEC = 2.0


class Command(BaseCommand):
    help = (
        "Search a strategy's parameters: each trial is a backtest (the backtest command's code, limits and Upbit rules) "
        "scored on the training period and reported on the test period. Running the same command again resumes the "
        "study; on PostgreSQL, machines sharing the database and the --study name share the study."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", default=None, help=f"{', '.join(STRATEGIES)} (default: STRATEGY)")
        parser.add_argument("--market", default=None, help="market code (default: TRADING_MARKET)")
        parser.add_argument("--unit", default=None, help="candle unit (default: the strategy's candle_unit)")
        parser.add_argument(
            "--space",
            action="append",
            default=[],
            metavar="NAME=SPEC",
            help="a parameter to search, repeatable: LOW:HIGH (whole numbers), LOW:HIGH with a dot (numbers) or A,B,C",
        )
        parser.add_argument(
            "--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter held fixed, repeatable"
        )
        parser.add_argument("--objective", default="sharpe", help=f"{', '.join(OBJECTIVES)} (default sharpe)")
        parser.add_argument("--trials", type=int, required=True, help="trials in the study (finished ones count)")
        parser.add_argument("--train", required=True, metavar="FROM..TO", help="training period (dates in TIME_ZONE)")
        parser.add_argument("--test", required=True, metavar="FROM..TO", help="test period, after the training period")
        parser.add_argument("--folds", type=int, default=1, help="rolling walk-forward windows over train..test (default 1)")
        parser.add_argument("--jobs", type=int, default=1, help="worker processes on this machine (default 1)")
        parser.add_argument("--study", default=None, help="study name (default: derived from the search, so a rerun resumes)")
        parser.add_argument("--seed", type=int, default=None, help="sampler seed (one job: the same seed gives the same study)")
        add_account_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            account = parse_account_options(options)
            params = parse_params(options["param"])
            unit = parse_unit(options["unit"]) if options["unit"] else None
        except (OptionError, CandleDataError) as error:
            raise CommandError(str(error), returncode=BAD_INPUT) from None
        if options["jobs"] < 1:
            raise CommandError(f"--jobs {options['jobs']}: give at least one job", returncode=BAD_INPUT)
        try:
            request = study_request_check(
                strategy=str(options["strategy"] or settings.STRATEGY),
                market=str(options["market"] or settings.TRADING_MARKET).upper(),
                unit=unit,
                objective=options["objective"],
                space=options["space"],
                params=params,
                train=options["train"],
                test=options["test"],
                folds=options["folds"],
                account=account,
                n_trials=options["trials"],
                seed=options["seed"],
                name=options["study"],
            )
            setup = search_setup(request)
        except StudyInputError as error:
            raise CommandError(str(error), returncode=BAD_INPUT) from None
        storage = open_storage()
        try:
            try:
                row = study_open(request=request, storage=storage)
            except StudyInputError as error:
                raise CommandError(str(error), returncode=BAD_INPUT) from None
            self.search(request, setup, storage, row, jobs=options["jobs"])
        finally:
            close_storage(storage)

    def search(
        self, request: StudyRequest, setup: SearchSetup, storage: BaseStorage, row: OptimizationStudy, *, jobs: int
    ) -> None:
        tz = settings.TIME_ZONE
        out = self.stdout.write
        out(f"{request.strategy} on {request.market} {unit_label(request.unit)}: study {row.name} ({row.storage})")
        out(
            f"  train  {request.train.text(tz)} · test {request.test.text(tz)} ({tz})"
            + (f" · {request.folds} folds" if request.folds > 1 else "")
        )
        space = " ".join(dimension.text() for dimension in request.dimensions)
        out(f"  search {space} · objective {request.objective} · {jobs} job(s)")

        study = optuna.load_study(study_name=row.name, storage=storage)
        done_at_start = runner.done_count(study)
        progress = ProgressLine(sys.stderr, total=request.n_trials, objective=request.objective, done_at_start=done_at_start)
        last_sync = [progress.clock()]

        def on_progress(current: optuna.Study) -> None:
            trials = current.get_trials(deepcopy=False, states=runner.DONE_STATES)
            complete = [trial for trial in trials if trial.value is not None]
            best = max(complete, key=lambda trial: (trial.value, -trial.number), default=None)
            progress.show(len(trials), best.value if best else None, best.number if best else None)
            if progress.clock() - last_sync[0] >= SYNC_EVERY_SEC:
                last_sync[0] = progress.clock()
                study_sync(row=row, study=current)

        def on_stopping() -> None:
            sys.stderr.write("\nstopping after the running trials (Ctrl-C again to stop at once)…\n")

        progress.show(done_at_start, None, None)
        outcome = runner.run(
            setup=setup,
            name=row.name,
            storage=storage,
            n_trials=request.n_trials,
            jobs=jobs,
            seed=request.seed,
            on_progress=on_progress,
            on_stopping=on_stopping,
        )
        progress.close()
        study_finish(row=row, study=optuna.load_study(study_name=row.name, storage=storage))
        for line in result_lines(row, study_selectors.study_best_trials(study=row)):
            out(line)
        if outcome.failed_workers:
            raise CommandError(f"{outcome.failed_workers} worker(s) failed (their error is above); the finished trials are kept")
        if outcome.interrupted:
            out(self.style.WARNING(f"stopped: {row.trials_done} of {row.n_trials} trials kept; run the same command to resume"))
            sys.exit(INTERRUPTED)
        out(self.style.SUCCESS(f"study {row.name}: {row.trials_done} trials, saved as optimization study #{row.pk}"))
