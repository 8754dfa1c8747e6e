"""One trial: the parameters Optuna draws, backtested on every training and test window with `run_backtest`,
the code and the limits of `manage.py backtest`. Only figures are kept (no report files, no trade lists).

The candles are in memory for the whole search (`SearchSetup.splits`); a trial costs its backtests and
a few small dicts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from statistics import fmean
from typing import Any

import optuna

from trading.backtest.engine import BacktestConfig, run_backtest
from trading.engine.risk import RiskLimits
from trading.optimize.objective import summary
from trading.optimize.space import Dimension, suggest
from trading.optimize.windows import LoadedSplit, Window
from trading.strategies.base import InvalidParams
from trading.strategies.indicators import CandleArrays
from trading.strategies.registry import validate_params


@dataclass(frozen=True)
class SearchSetup:
    """Everything a worker needs to run trials: fixed for the whole study."""

    strategy: str
    market: str
    unit: int
    objective: str
    dimensions: list[Dimension]
    fixed_params: dict[str, Any]
    initial_krw: Decimal
    fees: bool
    limits: RiskLimits
    max_slippage_pct: Decimal | None
    splits: list[LoadedSplit]


def backtest_figures(setup: SearchSetup, params: dict[str, Any], window: Window, arrays: CandleArrays) -> dict[str, Any]:
    config = BacktestConfig(
        market=setup.market,
        unit=setup.unit,
        strategy=setup.strategy,
        params=params,
        start=window.start,
        end=window.end,
        initial_krw=setup.initial_krw,
        limits=setup.limits,
        fees=setup.fees,
        max_slippage_pct=setup.max_slippage_pct,
    )
    result = run_backtest(config, arrays)
    return summary(result.metrics, result.round_trip_pnls, setup.objective)


def _mean_figures(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """The folds' figures averaged, key by key (the ones that are numbers in every fold)."""
    keys = [key for key, value in figures[0].items() if isinstance(value, int | float)]
    return {
        key: fmean(float(figure[key]) for figure in figures)
        for key in keys
        if all(isinstance(figure.get(key), int | float) for figure in figures)
    }


def evaluate(setup: SearchSetup, params: dict[str, Any]) -> dict[str, Any]:
    """Backtest `params` (validated) on every split: the training figures, the test figures and, with folds, each fold's."""
    folds = []
    for loaded in setup.splits:
        train = backtest_figures(setup, params, loaded.split.train, loaded.train)
        test = backtest_figures(setup, params, loaded.split.test, loaded.test)
        folds.append({"train": train, "test": test})
    if len(folds) == 1:
        return {"train": folds[0]["train"], "test": folds[0]["test"], "folds": []}
    return {
        "train": _mean_figures([fold["train"] for fold in folds]),
        "test": _mean_figures([fold["test"] for fold in folds]),
        "folds": folds,
    }


def _finished_with(study: optuna.Study, params: dict[str, Any]) -> optuna.trial.FrozenTrial | None:
    for finished in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if finished.params == params:
            return finished
    return None


def objective(setup: SearchSetup, trial: optuna.Trial) -> float:
    """Optuna's objective: the training objective; the test figures go along as user attributes.

    A combination the strategy refuses (e.g. MACD fast >= slow) is pruned with the reason: it counts as a
    trial done, so a space full of invalid combinations still ends."""
    drawn = suggest(trial, setup.dimensions)
    earlier = _finished_with(trial.study, drawn)
    if earlier is not None and earlier.value is not None:
        # The sampler drew parameters already backtested (it does, once it narrows in on whole numbers): the
        # backtests are deterministic, so the earlier trial's figures are this one's.
        for key in ("train", "test", "folds"):
            if key in earlier.user_attrs:
                trial.set_user_attr(key, earlier.user_attrs[key])
        trial.set_user_attr("repeat_of", earlier.number)
        return float(earlier.value)
    try:
        params = validate_params(setup.strategy, {**setup.fixed_params, **drawn})
    except InvalidParams as error:
        trial.set_user_attr("invalid", str(error)[:300])
        raise optuna.TrialPruned(str(error)) from None
    started = time.perf_counter()
    figures = evaluate(setup, params)
    trial.set_user_attr("backtest_sec", round(time.perf_counter() - started, 4))
    trial.set_user_attr("train", figures["train"])
    trial.set_user_attr("test", figures["test"])
    if figures["folds"]:
        trial.set_user_attr("folds", figures["folds"])
    return float(figures["train"]["objective"])
