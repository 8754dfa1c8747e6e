from __future__ import annotations

import pytest

from trading.optimize.space import SpaceError, parse_dimension, parse_space


def test_whole_number_float_and_list_specs_become_their_kind():
    dimensions = parse_space("volatility_breakout", ["k=0.2:0.8", "stop_loss_pct=0,1.5,3"])
    assert [d.as_dict() for d in dimensions] == [
        {"kind": "float", "low": 0.2, "high": 0.8},
        {"kind": "choice", "choices": ["0", "1.5", "3"]},
    ]
    assert parse_dimension("macd", "fast=5:30").as_dict() == {"kind": "int", "low": 5, "high": 30}
    assert parse_dimension("macd", "signal=5,9,12").as_dict() == {"kind": "choice", "choices": [5, 9, 12]}


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ("nope=1:5", "macd has no parameter 'nope'"),
        ("fast=0:10", "fast=0"),
        ("slow=20:99999", "out of range"),
        ("fast=30:5", "inverted"),
        ("fast=5:5", "empty"),
        ("fast=1.5:9", "whole number"),
        ("fast", "is not NAME=LOW:HIGH"),
        ("fast=5,5", "listed twice"),
        ("fast=5", "one value is not a search"),
        ("candle_unit=1,60", "cannot be searched"),
    ],
)
def test_a_space_the_strategy_does_not_allow_is_refused_with_the_reason(item, says):
    with pytest.raises(SpaceError) as caught:
        parse_dimension("macd", item)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_parameter_searched_twice_or_no_space_is_refused():
    with pytest.raises(SpaceError, match="given twice"):
        parse_space("macd", ["fast=5:10", "fast=6:12"])
    with pytest.raises(SpaceError, match="at least one --space"):
        parse_space("macd", [])
