"""The backtester against independent implementations, on four months of real hourly KRW-BTC candles.

With fees and our limits off, an SMA cross must enter and exit on exactly the candles a plain loop
written here and the public backtesting.py package choose. With Upbit's rules and our limits on,
every difference must be one the rules explain: the sizes, and each skipped entry with its rule.
"""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchange.rules import fee_for, spendable_total
from trading.backtest.engine import BacktestConfig, BacktestResult, backtest_limits, run_backtest
from trading.candle_files import candles_import
from trading.candles import candle_arrays
from trading.engine.pnl import local_day
from trading.strategies.market_model import CANDLE_CLOSE_MARGIN_SEC, path_offsets

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "upbit-krw-btc-60m-excerpt.csv"
FAST, SLOW = 5, 20
START = datetime(2024, 11, 1, tzinfo=UTC)
END = datetime(2025, 5, 1, tzinfo=UTC)


@pytest.fixture
def arrays():
    candles_import(path=FIXTURE, market="KRW-BTC")
    return candle_arrays(market="KRW-BTC", unit=60, start=START, end=END)


def _run(arrays, *, fees: bool, limits: bool, initial: str = "1000000", overrides=None, strategy="sma_cross", params=None, **kw):
    config = BacktestConfig(
        market="KRW-BTC",
        unit=60,
        strategy=strategy,
        params=params or {"fast": FAST, "slow": SLOW, "candle_unit": 60},
        start=START,
        end=END,
        initial_krw=Decimal(initial),
        limits=backtest_limits(fees=fees, limits=limits, overrides=overrides),
        fees=fees,
    )
    return run_backtest(config, arrays, **kw)


def _plain_loop(arrays) -> tuple[list[datetime], list[datetime]]:
    """SMA cross, all in, written from scratch: decide on a candle's close, fill at the next candle's open (the
    moment the engine first sees that candle closed: its start plus the closing margin)."""
    close = pd.Series(arrays.close)
    fast = close.rolling(FAST).mean().to_numpy()
    slow = close.rolling(SLOW).mean().to_numpy()
    entries, exits = [], []
    holding = False
    for i in range(1, len(close) - 1):
        up = fast[i] > slow[i] and fast[i - 1] <= slow[i - 1]
        down = fast[i] < slow[i] and fast[i - 1] >= slow[i - 1]
        fill_at = datetime.fromtimestamp(int(arrays.start[i + 1]) + CANDLE_CLOSE_MARGIN_SEC, tz=UTC)
        if not holding and up:
            entries.append(fill_at)
            holding = True
        elif holding and down:
            exits.append(fill_at)
            holding = False
    return entries, exits


def _backtesting_py(arrays, *, commission: float):
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    frame = pd.DataFrame(
        {"Open": arrays.open, "High": arrays.high, "Low": arrays.low, "Close": arrays.close, "Volume": arrays.volume},
        index=pd.to_datetime(arrays.start, unit="s", utc=True).tz_localize(None),
    )

    def sma(values, period):
        return pd.Series(values).rolling(period).mean().to_numpy()

    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self):
            f, s = self.fast, self.slow
            up = f[-1] > s[-1] and f[-2] <= s[-2]
            down = f[-1] < s[-1] and f[-2] >= s[-2]
            if not self.position and up:
                self.buy()
            elif self.position and down:
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = FractionalBacktest(frame, SmaCross, cash=1_000_000, commission=commission, trade_on_close=False)
        stats = test.run()
    trades = stats["_trades"]
    entries = [t.to_pydatetime().replace(tzinfo=UTC) for t in trades["EntryTime"]]
    exits = [t.to_pydatetime().replace(tzinfo=UTC) for t in trades["ExitTime"]]
    return entries, exits, float(stats["Return [%]"]) / 100


# --- fees and limits off: the same entries and exits as two independent implementations ---------------
def test_without_fees_and_limits_the_sma_cross_trades_on_the_same_candles_as_a_plain_loop(arrays):
    result = _run(arrays, fees=False, limits=False)
    entries, exits = _plain_loop(arrays)
    assert len(entries) > 50
    assert result.entries() == entries
    assert result.exits() == exits
    assert result.blocked == []


def test_without_fees_and_limits_the_sma_cross_matches_backtesting_py(arrays):
    result = _run(arrays, fees=False, limits=False)
    entries, exits, bt_return = _backtesting_py(arrays, commission=0.0)
    # Ours fill at the moment the engine sees the previous candle closed: the open plus the closing margin.
    margin = timedelta(seconds=CANDLE_CLOSE_MARGIN_SEC)
    ours_entries = [ts - margin for ts in result.entries()]
    ours_exits = [ts - margin for ts in result.exits()]
    # backtesting.py lists closed trades; ours may end holding the last entry.
    assert entries == ours_entries[: len(entries)]
    assert len(ours_entries) - len(entries) in (0, 1)
    assert exits == ours_exits
    # All in, no fees: the same return but for whole-KRW totals and 1e-8 BTC volumes.
    assert result.metrics.total_return == pytest.approx(bt_return, abs=0.002)


# --- Upbit's rules and our limits on: only explained differences -------------------------------------
def test_with_fees_and_default_limits_the_trades_are_the_same_but_sized_by_the_risk_gate(arrays):
    bare = _run(arrays, fees=False, limits=False)
    ruled = _run(
        arrays,
        fees=True,
        limits=True,
        overrides={"max_order_krw": Decimal("10000"), "max_position_ratio": Decimal("0.3"), "cooldown_sec": 30},
    )
    # Hourly candles: a 30 s cooldown, a 10,000 KRW order in a 30% cap and a 50,000 KRW daily loss never bite.
    assert ruled.entries() == bare.entries()
    assert ruled.exits() == bare.exits()
    assert ruled.blocked == []

    krw = Decimal("1000000")
    for trade in ruled.trades:
        assert trade.fee == fee_for(trade.funds) > 0
        if trade.side == "buy":
            # The risk gate's size: MAX_ORDER_KRW binds (the balance and the 30% cap allow more), and the
            # fee Upbit reserves on top of the total fits in the KRW balance.
            assert trade.total == Decimal("10000")
            assert trade.total + fee_for(trade.total) <= krw
            assert trade.funds <= trade.total
            assert trade.total - trade.funds < trade.price * Decimal("0.00000001")
            krw -= trade.funds + trade.fee
        else:
            krw += trade.funds - trade.fee
        assert trade.krw_after == krw
    assert ruled.fees == sum((t.fee for t in ruled.trades), Decimal("0"))
    assert ruled.metrics.total_return != bare.metrics.total_return


def test_a_long_cooldown_changes_the_run_only_where_it_blocks_an_order(arrays):
    bare = _run(arrays, fees=False, limits=False)
    cooldown = 3 * 86400
    ruled = _run(
        arrays,
        fees=False,
        limits=True,
        overrides={
            "max_order_krw": Decimal("1000000000"),
            "max_position_ratio": Decimal("1"),
            "max_daily_loss_krw": Decimal("1000000000"),
            "cooldown_sec": cooldown,
        },
    )
    assert ruled.blocked
    assert {b.rule for b in ruled.blocked} == {"cooldown"}
    first = ruled.blocked[0].decided_at
    # Identical up to the first blocked order.
    before = [(t.ts, t.side, t.volume) for t in ruled.trades if t.decided_at < first]
    assert before == [(t.ts, t.side, t.volume) for t in bare.trades if t.decided_at < first]
    assert first in [t.decided_at for t in bare.trades]
    # Each block is within the cooldown of the previous order of its side, and says so.
    for block in ruled.blocked:
        previous = max(t.decided_at for t in ruled.trades if t.side == block.side and t.decided_at < block.decided_at)
        assert (block.decided_at - previous).total_seconds() < cooldown
        assert f"ORDER_COOLDOWN_SEC={cooldown}" in block.message
    # And no two orders of one side it let through are closer than the cooldown.
    for side in ("buy", "sell"):
        times = [t.decided_at for t in ruled.trades if t.side == side]
        assert all((b - a).total_seconds() >= cooldown for a, b in pairwise(times))


def _pnl_today_at_points(result: BacktestResult, arrays, fee: float) -> dict[int, float]:
    """The lowest of today's PnL (pnl.py's definition: realized today + the position's value net of the sell
    fee − its cost, less that value at the close before local midnight) over each candle's four path points,
    recomputed here from the trades alone."""
    trades = sorted(result.trades, key=lambda t: t.ts)
    offsets = path_offsets(arrays.unit_sec)
    k, volume, cost, realized, day = 0, 0.0, 0.0, 0.0, None
    carried: dict = {}
    out = {}
    starts = arrays.start.tolist()
    for i, start in enumerate(starts):
        prices = (arrays.open[i], arrays.low[i], arrays.high[i], arrays.close[i])
        lowest = math.inf
        for offset, price in zip(offsets, prices, strict=True):
            at = datetime.fromtimestamp(start + offset, tz=UTC)
            while k < len(trades) and trades[k].ts <= at:
                t = trades[k]
                if local_day(t.ts) != day:
                    day, realized = local_day(t.ts), 0.0
                if t.side == "buy":
                    volume, cost = volume + float(t.volume), cost + float(t.funds + t.fee)
                else:
                    realized += float(t.funds - t.fee) - cost
                    volume, cost = 0.0, 0.0
                k += 1
            today_day = local_day(at)
            if today_day not in carried:
                before = max(
                    (j for j in range(i) if local_day(datetime.fromtimestamp(starts[j] + offsets[0], tz=UTC)) < today_day),
                    default=None,
                )
                mark = arrays.close[before] if before is not None else price
                carried[today_day] = volume * mark * (1 - fee) - cost if volume > 0 else 0.0
            today = realized if day == today_day else 0.0
            lowest = min(lowest, today + (volume * price * (1 - fee) - cost if volume > 0 else 0.0) - carried[today_day])
        out[i] = lowest
    return out


def test_the_daily_loss_limit_blocks_entries_for_the_rest_of_the_local_day(arrays):
    limit = Decimal("20000")
    ruled = _run(
        arrays,
        fees=True,
        limits=True,
        overrides={
            "max_order_krw": Decimal("1000000000"),
            "max_position_ratio": Decimal("1"),
            "max_daily_loss_krw": limit,
            "cooldown_sec": 0,
        },
    )
    assert ruled.blocked
    assert {b.rule for b in ruled.blocked} == {"daily_loss"}
    pnl = _pnl_today_at_points(ruled, arrays, 0.0005)
    for block in ruled.blocked:
        day = local_day(block.decided_at)
        # On that Asia/Seoul day, at or before the decision, today's PnL reached -20,000 KRW.
        same_day = [i for i in range(block.index + 2) if local_day(datetime.fromtimestamp(int(arrays.start[i]), tz=UTC)) == day]
        assert min(pnl[i] for i in same_day) <= -float(limit) + 1e-6, block
        assert block.side == "buy"
        assert "daily loss limit" in block.message
        assert block.numbers["limit"] == "20000"
    # The block ends at local midnight: entries are taken again on a later day.
    first_block_day = local_day(ruled.blocked[0].decided_at)
    assert any(t.side == "buy" and local_day(t.decided_at) > first_block_day for t in ruled.trades)


def test_entries_below_upbits_minimum_are_skipped_with_the_reason(arrays):
    ruled = _run(
        arrays,
        fees=True,
        limits=True,
        initial="5300",
        overrides={
            "max_order_krw": Decimal("1000000000"),
            "max_position_ratio": Decimal("1"),
            "cooldown_sec": 0,
            "max_daily_loss_krw": Decimal("1000000000"),
        },
    )
    too_small = [b for b in ruled.blocked if b.rule == "min_order"]
    assert too_small, "losing trades should leave less than Upbit's 5,000 KRW minimum"
    for block in too_small:
        krw_then = ([Decimal("5300")] + [t.krw_after for t in ruled.trades if t.ts <= block.decided_at])[-1]
        assert spendable_total(krw_then) < Decimal("5000")
        assert "below Upbit's minimum order of 5,000 KRW" in block.message
    # A position that fell below the minimum cannot be sold either: it is dust until the price recovers.
    assert {b.rule for b in ruled.blocked} <= {"min_order", "dust"}


# --- the fast path is only a shortcut ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("sma_cross", {"fast": FAST, "slow": SLOW, "candle_unit": 60}),
        ("macd", {"candle_unit": 60, "trailing_stop_pct": "2", "take_profit_pct": "3"}),
        ("volatility_breakout", {"candle_unit": 60, "stop_loss_pct": "1.5"}),
    ],
)
def test_skipping_flat_candles_gives_the_same_trades_as_deciding_on_every_candle(arrays, strategy, params):
    def key(result: BacktestResult):
        return [(t.ts, t.side, t.reason, t.price, t.volume, t.fee) for t in result.trades], [
            (b.decided_at, b.rule) for b in result.blocked
        ]

    quick = _run(arrays, fees=True, limits=True, strategy=strategy, params=params)
    slow = _run(arrays, fees=True, limits=True, strategy=strategy, params=params, exhaustive=True)
    assert quick.trades
    assert key(quick) == key(slow)
    assert np.array_equal(quick.equity, slow.equity)
