"""Benchmark: one year of 1-minute KRW-BTC candles, MACD, our backtester against backtesting.py.

    .venv/bin/python bench/bench_backtest.py            # build the data (once), run both, print the figures

The year is synthesised from the real 1-minute Upbit file (../shared/data/upbit-krw-btc-1m-2018.csv,
or AUTOCOIN_BENCH_MINUTES): whole days of real minute candles are drawn at random (seed 7), each
minute keeping its real shape (open gap, close-to-close return with the file's drift removed, high and
low beyond the body, volume); they are chained from 140,000,000 KRW, snapped to the tick grid, and one
minute in 2,000 is dropped to keep Upbit's gaps. 525,600 minutes (2025-01-01 → 2026-01-01 UTC) minus
the gaps. The candles go through `importcandles`' service into a SQLite database under bench/output/
(timed: that is the import figure), then:

- ours: `backtest_run_create` in a fresh process: candles loaded from the database, MACD(12, 26, 9)
  prepared once, decided per candle, the risk gate and Upbit fills; with the default limits and fees
  (what a person gets) and again with fees and limits off; wall time and the process's peak RSS;
- backtesting.py (0.6, installed as `backtesting`) in a fresh process on the same candles, MACD
  crossing its signal line (its own EMA code), all-in, 0.05% commission, fills at the next open; the
  time of `Backtest(...).run()` only, the DataFrame already in memory.

Each backtester runs `--repeat` times (3 by default), alternating, each run in a fresh process; the
figures are each one's least-disturbed run (least CPU time), with the spread of all runs beside them.
`--reuse-db` skips the import when the bench database is already there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "bench" / "output"
DATA = Path(
    os.environ.get(
        "AUTOCOIN_BENCH_MINUTES", Path(__file__).resolve().parents[2] / "shared" / "data" / "upbit-krw-btc-1m-2018.csv"
    )
)
YEAR_CSV = OUTPUT / "krw-btc-1m-year.csv"
DB_PATH = OUTPUT / "bench-backtest.sqlite3"
START = datetime(2025, 1, 1, tzinfo=UTC)
MINUTES = 525_600
SEED = 7


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{DB_PATH}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    import django

    django.setup()


# ---------------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------------
def synthesise_year(path: Path) -> int:
    with DATA.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    seen: set[str] = set()
    unique = [r for r in rows if not (r["candle_date_time_utc"] in seen or seen.add(r["candle_date_time_utc"]))]  # type: ignore[func-returns-value]
    o = np.array([float(r["opening_price"]) for r in unique])
    h = np.array([float(r["high_price"]) for r in unique])
    lo = np.array([float(r["low_price"]) for r in unique])
    c = np.array([float(r["trade_price"]) for r in unique])
    v = np.array([float(r["candle_acc_trade_volume"]) for r in unique])
    prev = np.concatenate(([o[0]], c[:-1]))
    gap = np.log(o / prev)
    body = np.log(c / o)
    drift = (gap + body).mean()
    body -= drift
    top = h / np.maximum(o, c)
    bottom = lo / np.minimum(o, c)

    rng = np.random.default_rng(SEED)
    picks: list[np.ndarray] = []
    total = 0
    while total < MINUTES:
        first = int(rng.integers(0, len(unique) - 1440))
        picks.append(np.arange(first, first + 1440))
        total += 1440
    index = np.concatenate(picks)[:MINUTES]
    log_close = np.log(140_000_000.0) + np.cumsum(gap[index] + body[index])
    close = np.exp(log_close)
    open_ = close / np.exp(body[index])
    high = np.maximum(open_, close) * top[index]
    low = np.minimum(open_, close) * bottom[index]

    def snap(x: np.ndarray) -> np.ndarray:
        return np.round(x / 1000.0) * 1000.0  # KRW-BTC's tick above 1,000,000 KRW

    open_, close, high, low = snap(open_), snap(close), snap(high), snap(low)
    high = np.maximum(high, np.maximum(open_, close))
    low = np.minimum(low, np.minimum(open_, close))
    volume = v[index]
    keep = rng.random(MINUTES) >= 1 / 2000
    path.parent.mkdir(parents=True, exist_ok=True)
    kst = timedelta(hours=9)
    written = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "open", "high", "low", "close", "volume", "value"])
        for k in np.flatnonzero(keep):
            moment = START + timedelta(minutes=int(k)) + kst
            writer.writerow(
                [
                    moment.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{open_[k]:.1f}",
                    f"{high[k]:.1f}",
                    f"{low[k]:.1f}",
                    f"{close[k]:.1f}",
                    f"{volume[k]:.8f}",
                    f"{volume[k] * close[k]:.5f}",
                ]
            )
            written += 1
    return written


def build() -> dict[str, float]:
    figures: dict[str, float] = {}
    if not YEAR_CSV.exists():
        started = time.perf_counter()
        figures["rows"] = synthesise_year(YEAR_CSV)
        figures["synthesise_sec"] = time.perf_counter() - started
    if DB_PATH.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DB_PATH}{suffix}").unlink(missing_ok=True)
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from trading.candle_files import candles_import

    started = time.perf_counter()
    result = candles_import(path=YEAR_CSV, market="KRW-BTC", unit=1)
    figures["import_sec"] = time.perf_counter() - started
    figures["candles"] = result.inserted
    return figures


# ---------------------------------------------------------------------------------------------------
# The runs (each in its own process, for a clean peak-memory figure)
# ---------------------------------------------------------------------------------------------------
def run_ours(*, fees: bool, limits: bool) -> dict[str, object]:
    _django()
    from decimal import Decimal

    from trading.backtest.services import backtest_run_create

    started, cpu = time.perf_counter(), time.process_time()
    outcome = backtest_run_create(
        market="KRW-BTC",
        unit=1,
        strategy="macd",
        params={"fast": 12, "slow": 26, "signal": 9},
        start=START,
        end=START + timedelta(days=365),
        initial_krw=Decimal("1000000"),
        fees=fees,
        limits=limits,
        out_dir=OUTPUT,
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    result = outcome.result
    return {
        "wall_sec": wall,
        "cpu_sec": cpu,
        "load_sec": outcome.load_seconds,
        "prepare_sec": result.seconds["prepare"],
        "loop_sec": result.seconds["loop"],
        "metrics_sec": result.seconds["metrics"],
        "candles": result.metrics.candles,
        "orders": result.metrics.orders,
        "round_trips": result.metrics.round_trips,
        "total_return": result.metrics.total_return,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the parent across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_backtesting_py(*, commission: float) -> dict[str, object]:
    import warnings

    import pandas as pd
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    frame = pd.read_csv(YEAR_CSV, index_col=0, parse_dates=True)
    frame = frame.rename(columns={"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"})
    frame = frame[["Open", "High", "Low", "Close", "Volume"]]

    def ema(values: np.ndarray, period: int) -> np.ndarray:
        return pd.Series(values).ewm(span=period, adjust=False).mean().to_numpy()

    def macd_line(close: np.ndarray) -> np.ndarray:
        return ema(close, 12) - ema(close, 26)

    def signal_line(close: np.ndarray) -> np.ndarray:
        return ema(macd_line(close), 9)

    class MacdCross(Strategy):
        def init(self) -> None:
            self.macd = self.I(macd_line, self.data.Close)
            self.signal = self.I(signal_line, self.data.Close)

        def next(self) -> None:
            m, s = self.macd, self.signal
            if len(m) < 175:
                return
            up = m[-2] <= s[-2] and m[-1] > s[-1]
            down = m[-2] >= s[-2] and m[-1] < s[-1]
            if not self.position and up:
                self.buy()
            elif self.position and down:
                self.position.close()

    warnings.filterwarnings("ignore")
    started, cpu = time.perf_counter(), time.process_time()
    bt = FractionalBacktest(frame, MacdCross, cash=1_000_000, commission=commission, trade_on_close=False, finalize_trades=True)
    stats = bt.run()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "wall_sec": wall,
        "cpu_sec": cpu,
        "candles": len(frame),
        "round_trips": int(stats["# Trades"]),
        "total_return": float(stats["Return [%]"]) / 100,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _child(kind: str) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", kind], capture_output=True, text=True, check=False, cwd=ROOT, env=os.environ.copy()
    )
    if completed.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _best(runs: list[dict[str, object]]) -> dict[str, object]:
    """The run with the least CPU time: on a shared machine the quickest run is the least disturbed one."""
    return min(runs, key=lambda run: float(run["cpu_sec"]))  # type: ignore[arg-type]


def _spread(runs: list[dict[str, object]], key: str) -> str:
    values = sorted(float(run[key]) for run in runs)  # type: ignore[arg-type]
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{values[0]:.2f}–{values[-1]:.2f} (median {statistics.median(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=["ours", "ours-bare", "bt", "bt-bare"], help=argparse.SUPPRESS)
    parser.add_argument("--skip-backtesting-py", action="store_true", help="only time our backtester")
    parser.add_argument("--repeat", type=int, default=3, help="fresh-process runs of each backtester, alternating (default 3)")
    parser.add_argument("--reuse-db", action="store_true", help="keep an existing bench database instead of importing again")
    args = parser.parse_args()
    if args.child == "ours":
        print(json.dumps(run_ours(fees=True, limits=True)))
        return
    if args.child == "ours-bare":
        print(json.dumps(run_ours(fees=False, limits=False)))
        return
    if args.child == "bt":
        print(json.dumps(run_backtesting_py(commission=0.0005)))
        return

    os.environ.setdefault("DATABASE_URL", f"sqlite:///{DB_PATH}")
    if args.reuse_db and DB_PATH.exists():
        print(f"data: reusing {DB_PATH.relative_to(ROOT)} (import not timed)")
    else:
        built = build()
        print(f"data: {int(built['candles']):,} one-minute candles (a synthetic year from real Upbit minutes)")
        if "synthesise_sec" in built:
            print(f"  synthesised in {built['synthesise_sec']:.1f} s")
        print(f"  importcandles (CSV → SQLite, validated, one transaction): {built['import_sec']:.2f} s")

    # Alternate the two so that whatever else the machine is doing weighs on both alike.
    repeat = max(1, args.repeat)
    ours_runs: list[dict[str, object]] = []
    other_runs: list[dict[str, object]] = []
    for _ in range(repeat):
        ours_runs.append(_child("ours"))
        if not args.skip_backtesting_py:
            other_runs.append(_child("bt"))
    bare = _child("ours-bare")
    ours = _best(ours_runs)
    runs = f" (best of {repeat})" if repeat > 1 else ""
    print(f"ours, MACD(12,26,9), default limits and fees (DB load included){runs}:")
    print(
        f"  {ours['wall_sec']:.2f} s wall, {ours['cpu_sec']:.2f} s CPU "
        f"(load {ours['load_sec']:.2f}, prepare {ours['prepare_sec']:.2f}, "
        f"replay {ours['loop_sec']:.2f}, metrics {ours['metrics_sec']:.2f}; the rest is the SVG, CSV and row)"
    )
    if repeat > 1:
        print(f"  all runs: wall {_spread(ours_runs, 'wall_sec')} s, CPU {_spread(ours_runs, 'cpu_sec')} s")
    print(f"  {ours['orders']:,} orders, {ours['round_trips']:,} round trips, return {ours['total_return'] * 100:+.2f}%")
    print(f"  peak memory (RSS of the whole process): {max(float(run['peak_rss_mb']) for run in ours_runs):.0f} MB")  # type: ignore[arg-type]
    print(f"ours, fees and limits off: {bare['wall_sec']:.2f} s, {bare['round_trips']:,} round trips")
    if args.skip_backtesting_py:
        return
    other = _best(other_runs)
    print(f"backtesting.py 0.6, same candles and rule, all-in, 0.05% commission (run() only, data in memory){runs}:")
    print(
        f"  {other['wall_sec']:.2f} s wall, {other['cpu_sec']:.2f} s CPU, {other['round_trips']:,} round trips, "
        f"return {other['total_return'] * 100:+.2f}%, peak {other['peak_rss_mb']:.0f} MB"
    )
    if repeat > 1:
        print(f"  all runs: wall {_spread(other_runs, 'wall_sec')} s, CPU {_spread(other_runs, 'cpu_sec')} s")
    ratio = float(other["wall_sec"]) / float(ours["wall_sec"])  # type: ignore[arg-type]
    cpu_ratio = float(other["cpu_sec"]) / float(ours["cpu_sec"])  # type: ignore[arg-type]
    verdict = "ours faster" if ratio > 1 else "ours slower"
    print(f"ratio: backtesting.py / ours = {ratio:.2f}× wall, {cpu_ratio:.2f}× CPU ({verdict})")


if __name__ == "__main__":
    main()
