from __future__ import annotations

import csv
import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.serializers.json import DjangoJSONEncoder

from exchange.types import Candle
from trading.strategies import STRATEGIES, Action, Decision, InvalidParams, Position, Reason, get_strategy, validate_params
from trading.strategies.indicators import CandleArrays

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DAY = 86400
T0 = 1_733_011_200  # 2024-12-01 00:00 UTC, a candle-day boundary (09:00 KST)


def make_arrays(closes, *, highs=None, lows=None, opens=None, unit_sec=60, t0=T0, starts=None):
    closes = [float(c) for c in closes]
    return CandleArrays.from_columns(
        open=opens if opens is not None else closes,
        high=highs if highs is not None else closes,
        low=lows if lows is not None else closes,
        close=closes,
        start=starts if starts is not None else [t0 + i * unit_sec for i in range(len(closes))],
        unit_sec=unit_sec,
    )


def real_hourly_candles() -> list[Candle]:
    """The real KRW-BTC hourly excerpt (Dec 2024 - Mar 2025, pyupbit layout: naive KST index)."""
    kst = ZoneInfo("Asia/Seoul")
    with (FIXTURES / "upbit-krw-btc-60m-excerpt.csv").open() as handle:
        return [
            Candle(
                market="KRW-BTC",
                unit=60,
                start=datetime.fromisoformat(row[""]).replace(tzinfo=kst).astimezone(UTC),
                open=Decimal(row["open"]),
                high=Decimal(row["high"]),
                low=Decimal(row["low"]),
                close=Decimal(row["close"]),
                volume=Decimal(row["volume"]),
            )
            for row in csv.DictReader(handle)
        ]


def loop_ema(values, period):
    alpha = 2 / (period + 1)
    out = [values[0]]
    for x in values[1:]:
        out.append(out[-1] + alpha * (x - out[-1]))
    return out


def holding(volume="1000", price="100", *, entry_at=None, highest=None) -> Position:
    return Position(
        volume=Decimal(volume),
        avg_buy_price=Decimal(price),
        entry_at=entry_at,
        highest_price=None if highest is None else Decimal(highest),
    )


# ---------------------------------------------------------------------------------------------------
# SMA cross: hand-checked series
# ---------------------------------------------------------------------------------------------------
# SMA(2):        i3 10, i4 9.5, i5 8.5, i6 8.5, i7 10.5, i8 12.5, i9 13.5, i10 11.5
# SMA(4):        i3 10, i4 9.75, i5 9.25, i6 9,  i7 9.5,  i8 10.5, i9 12,   i10 12
# fast - slow:   i3 0,  i4 -.25, i5 -.75, i6 -.5, i7 +1,  i8 +2,   i9 +1.5, i10 -.5
SMA_CLOSES = [10, 10, 10, 10, 9, 8, 9, 12, 13, 14, 9]
SMA_PARAMS = {"fast": 2, "slow": 4}


def test_sma_cross_buys_only_at_the_upward_cross():
    strategy = get_strategy("sma_cross")
    prepared = strategy.prepare(make_arrays(SMA_CLOSES), SMA_PARAMS)
    actions = [strategy.decide(prepared, i).action for i in range(len(SMA_CLOSES))]
    assert [i for i, action in enumerate(actions) if action == Action.BUY] == [7]
    assert set(actions) == {Action.BUY, Action.HOLD}  # flat: a downward cross is no sell


def test_sma_cross_explanation_names_the_values():
    strategy = get_strategy("sma_cross")
    decision = strategy.decide(strategy.prepare(make_arrays(SMA_CLOSES), SMA_PARAMS), 7)
    assert decision.reason == Reason.ENTRY
    assert "SMA(2) 10.50 crossed above SMA(4) 9.50" in decision.explanation
    assert "(previous candle: 8.50 <= 9)" in decision.explanation
    assert decision.values["sma_fast"] == Decimal("10.5")
    assert decision.values["sma_slow"] == Decimal("9.5")
    assert decision.score == Decimal("10.52631579")  # (10.5 - 9.5) / 9.5 * 100


def test_sma_cross_sells_a_position_at_the_downward_cross():
    strategy = get_strategy("sma_cross")
    prepared = strategy.prepare(make_arrays(SMA_CLOSES), SMA_PARAMS)
    position = holding()
    assert strategy.decide(prepared, 9, position).action == Action.HOLD
    decision = strategy.decide(prepared, 10, position)
    assert (decision.action, decision.reason) == (Action.SELL, Reason.EXIT_SIGNAL)
    assert "SMA(2) 11.50 crossed below SMA(4) 12" in decision.explanation


def test_downward_cross_while_flat_is_a_hold_that_says_why():
    strategy = get_strategy("sma_cross")
    decision = strategy.decide(strategy.prepare(make_arrays(SMA_CLOSES), SMA_PARAMS), 4)
    assert (decision.action, decision.reason) == (Action.HOLD, Reason.NOTHING_TO_SELL)
    assert "no position to sell" in decision.explanation


def test_entry_signal_while_holding_is_a_hold():
    strategy = get_strategy("sma_cross")
    decision = strategy.decide(strategy.prepare(make_arrays(SMA_CLOSES), SMA_PARAMS), 7, holding())
    assert (decision.action, decision.reason) == (Action.HOLD, Reason.HOLDING)
    assert "holding 1000 at an average 100" in decision.explanation


def test_dust_position_counts_as_flat():
    strategy = get_strategy("sma_cross")
    prepared = strategy.prepare(make_arrays(SMA_CLOSES), SMA_PARAMS)
    dust = holding(volume="1", price="10")  # 1 * 10.5 KRW: far below the 5,000 KRW minimum
    assert strategy.decide(prepared, 7, dust).action == Action.BUY


def test_warmup_holds_before_enough_candles():
    strategy = get_strategy("sma_cross")
    prepared = strategy.prepare(make_arrays([10, 12, 14]), SMA_PARAMS)
    decision = strategy.decide(prepared, 2)
    assert (decision.action, decision.reason) == (Action.HOLD, Reason.WARMUP)
    assert "3 of 5 candles" in decision.explanation
    assert strategy.min_candles(SMA_PARAMS) == 5


# ---------------------------------------------------------------------------------------------------
# MACD: crosses against an independent computation
# ---------------------------------------------------------------------------------------------------
def test_macd_buys_and_sells_exactly_where_the_lines_cross():
    falling = [100 - 2 * i for i in range(1, 8)]
    rising = [86 + 3 * i for i in range(1, 10)]
    shape = [100.0] * 40 + falling + rising + [113 - 4 * i for i in range(8)]
    closes = [1000.0 * c for c in shape]
    params = {"fast": 2, "slow": 4, "signal": 2}
    line = [a - b for a, b in zip(loop_ema(closes, 2), loop_ema(closes, 4), strict=True)]
    signal = loop_ema(line, 2)
    strategy = get_strategy("macd")
    ready = strategy.min_candles(params) - 1
    ups = [i for i in range(max(1, ready), len(closes)) if line[i] > signal[i] and line[i - 1] <= signal[i - 1]]
    downs = [i for i in range(max(1, ready), len(closes)) if line[i] < signal[i] and line[i - 1] >= signal[i - 1]]
    assert ups
    assert downs
    assert ups[0] < downs[-1]

    prepared = strategy.prepare(make_arrays(closes), params)
    flat = [i for i in range(len(closes)) if strategy.decide(prepared, i).action == Action.BUY]
    assert flat == ups
    sells = [i for i in range(len(closes)) if strategy.decide(prepared, i, holding()).action == Action.SELL]
    assert sells == downs

    decision = strategy.decide(prepared, ups[0])
    assert "crossed above its signal" in decision.explanation
    assert math.isclose(float(decision.values["macd"]), line[ups[0]], abs_tol=1e-8)
    assert math.isclose(float(decision.values["macd_signal"]), signal[ups[0]], abs_tol=1e-8)
    assert f"{line[ups[0]]:,.2f}" in decision.explanation
    assert f"{signal[ups[0]]:,.2f}" in decision.explanation


def test_macd_on_real_data_buys_at_every_upward_cross_after_warmup():
    candles = real_hourly_candles()
    closes = [float(c.close) for c in candles]
    line = [a - b for a, b in zip(loop_ema(closes, 12), loop_ema(closes, 26), strict=True)]
    signal = loop_ema(line, 9)
    strategy = get_strategy("macd")
    prepared = strategy.prepare(CandleArrays.from_candles(candles))
    ready = strategy.min_candles() - 1
    expected = [i for i in range(ready, len(closes)) if line[i] > signal[i] and line[i - 1] <= signal[i - 1]]
    got = [i for i in range(len(closes)) if strategy.decide(prepared, i).action == Action.BUY]
    assert len(expected) > 20
    assert got == expected


# ---------------------------------------------------------------------------------------------------
# Exits: the strategy's own exit only (stop-loss and friends are protective exits: test_protective.py)
# ---------------------------------------------------------------------------------------------------
FLAT = [100.0] * 10


def exit_decision(last_close, params, position, *, last_high=None):
    closes = [*FLAT, last_close]
    highs = [*FLAT, last_high if last_high is not None else last_close]
    strategy = get_strategy("sma_cross")
    prepared = strategy.prepare(make_arrays(closes, highs=highs), {"fast": 2, "slow": 4, **params})
    return strategy.decide(prepared, len(closes) - 1, position)


def test_decide_leaves_stops_and_targets_to_the_protective_exits():
    # A close 50 % under the entry with a 10 % stop-loss: decide gives the strategy's own exit, never the stop.
    assert exit_decision(50.0, {"stop_loss_pct": 10}, holding(volume="1000")).reason == Reason.EXIT_SIGNAL
    assert exit_decision(125.0, {"take_profit_pct": "5"}, holding()).action == Action.HOLD
    assert exit_decision(101.0, {"trailing_stop_pct": 1}, holding(highest="150")).action == Action.HOLD


def test_exits_are_off_when_zero_or_none():
    params = {"stop_loss_pct": 0, "take_profit_pct": None, "trailing_stop_pct": "0"}
    assert exit_decision(100.0, params, holding(highest="1000")).action == Action.HOLD
    assert validate_params("macd", params)["stop_loss_pct"] is None


def test_position_with_high_only_raises():
    position = holding(highest="150")
    assert position.with_high(Decimal("140")) is position
    assert position.with_high(Decimal("160")).highest_price == Decimal("160")


# ---------------------------------------------------------------------------------------------------
# Volatility breakout
# ---------------------------------------------------------------------------------------------------
def breakout_days(day1_closes, *, first_day_offset=0):
    """Day 0: 24 hourly candles ranging 90..110 (range 20). Day 1: opens at 100; target = 100 + 0.5 * 20 = 110."""
    opens, highs, lows, closes, starts = [], [], [], [], []
    for hour in range(first_day_offset, 24):
        opens.append(100.0)
        highs.append(110.0 if hour == 5 else 101.0)
        lows.append(90.0 if hour == 7 else 99.0)
        closes.append(100.0)
        starts.append(T0 + hour * 3600)
    for hour, close in enumerate(day1_closes):
        opens.append(100.0 if hour == 0 else closes[-1])
        highs.append(max(close, opens[-1]))
        lows.append(min(close, opens[-1]))
        closes.append(close)
        starts.append(T0 + DAY + hour * 3600)
    return make_arrays(closes, highs=highs, lows=lows, opens=opens, unit_sec=3600, starts=starts)


def test_volatility_breakout_buys_when_the_close_crosses_the_target():
    arrays = breakout_days([105, 111, 112, 108, 111])
    strategy = get_strategy("volatility_breakout")
    prepared = strategy.prepare(arrays, {"k": "0.5"})
    actions = [strategy.decide(prepared, i).action for i in range(len(arrays))]
    assert [i for i, a in enumerate(actions) if a == Action.BUY] == [25, 28]  # 111 crosses 110; 112 stays above; 111 again
    decision = strategy.decide(prepared, 25)
    assert "close 111 broke above the target 110 = day open 100 + 0.5 × yesterday's range 20" in decision.explanation
    assert decision.values["target"] == Decimal("110")
    assert decision.values["trading_day"] == "2024-12-02"


def test_volatility_breakout_k_scales_the_target():
    arrays = breakout_days([105, 111])
    strategy = get_strategy("volatility_breakout")
    assert strategy.decide(strategy.prepare(arrays, {"k": "0.2"}), 24).action == Action.BUY  # target 104
    assert strategy.decide(strategy.prepare(arrays, {"k": 1}), 25).action == Action.HOLD  # target 120


def test_volatility_breakout_never_enters_on_the_days_last_candle_and_sells_there():
    closes = [100.0] * 23 + [115.0]
    arrays = breakout_days(closes)
    strategy = get_strategy("volatility_breakout")
    prepared = strategy.prepare(arrays)
    last = len(arrays) - 1
    flat = strategy.decide(prepared, last)
    assert (flat.action, flat.reason) == (Action.HOLD, Reason.DAY_END)
    entry = datetime.fromtimestamp(T0 + DAY + 3 * 3600, tz=UTC)
    sell = strategy.decide(prepared, last, holding(price="100", entry_at=entry))
    assert (sell.action, sell.reason) == (Action.SELL, Reason.DAY_END)
    assert "next day's open" in sell.explanation
    assert strategy.decide(prepared, last - 1, holding(price="100", entry_at=entry)).action == Action.HOLD


def test_volatility_breakout_sells_a_position_from_an_earlier_day():
    arrays = breakout_days([100.0, 100.0])
    strategy = get_strategy("volatility_breakout")
    yesterday = datetime.fromtimestamp(T0 + 10 * 3600, tz=UTC)
    decision = strategy.decide(strategy.prepare(arrays), 25, holding(entry_at=yesterday))
    assert (decision.action, decision.reason) == (Action.SELL, Reason.DAY_CHANGED)


def test_volatility_breakout_needs_the_whole_previous_day():
    arrays = breakout_days([111.0], first_day_offset=1)  # day 0 starts at 01:00: its range is unknown
    strategy = get_strategy("volatility_breakout")
    decision = strategy.decide(strategy.prepare(arrays), len(arrays) - 1)
    assert (decision.action, decision.reason) == (Action.HOLD, Reason.NO_HISTORY)
    assert "complete previous day" in decision.explanation


def test_volatility_breakout_on_day_candles_never_buys():
    closes = [100.0, 130.0, 170.0, 220.0]
    arrays = make_arrays(closes, highs=[c * 1.1 for c in closes], lows=[c * 0.9 for c in closes], opens=[90.0] * 4, unit_sec=DAY)
    strategy = get_strategy("volatility_breakout")
    prepared = strategy.prepare(arrays)
    assert all(strategy.decide(prepared, i).action == Action.HOLD for i in range(4))


def test_volatility_breakout_on_real_hourly_data_matches_a_plain_reimplementation():
    candles = real_hourly_candles()
    k = 0.5
    # Group by the UTC date (= the Upbit candle day) and compute each day's target independently.
    by_day: dict = {}
    for c in candles:
        by_day.setdefault(c.start.date(), []).append(c)
    days = sorted(by_day)
    first_complete = by_day[days[0]][0].start.hour == 0
    target = {}
    for previous, day in itertools.pairwise(days):
        if (day - previous).days != 1 or (previous == days[0] and not first_complete):
            continue
        prev = by_day[previous]
        span = float(max(c.high for c in prev)) - float(min(c.low for c in prev))
        target[day] = float(by_day[day][0].open) + k * span
    expected = []
    in_position, entry_day = False, None
    for i, c in enumerate(candles):
        day, close = c.start.date(), float(c.close)
        last_hour = c.start.hour == 23
        if in_position:
            if last_hour or day != entry_day:
                expected.append((i, "SELL"))
                in_position = False
            continue
        t = target.get(day)
        if t is None or last_hour:
            continue
        prev_close = float(candles[i - 1].close) if i else None
        crossed = close > t and (i == 0 or candles[i - 1].start.date() != day or prev_close <= t)
        if crossed:
            expected.append((i, "BUY"))
            in_position = True
            entry_day = day

    strategy = get_strategy("volatility_breakout")
    prepared = strategy.prepare(CandleArrays.from_candles(candles), {"k": "0.5"})
    got = []
    position = None
    for i, c in enumerate(candles):
        decision = strategy.decide(prepared, i, position)
        if decision.action == Action.BUY:
            position = Position(volume=Decimal("1"), avg_buy_price=c.close, entry_at=c.start + timedelta(hours=1))
            got.append((i, "BUY"))
        elif decision.action == Action.SELL:
            position = None
            got.append((i, "SELL"))
    assert len(expected) > 10
    assert got == expected


# ---------------------------------------------------------------------------------------------------
# Live and backtest agree
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("position", [None, holding(volume="0.01", price="140000000")])
def test_signal_on_candles_equals_decide_on_prepared_arrays(name, position):
    candles = real_hourly_candles()[:400]
    strategy = get_strategy(name)
    params = {"trailing_stop_pct": 3} if position else {}
    live = strategy.signal(candles, position, params)
    backtest = strategy.decide(strategy.prepare(CandleArrays.from_candles(candles), params), len(candles) - 1, position)
    assert live == backtest
    assert live.explanation == backtest.explanation
    assert live.values == backtest.values


@pytest.mark.parametrize("name", ["macd", "momentum"])
def test_live_window_agrees_with_the_full_history_on_real_data(name):
    """The live engine passes its last min_candles candles; the backtest has everything before them too.

    Both strategies' averages are seeded from the first candle given: this is what their min_candles is for."""
    candles = real_hourly_candles()
    arrays = CandleArrays.from_candles(candles)
    strategy = get_strategy(name)
    window = strategy.min_candles()
    prepared = strategy.prepare(arrays)
    disagreements = [
        i
        for i in range(window - 1, len(arrays))
        if strategy.signal(arrays.window(i + 1, window)).action != strategy.decide(prepared, i).action
    ]
    assert disagreements == []


def test_decision_meta_is_json_ready():
    decision = get_strategy("macd").signal(real_hourly_candles()[:300])
    meta = decision.as_meta()
    text = json.dumps(meta, cls=DjangoJSONEncoder)
    assert json.loads(text)["action"] == str(decision.action)
    assert meta["values"]["candle_start"].endswith("+00:00")


def test_a_decision_made_by_hand_carries_its_own_explanation():
    manual = Decision(Action.BUY, Decimal("0"), "by hand", reason="manual")
    assert manual.values == {}
    assert manual.explanation == "by hand"
    assert manual.score == Decimal("0")
    assert not manual.is_exit_rule


def test_signal_without_candles_is_an_error():
    with pytest.raises(ValueError, match="no candles"):
        get_strategy("macd").signal([])


def test_decide_rejects_an_index_outside_the_candles():
    strategy = get_strategy("sma_cross")
    prepared = strategy.prepare(make_arrays(SMA_CLOSES), SMA_PARAMS)
    assert strategy.decide(prepared, -4).action == Action.BUY  # -4 is index 7
    with pytest.raises(IndexError):
        strategy.decide(prepared, len(SMA_CLOSES))


# ---------------------------------------------------------------------------------------------------
# Parameter validation
# ---------------------------------------------------------------------------------------------------
def test_defaults_are_merged_in():
    params = validate_params("macd", {"fast": 8})
    assert params == {
        "fast": 8,
        "slow": 26,
        "signal": 9,
        "candle_unit": 1,
        "take_profit_pct": None,
        "stop_loss_pct": None,
        "trailing_stop_pct": None,
        "atr_period": 14,
        "atr_stop_mult": None,
        "atr_trailing": 0,
        "max_volatility_pct": None,
    }
    assert validate_params("volatility_breakout", None)["k"] == Decimal("0.5")
    assert validate_params("volatility_breakout", {})["candle_unit"] == 60


def test_validation_is_idempotent_and_accepts_stored_json():
    stored = json.loads(json.dumps(validate_params("volatility_breakout", {"k": 0.3, "stop_loss_pct": 2}), cls=DjangoJSONEncoder))
    assert stored["k"] == "0.3"  # Decimal is stored as a string in the JSON field
    again = validate_params("volatility_breakout", stored)
    assert again["k"] == Decimal("0.3")
    assert again["stop_loss_pct"] == Decimal("2")
    assert validate_params("volatility_breakout", again) == again


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("macd", {"fsat": 3}, "macd: unknown parameter 'fsat'; allowed: fast, slow, signal, candle_unit"),
        ("macd", {"fast": "abc"}, "macd: parameter fast='abc' is not a whole number; use a whole number at least 1"),
        ("macd", {"fast": 12.5}, "parameter fast=12.5 is not a whole number"),
        ("macd", {"fast": True}, "parameter fast=True is a boolean"),
        ("macd", {"fast": 26}, "macd: parameter fast=26 must be less than slow=26"),
        ("macd", {"slow": 0}, "parameter slow=0 is out of range; use a whole number at least 2 and at most 2000"),
        ("sma_cross", {"fast": 30, "slow": 20}, "sma_cross: parameter fast=30 must be less than slow=20"),
        ("volatility_breakout", {"k": 0}, "parameter k=0 is out of range; use a number more than 0 and at most 1"),
        ("volatility_breakout", {"k": "1.5"}, "parameter k='1.5' is out of range"),
        ("volatility_breakout", {"k": "NaN"}, "parameter k='NaN' is not a finite number"),
        ("volatility_breakout", {"k": [0.5]}, "parameter k=[0.5] is a list, not a number"),
        ("macd", {"stop_loss_pct": -1}, "parameter stop_loss_pct=-1 is out of range; use a number more than 0"),
        ("macd", {"stop_loss_pct": 100}, "parameter stop_loss_pct=100 is out of range"),
        ("macd", {"trailing_stop_pct": "-0.5"}, "parameter trailing_stop_pct='-0.5' is out of range"),
        ("macd", {"candle_unit": 2}, "parameter candle_unit=2 is not allowed; use one of 1, 3, 5, 10, 15, 30, 60, 240, 1440"),
        ("macd", {"fast": None}, "parameter fast=None is missing"),
    ],
)
def test_invalid_params_name_the_parameter_the_value_and_what_is_allowed(name, params, message):
    with pytest.raises(InvalidParams) as caught:
        validate_params(name, params)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.param in str(caught.value)


def test_params_must_be_an_object():
    with pytest.raises(InvalidParams, match="parameters must be an object"):
        validate_params("macd", [1, 2])


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(InvalidParams, match="unknown strategy 'rsi'; use one of: macd, sma_cross, volatility_breakout"):
        get_strategy("rsi")


def test_whole_numbers_given_as_text_are_accepted():
    assert validate_params("sma_cross", {"fast": "3", "slow": "10"})["slow"] == 10


def test_min_candles_follow_the_parameters_and_the_candle_length():
    assert get_strategy("macd").min_candles() == 175
    assert get_strategy("macd").min_candles({"slow": 30, "signal": 10}) == 200
    vb = get_strategy("volatility_breakout")
    assert vb.min_candles() == 48  # hourly candles by default
    assert vb.min_candles({}, unit_sec=60) == 2880
    assert vb.min_candles({"candle_unit": 1440}) == 2


def test_prepared_series_are_exposed_for_charts():
    prepared = get_strategy("macd").prepare(make_arrays(np.linspace(100, 200, 50)), {"fast": 2, "slow": 4, "signal": 2})
    assert set(prepared.series) == {"macd", "signal", "histogram"}
    assert prepared.series["macd"].shape == (50,)


def test_values_are_plain_decimals_without_exponents():
    decision = get_strategy("volatility_breakout").signal(real_hourly_candles()[:100])
    stored = json.loads(json.dumps(decision.as_meta(), cls=DjangoJSONEncoder))["values"]
    assert stored["close"] == str(int(real_hourly_candles()[99].close))
    assert all("E" not in str(value) for value in stored.values())
