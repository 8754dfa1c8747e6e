"""A parameter search as a person asks for it: check everything first (nothing is stored for a bad request),
then create or join the study, and mirror Optuna's trials into our own tables for the console."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import optuna
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from trading.backtest.engine import BacktestError, backtest_limits
from trading.backtest.options import AccountOptions
from trading.backtest.services import run_request_check, strategy_params
from trading.candles import unit_label
from trading.models import OptimizationStudy, OptimizationTrial
from trading.optimize.chart import objective_svg
from trading.optimize.objective import OBJECTIVES, collapsed
from trading.optimize.space import Dimension, SpaceError, parse_space
from trading.optimize.storage import storage_description
from trading.optimize.trials import SearchSetup
from trading.optimize.windows import PeriodError, Split, Window, folds_of, load_splits, parse_period


class StudyInputError(ValueError):
    """A search that cannot run as asked: one line per problem, shown to the person; nothing was stored."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class StudyRequest:
    name: str
    strategy: str
    market: str
    unit: int
    objective: str
    dimensions: list[Dimension]
    fixed_params: dict[str, Any]
    train: Window
    test: Window
    folds: int
    splits: list[Split]
    account: AccountOptions
    n_trials: int
    seed: int | None
    signature: dict[str, Any] = field(default_factory=dict)


def _signature(request: StudyRequest) -> dict[str, Any]:
    """What makes two runs the same study: the same search over the same data with the same rules."""
    account = request.account
    signature: dict[str, Any] = json.loads(
        json.dumps(
            {
                "strategy": request.strategy,
                "market": request.market,
                "unit": request.unit,
                "objective": request.objective,
                "space": [dimension.text() for dimension in request.dimensions],
                "fixed_params": request.fixed_params,
                "train": [request.train.start.isoformat(), request.train.end.isoformat()],
                "test": [request.test.start.isoformat(), request.test.end.isoformat()],
                "folds": request.folds,
                "initial_krw": str(account.initial_krw),
                "fees": account.fees,
                "limits": account.limits,
                "limit_overrides": {key: str(value) for key, value in sorted(account.limit_overrides.items())},
            },
            cls=DjangoJSONEncoder,
            sort_keys=True,
        )
    )
    return signature


def study_request_check(
    *,
    strategy: str,
    market: str,
    unit: int | None,
    objective: str,
    space: list[str],
    params: Mapping[str, Any] | None,
    train: str,
    test: str,
    folds: int,
    account: AccountOptions,
    n_trials: int,
    seed: int | None,
    name: str | None,
) -> StudyRequest:
    """Every check that needs no candles; raises StudyInputError listing each problem found."""
    tz = settings.TIME_ZONE
    problems: list[str] = []
    if objective not in OBJECTIVES:
        problems.append(f"--objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    if n_trials < 1:
        problems.append(f"--trials {n_trials}: give at least one trial")
    limit = OptimizationStudy._meta.get_field("name").max_length or 200
    if name is not None and not 0 < len(name.strip()) <= limit:
        problems.append(f"--study: give a name of 1 to {limit} characters")
    fixed: dict[str, Any] = {}
    dimensions: list[Dimension] = []
    try:
        fixed = strategy_params(strategy, params, unit=unit)
    except BacktestError as error:
        problems.append(str(error))
    else:
        try:
            dimensions = parse_space(strategy, space)
        except SpaceError as error:
            problems.append(str(error))
        clash = sorted(set(params or {}) & {dimension.name for dimension in dimensions})
        if clash:
            problems.append(f"--param {clash[0]} is also searched with --space; give it once")
    periods: list[Window] = []
    for option, text in (("--train", train), ("--test", test)):
        try:
            periods.append(parse_period(option, text, tz=tz))
        except PeriodError as error:
            problems.append(str(error))
    splits: list[Split] = []
    if len(periods) == 2:
        try:
            splits = folds_of(periods[0], periods[1], folds, tz=tz)
        except PeriodError as error:
            problems.append(str(error))
        try:
            run_request_check(start=periods[0].start, end=periods[1].end, initial_krw=account.initial_krw)
        except BacktestError as error:
            problems.append(str(error))
    try:
        backtest_limits(fees=account.fees, limits=account.limits, overrides=dict(account.limit_overrides))
    except (TypeError, ValueError) as error:
        problems.append(f"bad limit: {error}")
    if problems:
        raise StudyInputError(problems)
    unit = int(fixed["candle_unit"])
    request = StudyRequest(
        name=(name or "").strip(),
        strategy=strategy,
        market=market,
        unit=unit,
        objective=objective,
        dimensions=dimensions,
        fixed_params={key: value for key, value in fixed.items() if key not in {d.name for d in dimensions}},
        train=periods[0],
        test=periods[1],
        folds=folds,
        splits=splits,
        account=account,
        n_trials=n_trials,
        seed=seed,
    )
    request.signature = _signature(request)
    if not request.name:
        digest = hashlib.sha1(json.dumps(request.signature, sort_keys=True).encode(), usedforsecurity=False).hexdigest()[:8]
        zone = ZoneInfo(tz)
        first, last = request.train.start.astimezone(zone), (request.test.end - timedelta(seconds=1)).astimezone(zone)
        request.name = f"{strategy}-{market}-{unit_label(unit)}-{objective}-{first:%Y%m%d}-{last:%Y%m%d}-{digest}"
    return request


def search_setup(request: StudyRequest) -> SearchSetup:
    """The request with its candles loaded (each window once). Raises StudyInputError for a window without candles."""
    try:
        loaded = load_splits(market=request.market, unit=request.unit, splits=request.splits)
    except PeriodError as error:
        raise StudyInputError([str(error)]) from None
    account = request.account
    return SearchSetup(
        strategy=request.strategy,
        market=request.market,
        unit=request.unit,
        objective=request.objective,
        dimensions=request.dimensions,
        fixed_params=request.fixed_params,
        initial_krw=account.initial_krw,
        fees=account.fees,
        limits=backtest_limits(fees=account.fees, limits=account.limits, overrides=dict(account.limit_overrides)),
        max_slippage_pct=settings.MAX_SLIPPAGE_PCT or None,
        splits=loaded,
    )


def study_open(*, request: StudyRequest, storage: BaseStorage) -> OptimizationStudy:
    """Create the study (ours and Optuna's), or join the one of that name when it searches the same thing.

    Raises StudyInputError (nothing stored) when a study of that name searches something else."""
    existing = OptimizationStudy.objects.filter(name=request.name).first()
    if existing is not None and existing.options.get("signature") != request.signature:
        raise StudyInputError(
            [f"--study {request.name}: a study of that name searches something else; give another --study name"]
        )
    try:
        known = optuna.load_study(study_name=request.name, storage=storage)
    except KeyError:
        known = None
    if known is not None and known.user_attrs.get("signature") not in (None, request.signature):
        raise StudyInputError(
            [f"--study {request.name}: Optuna's study of that name searches something else; give another --study name"]
        )
    study = optuna.create_study(study_name=request.name, storage=storage, direction="maximize", load_if_exists=True)
    study.set_user_attr("signature", request.signature)
    with transaction.atomic():
        row, created = OptimizationStudy.objects.select_for_update().get_or_create(
            name=request.name,
            defaults={
                "strategy": request.strategy,
                "market": request.market,
                "unit": request.unit,
                "objective": request.objective,
                "space": {dimension.name: dimension.as_dict() for dimension in request.dimensions},
                "fixed_params": request.fixed_params,
                "train_from": request.train.start,
                "train_to": request.train.end,
                "test_from": request.test.start,
                "test_to": request.test.end,
                "folds": request.folds,
                "options": {"signature": request.signature, "seed": request.seed},
                "n_trials": request.n_trials,
                "storage": storage_description(),
            },
        )
        if not created:
            row.n_trials = request.n_trials
            row.state = OptimizationStudy.State.RUNNING
            row.updated_at = timezone.now()
            row.save(update_fields=["n_trials", "state", "updated_at"])
    return row


def _aware(moment: datetime | None) -> datetime | None:
    # Optuna stamps trials with the machine's naive local time.
    return None if moment is None else (moment if moment.tzinfo else moment.astimezone()).astimezone(UTC)


def _trial_row(row: OptimizationStudy, trial: FrozenTrial) -> OptimizationTrial:
    attrs = trial.user_attrs
    test = attrs.get("test") or {}
    note = str(attrs.get("invalid") or "")
    if trial.state == TrialState.FAIL and not note:
        note = "stopped or failed before it finished"
    if "repeat_of" in attrs:
        note = f"the parameters of trial #{attrs['repeat_of']}: its figures, not backtested again"
    return OptimizationTrial(
        study=row,
        number=trial.number,
        state=trial.state.name,
        params=dict(trial.params),
        value=trial.value if trial.state == TrialState.COMPLETE else None,
        test_value=test.get("objective"),
        train_metrics=attrs.get("train") or {},
        test_metrics=test,
        folds=attrs.get("folds") or [],
        collapsed=trial.state == TrialState.COMPLETE and collapsed(trial.value, test.get("objective")),
        note=note[:300],
        started_at=_aware(trial.datetime_start),
        finished_at=_aware(trial.datetime_complete),
    )


def study_sync(*, row: OptimizationStudy, study: optuna.Study) -> OptimizationStudy:
    """Copy Optuna's trials that are new or changed into our tables, with the best trial and the chart."""
    trials = study.get_trials(deepcopy=False)
    known = dict(row.trials.values_list("number", "state"))
    changed = [_trial_row(row, trial) for trial in trials if known.get(trial.number) != trial.state.name]
    if changed:
        OptimizationTrial.objects.bulk_create(
            changed,
            update_conflicts=True,
            unique_fields=["study", "number"],
            update_fields=[
                "state",
                "params",
                "value",
                "test_value",
                "train_metrics",
                "test_metrics",
                "folds",
                "collapsed",
                "note",
                "started_at",
                "finished_at",
            ],
        )
    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE and trial.value is not None]
    row.trials_done = sum(1 for trial in trials if trial.state in (TrialState.COMPLETE, TrialState.PRUNED))
    if complete:
        best = max(complete, key=lambda trial: (trial.value, -trial.number))
        row.best_trial_number = best.number
        row.best_value = best.value
        row.best_params = json.loads(json.dumps({**row.fixed_params, **best.params}, cls=DjangoJSONEncoder))
    points = [(t.number, float(t.value or 0), (t.user_attrs.get("test") or {}).get("objective")) for t in complete]
    row.chart_svg = objective_svg(points, objective=row.objective, title=f"{row.name}: {row.objective} by trial")
    row.updated_at = timezone.now()
    row.save(update_fields=["trials_done", "best_trial_number", "best_value", "best_params", "chart_svg", "updated_at"])
    return row


def study_finish(*, row: OptimizationStudy, study: optuna.Study) -> OptimizationStudy:
    """The last copy of the trials, the parameters' importance (Optuna's PED-ANOVA), and the state."""
    study_sync(row=row, study=study)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    importance: dict[str, float] = {}
    if len(complete) >= 2 and row.space:
        try:
            importance = {name: round(float(value), 6) for name, value in optuna.importance.get_param_importances(study).items()}
        except (ValueError, RuntimeError, ZeroDivisionError):
            importance = {}
    row.importance = importance
    # A study that reached its trials is finished even when a Ctrl-C came during the last ones.
    finished = row.trials_done >= row.n_trials
    row.state = OptimizationStudy.State.FINISHED if finished else OptimizationStudy.State.INTERRUPTED
    row.updated_at = timezone.now()
    row.save(update_fields=["importance", "state", "updated_at"])
    return row
