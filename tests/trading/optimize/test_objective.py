from __future__ import annotations

import io
from decimal import Decimal

import pytest

from tests.factories import OptimizationStudyFactory, OptimizationTrialFactory
from trading.optimize.objective import PROFIT_FACTOR_CAP, calmar, collapsed, profit_factor
from trading.optimize.report import ProgressLine, result_lines


def test_profit_factor_is_gross_profit_over_gross_loss_capped_and_zero_without_trips():
    assert profit_factor([Decimal("300"), Decimal("-100"), Decimal("-50"), Decimal("0")]) == pytest.approx(2.0)
    assert profit_factor([Decimal("10")]) == PROFIT_FACTOR_CAP
    assert profit_factor([]) == 0.0
    assert profit_factor([Decimal("0")]) == 0.0


class _Metrics:
    def __init__(self, cagr, total_return, max_drawdown):
        self.cagr, self.total_return, self.max_drawdown = cagr, total_return, max_drawdown


def test_calmar_divides_cagr_by_the_drawdown_floored_at_one_percent():
    assert calmar(_Metrics(0.30, 0.2, 0.10)) == pytest.approx(3.0)
    assert calmar(_Metrics(0.05, 0.04, 0.001)) == pytest.approx(5.0)  # floored: 0.05 / 0.01
    assert calmar(_Metrics(None, 0.02, 0.04)) == pytest.approx(0.5)  # under a day: total return


@pytest.mark.parametrize(
    ("train", "test", "collapses"),
    [
        (2.0, 1.2, False),
        (2.0, 0.99, True),  # below half
        (2.0, -0.1, True),  # the sign flipped
        (2.0, 0.0, True),
        (-1.0, -3.0, False),  # nothing to collapse from
        (0.0, -1.0, False),
        (1.0, None, False),
    ],
)
def test_a_test_result_collapses_below_half_of_a_positive_training_result_or_on_a_sign_flip(train, test, collapses):
    assert collapsed(train, test) is collapses


def test_the_progress_line_is_rewritten_in_place_with_the_time_left_at_the_current_pace():
    stream, now = io.StringIO(), [100.0]
    line = ProgressLine(stream, total=10, objective="sharpe", done_at_start=2, clock=lambda: now[0])
    line.show(2, None, None)
    now[0] = 130.0
    line.show(5, 1.23456, 4)
    line.close()
    first, second = stream.getvalue().split("\r")[1:]
    assert first.startswith("[####")
    assert "2/10 trials" in first
    assert "? left" in first
    # Three trials in 30 s: the five left take 50 s.
    assert "5/10 trials · best sharpe 1.235 (#4) · 0:30 elapsed, 0:50 left" in second
    assert stream.getvalue().endswith("\n")


@pytest.mark.django_db
def test_the_result_lists_train_and_test_side_by_side_and_warns_for_each_collapse():
    study = OptimizationStudyFactory(objective="sharpe", trials_done=3, importance={"fast": 0.7, "slow": 0.3})
    steady = OptimizationTrialFactory(study=study, number=1, value=2.0, test_value=1.5, params={"fast": 8, "slow": 40})
    fading = OptimizationTrialFactory(study=study, number=2, value=1.8, test_value=0.5, collapsed=True, params={"fast": 5})
    lines = result_lines(study, [steady, fading])
    text = "\n".join(lines)
    row = next(line for line in lines if line.strip().startswith("#1"))
    assert row.split()[:3] == ["#1", "2.000", "1.500"]
    assert "warning: trial #2's test sharpe 0.500 collapses against its training 1.800" in text
    assert "trial #1's test" not in text
    assert "parameter importance: fast 0.70, slow 0.30" in text
