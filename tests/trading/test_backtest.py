from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.factories import StrategyConfigFactory
from trading.backtest.metrics import compute_metrics
from trading.backtest.report import downsample, equity_svg
from trading.candle_files import candles_import
from trading.models import BacktestRun

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "upbit-krw-btc-60m-excerpt.csv"
RANGE = ["--from", "2024-12-01", "--to", "2025-03-31"]


@pytest.fixture
def hourly():
    candles_import(path=FIXTURE, market="KRW-BTC")


# --- metrics on a series checked by hand ----------------------------------------------------------------
def test_metrics_of_a_four_day_series_checked_by_hand():
    day = 86400
    start = np.array([1735689600 + k * day for k in range(4)], dtype=np.int64)  # 2025-01-01 00:00 UTC, daily
    equity = np.array([100.0, 110.0, 99.0, 121.0])
    metrics = compute_metrics(
        initial_krw=100.0,
        start=start,
        unit_sec=day,
        equity=equity,
        in_position=np.array([False, True, True, False]),
        round_trip_pnls=[Decimal("5"), Decimal("-3"), Decimal("0")],
        orders=6,
        fees=Decimal("1.5"),
        close=np.array([10.0, 11.0, 9.0, 12.0]),
        tz="Asia/Seoul",
    )
    assert metrics.total_return == pytest.approx(0.21)
    assert metrics.max_drawdown == pytest.approx(0.10)  # 110 → 99
    assert metrics.max_drawdown_krw == pytest.approx(11.0)
    # Daily returns from the initial 100: 0, +10%, -10%, +22.2%; mean / sample std × √365.
    returns = [0.0, 0.1, -0.1, 121 / 99 - 1]
    mean = sum(returns) / 4
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    assert metrics.sharpe == pytest.approx(mean / std * math.sqrt(365))
    assert metrics.sharpe == pytest.approx(7.6976, abs=1e-3)
    assert metrics.cagr == pytest.approx(1.21 ** (365.25 / 4) - 1)
    assert metrics.win_rate == pytest.approx(1 / 3)
    assert (metrics.round_trips, metrics.wins, metrics.orders) == (3, 1, 6)
    assert metrics.exposure == pytest.approx(0.5)
    assert metrics.buy_and_hold_return == pytest.approx(0.2)
    assert metrics.days == 4


def test_metrics_without_trades_or_history_give_no_ratio():
    start = np.array([1735689600, 1735689660], dtype=np.int64)
    metrics = compute_metrics(
        initial_krw=1000.0,
        start=start,
        unit_sec=60,
        equity=np.array([1000.0, 1000.0]),
        in_position=np.array([False, False]),
        round_trip_pnls=[],
        orders=0,
        fees=Decimal("0"),
    )
    assert metrics.total_return == 0
    assert metrics.sharpe is None
    assert metrics.win_rate is None
    assert metrics.cagr is None
    assert metrics.max_drawdown == 0


def test_the_equity_chart_is_a_standalone_svg_that_keeps_the_drawdown():
    start = np.arange(10_000, dtype=np.int64) * 60 + 1735689600
    equity = np.full(10_000, 1_000_000.0)
    equity[5_000] = 400_000.0  # one deep dip among many points
    xs, ys = downsample(start, equity)
    assert len(xs) <= 1600
    assert 400_000.0 in ys.tolist()
    svg = equity_svg(start=start, equity=equity, title="macd <KRW-BTC>", subtitle="a & b")
    assert svg.startswith("<svg xmlns=")
    assert svg.endswith("</svg>")
    assert "macd &lt;KRW-BTC&gt;" in svg
    assert "a &amp; b" in svg
    assert "<script" not in svg
    assert "http://" not in svg.replace("http://www.w3.org/2000/svg", "")


# --- the command ------------------------------------------------------------------------------------------
def test_backtest_command_prints_the_figures_and_keeps_the_run(hourly, tmp_path, capsys):
    call_command(
        "backtest",
        "--unit",
        "60",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        *RANGE,
        "--out",
        str(tmp_path),
    )
    out = capsys.readouterr().out
    run = BacktestRun.objects.get()
    assert (run.market, run.unit, run.strategy) == ("KRW-BTC", 60, "sma_cross")
    assert run.params["fast"] == 5
    assert run.params["slow"] == 20
    assert run.params["candle_unit"] == 60
    assert run.date_from == datetime(2024, 11, 30, 15, tzinfo=UTC)  # 2024-12-01 in Asia/Seoul
    assert run.date_to == datetime(2025, 3, 31, 15, tzinfo=UTC)  # the end of 2025-03-31 in Asia/Seoul
    for key in ("total_return", "cagr", "max_drawdown", "sharpe", "win_rate", "round_trips", "fees_krw", "exposure"):
        assert key in run.metrics
    assert run.equity_svg.startswith("<svg")
    assert "sma_cross on KRW-BTC 60m" in run.equity_svg
    with open(run.trades_csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == run.metrics["orders"] > 0
    assert {row["side"] for row in rows} == {"buy", "sell"}
    assert sum(Decimal(row["fee"]) for row in rows) == Decimal(run.metrics["fees_krw"])
    assert Path(run.metrics["equity_svg_path"]).read_text() == run.equity_svg
    assert f"saved as backtest run #{run.pk}" in out
    assert "round trips" in out
    assert "MAX_ORDER_KRW 10,000" in out


def test_backtest_command_uses_the_engines_stored_parameters(hourly, tmp_path):
    StrategyConfigFactory(strategy="sma_cross", params={"fast": 3, "slow": 30})
    call_command("backtest", "--unit", "60", "--strategy", "sma_cross", *RANGE, "--out", str(tmp_path))
    run = BacktestRun.objects.get()
    assert (run.params["fast"], run.params["slow"]) == (3, 30)


def test_fees_and_limits_can_be_switched_off(hourly, tmp_path):
    call_command("backtest", "--unit", "60", "--strategy", "macd", *RANGE, "--out", str(tmp_path), "--no-fees", "--no-limits")
    run = BacktestRun.objects.get()
    assert Decimal(run.metrics["fees_krw"]) == 0
    assert run.metrics["orders"] > 0
    assert run.metrics["fees_on"] is False
    assert run.metrics["limits_on"] is False
    assert run.metrics["limits"]["cooldown_sec"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'; use one of: macd, sma_cross, volatility_breakout"),
        (["--strategy", "macd", "--param", "bogus=1"], "macd: unknown parameter 'bogus'"),
        (["--strategy", "macd", "--param", "fast=30", "--param", "slow=10"], "fast=30 must be less than slow=10"),
        (["--strategy", "macd", "--param", "fast"], "--param 'fast' is not NAME=VALUE"),
        (["--strategy", "macd", "--param", "candle_unit=5"], "contradicts --unit 60m"),
        (["--strategy", "macd", "--initial-krw", "lots"], "--initial-krw 'lots' is not a number"),
        (["--strategy", "macd", "--initial-krw", "100"], "initial KRW 100 is too small"),
        (["--strategy", "macd", "--max-position-ratio", "2"], "--max-position-ratio must be at most 1"),
        (["--strategy", "macd", "--cooldown-sec", "-1"], "--cooldown-sec '-1' is not a whole number"),
    ],
)
def test_bad_input_ends_with_one_clear_line(hourly, tmp_path, args, message):
    with pytest.raises(CommandError) as caught:
        call_command("backtest", "--unit", "60", *RANGE, "--out", str(tmp_path), *args)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not BacktestRun.objects.exists()


def test_ranges_that_cannot_be_replayed_are_refused(hourly, tmp_path):
    with pytest.raises(CommandError, match="--from 2025-03-01 is not before --to 2025-02-01"):
        call_command("backtest", "--unit", "60", "--from", "2025-03-01", "--to", "2025-02-01", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="is not a date"):
        call_command("backtest", "--unit", "60", "--from", "yesterday", "--to", "2025-02-01", "--out", str(tmp_path))
    with pytest.raises(
        CommandError,
        match=r"no KRW-BTC 60m candles between 2023-12-31 15:00 and 2024-01-31 15:00 UTC; 2,900 are stored, from 2024-11-30",
    ):
        call_command("backtest", "--unit", "60", "--from", "2024-01-01", "--to", "2024-01-31", "--out", str(tmp_path))
    with pytest.raises(
        CommandError, match=r"no KRW-ETH 5m candles .* none are stored; load some with fetchcandles or importcandles"
    ):
        call_command("backtest", "--market", "KRW-ETH", "--unit", "5", *RANGE, "--out", str(tmp_path))
    assert not BacktestRun.objects.exists()
