"""Protective exits on hand-worked numbers: the level each rule sits at, its order, and the sentence it writes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading.strategies import Reason, validate_params
from trading.strategies.protective import ProtectiveRules

D = Decimal


def rules(**params):
    return ProtectiveRules.from_params(validate_params("sma_cross", {"fast": 2, "slow": 4, **params}))


def test_stop_loss_fires_at_the_level_and_not_above():
    stop = rules(stop_loss_pct=50)  # 100 × (1 - 0.5) = 50
    fired = stop.check(avg_buy_price=100.0, peak=100.0, price=50.0)
    assert fired is not None
    assert fired.reason == Reason.STOP_LOSS
    assert fired.level == 50.0
    assert stop.check(avg_buy_price=100.0, peak=100.0, price=50.01) is None


def test_take_profit_fires_at_the_target_and_not_below():
    target = rules(take_profit_pct="25")  # 100 × 1.25 = 125
    fired = target.check(avg_buy_price=100.0, peak=125.0, price=125.0)
    assert fired is not None
    assert fired.reason == Reason.TAKE_PROFIT
    assert fired.level == 125.0
    assert target.check(avg_buy_price=100.0, peak=124.0, price=124.0) is None


def test_trailing_stop_measures_from_the_peak_and_only_falls_from_it():
    trailing = rules(trailing_stop_pct=20)  # peak 150 → 120
    fired = trailing.check(avg_buy_price=100.0, peak=150.0, price=120.0)
    assert fired is not None
    assert fired.reason == Reason.TRAILING_STOP
    assert fired.level == pytest.approx(120.0)
    assert trailing.check(avg_buy_price=100.0, peak=150.0, price=121.0) is None
    # A rising price raises the peak with it: the price is never below its own 80 %.
    assert trailing.check(avg_buy_price=100.0, peak=200.0, price=200.0) is None


def test_the_stop_is_taken_before_the_target_and_the_trailing_stop():
    both = rules(stop_loss_pct=10, take_profit_pct=10, trailing_stop_pct=5)
    fired = both.check(avg_buy_price=100.0, peak=120.0, price=90.0)
    assert fired is not None
    assert fired.reason == Reason.STOP_LOSS


def test_no_rule_no_exit_and_nothing_held_never_fires():
    assert not rules().active
    assert rules().check(avg_buy_price=100.0, peak=100.0, price=1.0) is None
    assert rules(stop_loss_pct=10).check(avg_buy_price=0.0, peak=0.0, price=1.0) is None


def test_the_exit_decision_says_which_rule_fired_with_its_numbers():
    params = validate_params("sma_cross", {"fast": 2, "slow": 4, "trailing_stop_pct": 3})
    fired = ProtectiveRules.from_params(params).check(avg_buy_price=100_000_000.0, peak=110_000_000.0, price=106_000_000.0)
    assert fired is not None
    decision = fired.decision(params)
    assert (str(decision.action), decision.reason, decision.is_exit_rule) == ("SELL", Reason.TRAILING_STOP, True)
    assert "trailing stop 3%" in decision.explanation
    assert "110,000,000" in decision.explanation
    values = decision.values
    assert values["rule"] == "trailing_stop"
    assert values["peak"] == D("110000000")
    assert values["level"] == D("106700000")
    assert values["price"] == D("106000000")
    assert values["trailing_stop_pct"] == D("3")
