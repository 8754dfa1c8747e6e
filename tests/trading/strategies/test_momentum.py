"""The RSI momentum strategy, and the ATR every strategy prepares for the ATR rules."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tests.trading.strategies.test_strategies import holding, make_arrays, real_hourly_candles
from trading.strategies import Action, InvalidParams, Reason, get_strategy, validate_params
from trading.strategies.base import atr_min_candles, uses_atr
from trading.strategies.indicators import CandleArrays, atr, rsi

# RSI(2) by hand. 21 flat candles at 100 (no gains, no losses: RSI 50), then:
#   i21 close 90 (-10): avg gain (0*1 + 0)/2 = 0, avg loss (0*1 + 10)/2 = 5     -> RSI 0
#   i22 close 80 (-10): gain 0, loss (5 + 10)/2 = 7.5                           -> RSI 0
#   i23 close 84 (+4):  gain (0 + 4)/2 = 2, loss 7.5/2 = 3.75, RS 0.5333          -> RSI 34.78: crosses up through 30
#   i24 close 90 (+6):  gain (2 + 6)/2 = 4, loss 1.875, RS 2.1333                -> RSI 68.09
#   i25 close 93 (+3):  gain (4 + 3)/2 = 3.5, loss 0.9375, RS 3.7333             -> RSI 78.87: crosses up through 70
#   i26 close 93 (0):   gain 1.75, loss 0.46875, RS 3.7333                       -> RSI 78.87, no cross
CLOSES = [100.0] * 21 + [90.0, 80.0, 84.0, 90.0, 93.0, 93.0]
PARAMS = {"rsi_period": 2}
RSI_23 = 100 - 100 / (1 + 2 / 3.75)
RSI_24 = 100 - 100 / (1 + 4 / 1.875)
RSI_25 = 100 - 100 / (1 + 3.5 / 0.9375)


def prepared(closes=CLOSES, params=PARAMS):
    strategy = get_strategy("momentum")
    return strategy, strategy.prepare(make_arrays(closes), params)


def test_rsi_of_the_hand_series():
    got = rsi(CLOSES, 2)
    assert got[2:21].tolist() == [50.0] * 19
    assert got[21:].tolist() == pytest.approx([0.0, 0.0, RSI_23, RSI_24, RSI_25, RSI_25], rel=1e-12)


def test_buys_where_the_rsi_leaves_oversold_and_sells_where_it_reaches_overbought():
    strategy, p = prepared()
    flat = [i for i in range(len(CLOSES)) if strategy.decide(p, i).action == Action.BUY]
    assert flat == [23]
    sells = [i for i in range(len(CLOSES)) if strategy.decide(p, i, holding()).action == Action.SELL]
    assert sells == [25]
    assert strategy.decide(p, 25, holding()).reason == Reason.EXIT_SIGNAL
    assert strategy.decide(p, 25).reason == Reason.NOTHING_TO_SELL


def test_entry_explanation_values_and_score():
    strategy, p = prepared()
    decision = strategy.decide(p, 23)
    assert (decision.action, decision.reason) == (Action.BUY, Reason.ENTRY)
    assert decision.explanation == "BUY: RSI(2) 34.78 crossed above oversold 30 (previous candle: 0.00 <= 30)"
    assert decision.values["rsi"] == Decimal("34.7826087")
    assert decision.values["rsi_prev"] == Decimal("0")
    assert (decision.values["oversold"], decision.values["overbought"]) == (Decimal("30"), Decimal("70"))
    # score: the levels' midpoint 50 minus the RSI, in RSI points
    assert decision.score == Decimal("15.2173913")


def test_exit_and_idle_explanations():
    strategy, p = prepared()
    sell = strategy.decide(p, 25, holding())
    assert "RSI(2) 78.87 crossed above overbought 70 (previous candle: 68.09 <= 70)" in sell.explanation
    assert sell.score == Decimal("-28.87323944")
    assert strategy.decide(p, 24).explanation == "HOLD: RSI(2) 68.09 is between oversold 30 and overbought 70, no cross"
    assert strategy.decide(p, 26).explanation == "HOLD: RSI(2) 78.87 is at or above overbought 70, no cross"
    assert strategy.decide(p, 22).explanation == "HOLD: RSI(2) 0.00 is at or below oversold 30, no cross"


def test_levels_are_parameters():
    strategy, p = prepared(params={"rsi_period": 2, "oversold": "40", "overbought": "80"})
    # 34.78 is still below 40; 68.09 on the next candle crosses it. 78.87 never reaches 80.
    assert [i for i in range(len(CLOSES)) if strategy.decide(p, i).action == Action.BUY] == [24]
    assert [i for i in range(len(CLOSES)) if strategy.decide(p, i, holding()).action == Action.SELL] == []
    strategy, p = prepared(params={"rsi_period": 2, "oversold": "20", "overbought": "65"})
    assert [i for i in range(len(CLOSES)) if strategy.decide(p, i).action == Action.BUY] == [23]
    assert [i for i in range(len(CLOSES)) if strategy.decide(p, i, holding()).action == Action.SELL] == [24]


def test_a_jump_from_oversold_to_overbought_is_an_exit_not_an_entry():
    # RSI(2): 0, 0, then +100 against an average loss of 7.5: gain 50, loss 3.75 -> RSI 93.
    closes = [100.0] * 21 + [90.0, 80.0, 180.0]
    strategy, p = prepared(closes)
    assert strategy.decide(p, 23).action == Action.HOLD
    assert strategy.decide(p, 23, holding()).action == Action.SELL


def test_warmup_is_ten_periods():
    strategy = get_strategy("momentum")
    assert strategy.min_candles() == 141
    assert strategy.min_candles(PARAMS) == 21
    _, p = prepared()
    assert p.ready_from == 20
    # The same cross 10 candles earlier falls in the warm-up.
    early = CLOSES[10:]
    decision = strategy.decide(strategy.prepare(make_arrays(early), PARAMS), 13)
    assert (decision.action, decision.reason) == (Action.HOLD, Reason.WARMUP)
    assert "14 of 21 candles" in decision.explanation


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"oversold": 70}, "momentum: parameter oversold=70 must be less than overbought=70"),
        ({"oversold": "80", "overbought": "60"}, "momentum: parameter oversold=80 must be less than overbought=60"),
        ({"oversold": 0}, "parameter oversold=0 is out of range; use a number more than 0 and less than 100"),
        ({"overbought": 100}, "parameter overbought=100 is out of range"),
        ({"rsi_period": 1}, "parameter rsi_period=1 is out of range; use a whole number at least 2 and at most 1000"),
        ({"rsi_period": "fourteen"}, "parameter rsi_period='fourteen' is not a whole number"),
        ({"candle_unit": 7}, "parameter candle_unit=7 is not allowed"),
    ],
)
def test_invalid_params(params, message):
    with pytest.raises(InvalidParams) as caught:
        validate_params("momentum", params)
    assert message in str(caught.value)


def test_defaults():
    params = validate_params("momentum", {})
    assert (params["rsi_period"], params["oversold"], params["overbought"], params["candle_unit"]) == (
        14,
        Decimal("30"),
        Decimal("70"),
        60,
    )


def test_prepare_on_all_candles_equals_deciding_on_each_prefix():
    """The vectorised RSI over everything agrees with recomputing it, candle by candle, on what was known then."""
    candles = real_hourly_candles()[:400]
    arrays = CandleArrays.from_candles(candles)
    strategy = get_strategy("momentum")
    params = {"rsi_period": 6, "oversold": 35, "overbought": 65}
    p = strategy.prepare(arrays, params)
    position = holding(volume="0.01", price="140000000")
    actions = []
    for i in range(len(arrays)):
        prefix = arrays.window(i + 1)
        assert strategy.signal(prefix, None, params) == strategy.decide(p, i)
        assert strategy.signal(prefix, position, params).action == strategy.decide(p, i, position).action
        actions.append(strategy.decide(p, i).action)
    assert Action.BUY in actions


def test_decisions_follow_a_plain_per_candle_rsi_rule_on_real_data():
    candles = real_hourly_candles()
    closes = [float(c.close) for c in candles]
    period, low, high = 14, 30.0, 70.0
    values = rsi(closes, period)  # checked against a plain loop and pandas in test_indicators_wilder.py
    ready = 10 * period
    buys, sells = [], []
    for i in range(ready, len(closes)):
        if values[i] > high and values[i - 1] <= high:
            sells.append(i)
        elif values[i] > low and values[i - 1] <= low:
            buys.append(i)
    strategy = get_strategy("momentum")
    p = strategy.prepare(CandleArrays.from_candles(candles))
    assert [i for i in range(len(closes)) if strategy.decide(p, i).action == Action.BUY] == buys
    assert [i for i in range(len(closes)) if strategy.decide(p, i, holding()).action == Action.SELL] == sells
    assert len(buys) > 5
    assert len(sells) > 5


# ---------------------------------------------------------------------------------------------------
# The ATR rules' parameters and the ATR every strategy prepares for them
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["macd", "sma_cross", "volatility_breakout", "momentum"])
def test_atr_is_prepared_only_when_a_rule_reads_it(name):
    candles = real_hourly_candles()[:200]
    arrays = CandleArrays.from_candles(candles)
    strategy = get_strategy(name)
    assert "atr" not in strategy.prepare(arrays).series
    for params in ({"atr_stop_mult": "2"}, {"max_volatility_pct": "1.5", "atr_period": 5}):
        p = strategy.prepare(arrays, params)
        expected = atr(arrays.high, arrays.low, arrays.close, p.params["atr_period"])
        assert np.array_equal(p.series["atr"], expected, equal_nan=True)
        assert np.array_equal(np.array(p.lists["atr"]), expected, equal_nan=True)


def test_atr_parameters_validate_like_the_others():
    params = validate_params("macd", {"atr_stop_mult": "2.5", "atr_trailing": "1", "max_volatility_pct": 3})
    assert (params["atr_stop_mult"], params["atr_trailing"], params["max_volatility_pct"]) == (
        Decimal("2.5"),
        1,
        Decimal("3"),
    )
    off = validate_params("macd", {"atr_stop_mult": 0, "max_volatility_pct": None})
    assert off["atr_stop_mult"] is None
    assert off["max_volatility_pct"] is None
    assert not uses_atr(off)
    assert atr_min_candles(off) == 0
    assert uses_atr(params)
    assert atr_min_candles(params) == 140
    assert atr_min_candles(validate_params("macd", {"max_volatility_pct": 2, "atr_period": 20})) == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"atr_period": 0}, "parameter atr_period=0 is out of range; use a whole number at least 1 and at most 1000"),
        ({"atr_stop_mult": -1}, "parameter atr_stop_mult=-1 is out of range; use a number more than 0 and at most 100"),
        ({"atr_stop_mult": "abc"}, "parameter atr_stop_mult='abc' is not a number"),
        ({"atr_trailing": 2}, "parameter atr_trailing=2 is not allowed; use one of 0, 1"),
        ({"atr_trailing": True}, "parameter atr_trailing=True is a boolean"),
        ({"max_volatility_pct": "101"}, "parameter max_volatility_pct='101' is out of range"),
    ],
)
def test_invalid_atr_parameters(params, message):
    with pytest.raises(InvalidParams) as caught:
        validate_params("sma_cross", params)
    assert message in str(caught.value)
