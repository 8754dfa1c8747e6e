"""One decision path: the backtest and the replay (the real engine over history) make the same trades.

Real Upbit candles (slices of the fixtures) for every built-in strategy, with the protective exits on, with
our limits on and lifted; then each new rule on hand-made candles, with the expected numbers worked out by
hand, in both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trading.backtest.engine import BacktestConfig, backtest_limits, run_backtest
from trading.candle_files import candles_import
from trading.candles import candle_arrays
from trading.replay.compare import compare_trades
from trading.replay.runner import ReplayConfig, replay_run
from trading.strategies import validate_params
from trading.strategies.indicators import CandleArrays
from trading.strategies.market_model import path_offsets

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOUR = 3600
M = 1_000_000


def hourly(start: datetime, hours: int) -> CandleArrays:
    candles_import(path=FIXTURES / "upbit-krw-btc-60m-excerpt.csv", market="KRW-BTC")
    return candle_arrays(market="KRW-BTC", unit=60, start=start, end=start + timedelta(hours=hours))


def both(arrays: CandleArrays, strategy: str, params: dict, *, limits: bool, overrides: dict | None = None):
    """The backtest's and the replay's results on the same candles, strategy, parameters, fees and limits."""
    clean = validate_params(strategy, {"candle_unit": arrays.unit_sec // 60, **params})
    start = datetime.fromtimestamp(int(arrays.start[0]), tz=UTC)
    end = datetime.fromtimestamp(int(arrays.start[-1]) + arrays.unit_sec, tz=UTC)
    backtest = run_backtest(
        BacktestConfig(
            market="KRW-BTC",
            unit=arrays.unit_sec // 60,
            strategy=strategy,
            params=clean,
            start=start,
            end=end,
            initial_krw=Decimal("1000000"),
            limits=backtest_limits(limits=limits, overrides=overrides),
        ),
        arrays,
    )
    replay = replay_run(
        ReplayConfig(
            market="KRW-BTC",
            unit=arrays.unit_sec // 60,
            strategy=strategy,
            params=clean,
            start=start,
            end=end,
            initial_krw=Decimal("1000000"),
            limits=limits,
            limit_overrides=overrides or {},
            arrays=arrays,
        )
    )
    return backtest, replay


CASES = [
    ("sma_cross", {"fast": 3, "slow": 8, "stop_loss_pct": "1", "trailing_stop_pct": "1.5", "take_profit_pct": "2"}),
    ("macd", {"fast": 3, "slow": 8, "signal": 3, "trailing_stop_pct": "1"}),
    ("volatility_breakout", {"k": "0.3", "stop_loss_pct": "1.5"}),
    ("momentum", {"rsi_period": 5, "oversold": 40, "overbought": 60, "atr_stop_mult": "2", "atr_period": 5}),
]


@pytest.mark.parametrize("limits", [True, False], ids=["limits", "no-limits"])
@pytest.mark.parametrize(("strategy", "params"), CASES, ids=[case[0] for case in CASES])
def test_the_replay_trades_exactly_as_the_backtest_on_real_candles(strategy, params, limits):
    arrays = hourly(datetime(2024, 12, 18, tzinfo=UTC), 160)
    backtest, replay = both(arrays, strategy, params, limits=limits, overrides={"cooldown_sec": 0} if limits else None)

    comparison = compare_trades(backtest.trades, replay.trades, unit_sec=arrays.unit_sec)

    assert len(backtest.trades) >= 2, "the slice must trade for the comparison to mean something"
    assert comparison.identical, comparison
    assert [(t.ts, t.side, t.price, t.volume, t.fee, t.realized_pnl) for t in backtest.trades] == [
        (t.ts, t.side, t.price, t.volume, t.fee, t.realized_pnl) for t in replay.trades
    ]


# ---------------------------------------------------------------------------------------------------
# New rules on hand-made candles
# ---------------------------------------------------------------------------------------------------
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def made(closes: list[int], *, lows: dict[int, int] | None = None, spread: int = M) -> CandleArrays:
    """Hourly candles opening at the previous close, high/low `spread` around open and close (so the true
    range is the candle's own range), with some lows overridden."""
    opens = [closes[0], *closes[:-1]]
    low = [min(o, c) - spread for o, c in zip(opens, closes, strict=True)]
    for index, value in (lows or {}).items():
        low[index] = value
    return CandleArrays.from_columns(
        start=[int(T0.timestamp()) + i * HOUR for i in range(len(closes))],
        open=opens,
        high=[max(o, c) + spread for o, c in zip(opens, closes, strict=True)],
        low=low,
        close=closes,
        volume=[1.0] * len(closes),
        unit_sec=HOUR,
    )


# sma_cross(1, 2) crosses above on candle 5 (100M → 110M) and the entry fills at candle 6's open, 110M.
FLAT_THEN_UP = [100 * M] * 5 + [110 * M, 110 * M, 110 * M, 110 * M]


def test_the_atr_stop_fires_at_the_low_of_the_candle_that_crosses_it():
    # Each flat candle ranges 100M ± 1M: true range 2M, so ATR(3) = 2M there. The entry candle (5) ranges
    # 99M..111M (true range 12M): ATR(3) on candle 5 = (2·2M + 12M) / 3 ≈ 5.33M by Wilder's average
    # seeded with the plain mean — too wide; candle 6 (110M ± 1M, TR 2M) gives ATR = (5.33·2 + 2)/3 ≈ 4.22M.
    # Entry 110M, stop = 110M − 2 × ATR. On candle 7 the low of 100M crosses it; the low point fills at 100M.
    arrays = made(FLAT_THEN_UP, lows={7: 100 * M})
    params = {"fast": 1, "slow": 2, "atr_stop_mult": "2", "atr_period": 3}
    backtest, replay = both(arrays, "sma_cross", params, limits=False)

    for result in (backtest, replay):
        buy, sell = result.trades
        assert (buy.side, buy.price, buy.ts) == ("buy", Decimal(110 * M), T0 + timedelta(hours=6, seconds=2))
        low_point = timedelta(hours=7, seconds=path_offsets(HOUR)[1])
        assert (sell.side, sell.reason, sell.price, sell.ts) == ("sell", "atr_stop", Decimal(100 * M), T0 + low_point)


def test_the_atr_stop_holds_when_the_low_stays_above_it():
    arrays = made(FLAT_THEN_UP, lows={7: 109 * M})  # 1M under the entry: well inside 2 × ATR (≈ 8.4M)
    backtest, replay = both(arrays, "sma_cross", {"fast": 1, "slow": 2, "atr_stop_mult": "2", "atr_period": 3}, limits=False)
    assert [t.side for t in backtest.trades] == [t.side for t in replay.trades] == ["buy"]


def test_the_volatility_filter_holds_an_entry_back_while_atr_over_close_is_too_high():
    # On the signal candle (5) ATR(3) = (2M + 2M + 12M) / 3 = 5.33M against a close of 110M: 4.85 %.
    arrays = made(FLAT_THEN_UP)
    blocked_b, blocked_r = both(
        arrays, "sma_cross", {"fast": 1, "slow": 2, "max_volatility_pct": "4.8", "atr_period": 3}, limits=False
    )
    allowed_b, allowed_r = both(
        arrays, "sma_cross", {"fast": 1, "slow": 2, "max_volatility_pct": "4.9", "atr_period": 3}, limits=False
    )

    assert blocked_b.trades == []
    assert blocked_r.trades == []
    assert [t.side for t in allowed_b.trades] == [t.side for t in allowed_r.trades] == ["buy"]
