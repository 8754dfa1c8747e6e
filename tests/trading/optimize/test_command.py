"""`manage.py optimize` in this process, on four months of real hourly candles."""

from __future__ import annotations

import optuna
import pytest

from tests.factories import StrategyConfigFactory
from tests.trading.optimize.conftest import MACD, SPLIT, optimize
from trading.models import Candle, OptimizationStudy, OptimizationTrial
from trading.optimize.objective import collapsed
from trading.optimize.storage import open_storage

pytestmark = pytest.mark.django_db


def stored(start, end) -> int:
    return Candle.objects.filter(market="KRW-BTC", unit=60, ts__gte=start, ts__lt=end).count()


def trial_rows(name: str) -> list[tuple[int, str, dict, float | None, float | None]]:
    return list(
        OptimizationTrial.objects.filter(study__name=name)
        .order_by("number")
        .values_list("number", "state", "params", "value", "test_value")
    )


def test_a_seeded_study_is_reproducible(hourly):
    for name in ("first", "second"):
        run = optimize(*MACD, *SPLIT, "--trials", "8", "--seed", "3", "--study", name)
        assert run.code == 0, run.err
    first, second = OptimizationStudy.objects.get(name="first"), OptimizationStudy.objects.get(name="second")
    assert (first.best_params, first.best_value) == (second.best_params, second.best_value)
    assert first.best_value is not None
    assert trial_rows("first") == trial_rows("second")
    assert len({str(row[2]) for row in trial_rows("first")}) > 1  # the sampler did search


def test_a_study_keeps_train_and_test_figures_best_trials_and_importance(hourly):
    run = optimize(*MACD, *SPLIT, "--trials", "8", "--seed", "1", "--study", "kept", "--objective", "return")
    assert run.code == 0, run.err
    study = OptimizationStudy.objects.get(name="kept")
    assert (study.state, study.trials_done, study.n_trials, study.unit) == ("FINISHED", 8, 8, 60)
    trials = list(study.trials.order_by("number"))
    assert [trial.number for trial in trials] == list(range(8))
    complete = [trial for trial in trials if trial.state == "COMPLETE"]
    assert complete
    for trial in complete:
        assert trial.value == pytest.approx(trial.train_metrics["return"])
        assert trial.test_value == pytest.approx(trial.test_metrics["return"])
        assert trial.train_metrics["candles"] == stored(study.train_from, study.train_to)
        assert trial.test_metrics["candles"] == stored(study.test_from, study.test_to)
    for trial in trials:
        if trial.state == "PRUNED":  # MACD refuses fast >= slow
            assert "must be less than slow" in trial.note
    best = max(complete, key=lambda trial: (trial.value, -trial.number))
    assert study.best_trial_number == best.number
    assert study.best_params == {**study.fixed_params, **best.params}
    assert study.best_params["candle_unit"] == 60
    assert set(study.importance) <= {"fast", "slow", "signal"}
    assert "<svg" in study.chart_svg
    assert f"#{best.number}" in run.out
    assert "best parameters:" in run.out
    # Each of the five best trials is warned about exactly when its test result collapses.
    top = sorted(complete, key=lambda trial: (-trial.value, trial.number))[:5]
    for trial in top:
        assert trial.collapsed is collapsed(trial.value, trial.test_value)
        assert (f"warning: trial #{trial.number}'s test return" in run.out) is trial.collapsed


def test_running_the_same_command_again_resumes_the_study(hourly):
    assert optimize(*MACD, *SPLIT, "--trials", "3", "--seed", "5").code == 0
    study = OptimizationStudy.objects.get()
    assert study.trials_done == 3
    run = optimize(*MACD, *SPLIT, "--trials", "5", "--seed", "5")
    assert run.code == 0, run.err
    study.refresh_from_db()
    assert OptimizationStudy.objects.count() == 1
    assert (study.trials_done, study.n_trials) == (5, 5)
    assert [row[0] for row in trial_rows(study.name)] == [0, 1, 2, 3, 4]
    assert "5/5 trials" not in run.out  # the progress line goes to stderr


def test_rolling_folds_report_the_test_per_fold(hourly):
    run = optimize(*MACD, *SPLIT, "--trials", "3", "--seed", "2", "--folds", "2", "--study", "folds")
    assert run.code == 0, run.err
    for trial in OptimizationTrial.objects.filter(study__name="folds", state="COMPLETE"):
        assert len(trial.folds) == 2
        train = [fold["train"]["objective"] for fold in trial.folds]
        assert trial.value == pytest.approx(sum(train) / 2)
        assert trial.test_value == pytest.approx(sum(fold["test"]["objective"] for fold in trial.folds) / 2)
    assert "per fold" in run.out


def test_the_stored_strategy_parameters_are_the_base_of_the_search(hourly):
    StrategyConfigFactory(strategy="macd", params={"fast": 12, "slow": 26, "signal": 9, "stop_loss_pct": "2"})
    assert optimize("--strategy", "macd", "--space", "fast=3:9", *SPLIT, "--trials", "2", "--seed", "1").code == 0
    study = OptimizationStudy.objects.get()
    assert study.fixed_params["slow"] == 26
    assert str(study.fixed_params["stop_loss_pct"]) == "2"
    assert "fast" not in study.fixed_params


BAD = {
    "unknown strategy": (["--strategy", "nope", "--space", "fast=3:9", *SPLIT], "unknown strategy 'nope'"),
    "unknown parameter": (["--strategy", "macd", "--space", "speed=3:9", *SPLIT], "no parameter 'speed'"),
    "out of spec": (["--strategy", "macd", "--space", "fast=0:9", *SPLIT], "out of range"),
    "inverted range": (["--strategy", "macd", "--space", "fast=9:3", *SPLIT], "inverted"),
    "empty range": (["--strategy", "macd", "--space", "fast=9:9", *SPLIT], "empty"),
    "overlapping periods": (
        [*MACD, "--unit", "60", "--train", "2024-12-01..2025-01-31", "--test", "2025-01-15..2025-03-31"],
        "overlap",
    ),
    "no candles in the test period": (
        [*MACD, "--unit", "60", "--train", "2024-12-01..2025-01-31", "--test", "2025-04-01..2025-04-30"],
        "test period: no KRW-BTC 60m candles",
    ),
    "unknown objective": ([*MACD, *SPLIT, "--objective", "luck"], "--objective 'luck'"),
    "study name too long": ([*MACD, *SPLIT, "--study", "x" * 201], "--study: give a name of 1 to 200 characters"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_with_one_line_and_stores_nothing(hourly, case, study_journal):
    args, says = BAD[case]
    run = optimize(*args, "--trials", "3")
    assert run.code == 2
    assert says in run.err
    assert "\n" not in run.err
    assert not OptimizationStudy.objects.exists()
    assert not OptimizationTrial.objects.exists()
    assert not study_journal.exists() or not optuna.get_all_study_names(open_storage())


def test_each_problem_gets_its_own_line(hourly):
    run = optimize("--strategy", "macd", "--space", "fast=9:3", "--unit", "60", "--train", "x", "--test", "y", "--trials", "0")
    assert run.code == 2
    assert len(run.err.splitlines()) == 4  # trials, space, train, test
    assert not OptimizationStudy.objects.exists()


def test_a_study_name_that_searches_something_else_is_refused(hourly):
    assert optimize(*MACD, *SPLIT, "--trials", "2", "--study", "taken").code == 0
    run = optimize("--strategy", "macd", "--space", "fast=3:5", *SPLIT, "--trials", "2", "--study", "taken")
    assert run.code == 2
    assert "searches something else" in run.err
    assert OptimizationTrial.objects.filter(study__name="taken").count() == 2


def test_parameters_drawn_again_take_the_earlier_trials_figures(hourly):
    run = optimize("--strategy", "macd", "--space", "fast=3,4", *SPLIT, "--trials", "6", "--seed", "1", "--study", "small")
    assert run.code == 0, run.err
    trials = list(OptimizationTrial.objects.filter(study__name="small").order_by("number"))
    assert len(trials) == 6
    first = {}
    for trial in trials:
        earlier = first.setdefault(trial.params["fast"], trial)
        if earlier is trial:
            assert trial.note == ""
        else:
            assert trial.note.startswith(f"the parameters of trial #{earlier.number}")
            figures = (earlier.value, earlier.test_value, earlier.train_metrics)
            assert (trial.value, trial.test_value, trial.train_metrics) == figures
    assert len(first) == 2
