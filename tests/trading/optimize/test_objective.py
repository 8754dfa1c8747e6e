from __future__ import annotations

import io
from decimal import Decimal

import pytest

from trading.optimize.objective import PROFIT_FACTOR_CAP, calmar, collapsed, profit_factor
from trading.optimize.report import ProgressLine


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
