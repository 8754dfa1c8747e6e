"""Benchmark: one year of 1-minute KRW-BTC candles, MACD, our backtester against backtesting.py.

    .venv/bin/python bench/bench_backtest.py            # build the data (once), run both, print the figures

The year is synthesised from the real 1-minute Upbit file (../shared/data/upbit-krw-btc-1m-2018.csv,
or AUTOCOIN_BENCH_MINUTES): whole days of real minute candles are drawn at random (seed 7), each
minute keeping its real shape (open gap, close-to-close return with the file's drift removed, high and
low beyond the body, volume); they are chained from 140,000,000 KRW, snapped to the tick grid, and one
minute in 2,000 is dropped to keep Upbit's gaps. 525,600 minutes (2025-01-01 → 2026-01-01 UTC) minus
the gaps. The candles go through `importcandles`' service into a SQLite database under bench/output/
(timed: that is the import figure), then:

- ours: `python manage.py backtest` (MACD 12/26/9 on the year) as a whole process from a cold start:
  Python and Django start-up, the candles loaded (from the columnar copy the import keeps), MACD prepared
  once, decided per candle, the risk gate and Upbit fills, the metrics, the report files and the row; with
  the default limits and fees (what a person gets) and again with fees and limits off. Wall and CPU time
  and peak RSS are the operating system's figures for the child; the split (load, prepare, replay,
  metrics, report) is what the run stored in its BacktestRun row;
- backtesting.py (0.6, installed as `backtesting`) as a whole process too: a script that imports pandas
  and backtesting, reads the year's CSV with pandas and runs `Backtest(...).run()`: MACD crossing its
  signal line (its own EMA code), all-in, 0.05% commission, fills at the next open. The time of `run()`
  alone (the DataFrame already in memory) is printed beside it, as is the in-process time of our run.

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
import tempfile
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
# The runs: each a whole process, timed from outside
# ---------------------------------------------------------------------------------------------------
COMMAND = [
    "manage.py",
    "backtest",
    "--market",
    "KRW-BTC",
    "--unit",
    "1",
    "--strategy",
    "macd",
    "--from",
    "2025-01-01T00:00Z",
    "--to",
    "2026-01-01T00:00Z",
    "--param",
    "fast=12",
    "--param",
    "slow=26",
    "--param",
    "signal=9",
    "--out",
    str(OUTPUT),
]


def _process(argv: list[str]) -> tuple[dict[str, float], str]:
    """Run `argv` as a fresh process: its wall time, and its CPU time and peak RSS as the kernel counted them for it."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env=os.environ.copy())
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} failed:\n{err.read()[-3000:]}")
        figures = {"wall_sec": wall, "cpu_sec": usage.ru_utime + usage.ru_stime, "maxrss": usage.ru_maxrss / 1024}
        return figures, out.read()


def run_ours(*, fees: bool, limits: bool) -> dict[str, object]:
    import sqlite3

    argv = [sys.executable, *COMMAND, *([] if fees else ["--no-fees"]), *([] if limits else ["--no-limits"])]
    figures, _out = _process(argv)
    with sqlite3.connect(DB_PATH) as db:
        last = "SELECT duration_sec, metrics FROM trading_backtestrun ORDER BY id DESC LIMIT 1"
        duration, metrics = db.execute(last).fetchone()
    stored = json.loads(metrics)
    seconds = stored["seconds"]
    return {
        "wall_sec": figures["wall_sec"],
        "cpu_sec": figures["cpu_sec"],
        "in_process_sec": float(duration),
        "load_sec": seconds["load"],
        "prepare_sec": seconds["prepare"],
        "loop_sec": seconds["loop"],
        "metrics_sec": seconds["metrics"],
        "report_sec": seconds.get("report", 0.0),
        "candles": stored["candles"],
        "orders": stored["orders"],
        "round_trips": stored["round_trips"],
        "total_return": stored["total_return"],
        "peak_rss_mb": figures["maxrss"],
    }


def run_backtesting_py_process() -> dict[str, object]:
    figures, out = _process([sys.executable, __file__, "--child", "bt"])
    inner = json.loads(out.strip().splitlines()[-1])
    return {
        **inner,
        "run_sec": inner["wall_sec"],
        "wall_sec": figures["wall_sec"],
        "cpu_sec": figures["cpu_sec"],
        "peak_rss_mb": figures["maxrss"],
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
    parser.add_argument("--child", choices=["bt"], help=argparse.SUPPRESS)
    parser.add_argument("--skip-backtesting-py", action="store_true", help="only time our backtester")
    parser.add_argument("--repeat", type=int, default=3, help="fresh-process runs of each backtester, alternating (default 3)")
    parser.add_argument("--reuse-db", action="store_true", help="keep an existing bench database instead of importing again")
    parser.add_argument("--just-built", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "bt":
        print(json.dumps(run_backtesting_py(commission=0.0005)))
        return

    os.environ["DATABASE_URL"] = f"sqlite:///{DB_PATH}"
    if args.just_built:
        pass
    elif args.reuse_db and DB_PATH.exists():
        print(f"data: reusing {DB_PATH.relative_to(ROOT)} (import not timed)")
    else:
        built = build()
        print(f"data: {int(built['candles']):,} one-minute candles (a synthetic year from real Upbit minutes)")
        if "synthesise_sec" in built:
            print(f"  synthesised in {built['synthesise_sec']:.1f} s")
        print(f"  importcandles (CSV → SQLite, validated, one transaction, and the columnar copy): {built['import_sec']:.2f} s")
        # Building the year grew this process to some hundreds of MB, and a child forked from it would count
        # that in its own peak RSS (Linux carries it across exec): the runs are timed from a fresh image instead.
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, __file__, *sys.argv[1:], "--reuse-db", "--just-built"])  # noqa: S606 - this script again

    # Alternate the two so that whatever else the machine is doing weighs on both alike.
    repeat = max(1, args.repeat)
    ours_runs: list[dict[str, object]] = []
    other_runs: list[dict[str, object]] = []
    for _ in range(repeat):
        ours_runs.append(run_ours(fees=True, limits=True))
        if not args.skip_backtesting_py:
            other_runs.append(run_backtesting_py_process())
    bare = run_ours(fees=False, limits=False)
    ours = _best(ours_runs)
    runs = f" (best of {repeat})" if repeat > 1 else ""
    print(f"ours: manage.py backtest, MACD(12,26,9), default limits and fees, whole process{runs}:")
    print(
        f"  {ours['wall_sec']:.2f} s wall, {ours['cpu_sec']:.2f} s CPU; in the process {ours['in_process_sec']:.2f} s "
        f"(load {ours['load_sec']:.2f}, prepare {ours['prepare_sec']:.2f}, replay {ours['loop_sec']:.2f}, "
        f"metrics {ours['metrics_sec']:.2f}, report {ours['report_sec']:.2f}; the rest is start-up and the row)"
    )
    if repeat > 1:
        print(f"  all runs: wall {_spread(ours_runs, 'wall_sec')} s, CPU {_spread(ours_runs, 'cpu_sec')} s")
    print(f"  {ours['orders']:,} orders, {ours['round_trips']:,} round trips, return {float(ours['total_return']) * 100:+.2f}%")  # type: ignore[arg-type]
    print(f"  peak memory (RSS of the whole process): {max(float(run['peak_rss_mb']) for run in ours_runs):.0f} MB")  # type: ignore[arg-type]
    print(
        f"ours, fees and limits off: {bare['wall_sec']:.2f} s wall, {bare['cpu_sec']:.2f} s CPU, "
        f"{bare['round_trips']:,} round trips"
    )
    if args.skip_backtesting_py:
        return
    other = _best(other_runs)
    print(f"backtesting.py 0.6, same candles and rule, all-in, 0.05% commission, whole process (pandas reads the CSV){runs}:")
    print(
        f"  {other['wall_sec']:.2f} s wall, {other['cpu_sec']:.2f} s CPU (run() alone {other['run_sec']:.2f} s), "
        f"{other['round_trips']:,} round trips, return {float(other['total_return']) * 100:+.2f}%, "  # type: ignore[arg-type]
        f"peak {other['peak_rss_mb']:.0f} MB"
    )
    if repeat > 1:
        print(f"  all runs: wall {_spread(other_runs, 'wall_sec')} s, CPU {_spread(other_runs, 'cpu_sec')} s")
    ratio = float(other["wall_sec"]) / float(ours["wall_sec"])  # type: ignore[arg-type]
    cpu_ratio = float(other["cpu_sec"]) / float(ours["cpu_sec"])  # type: ignore[arg-type]
    inner = float(other["run_sec"]) / float(ours["in_process_sec"])  # type: ignore[arg-type]
    verdict = "ours faster" if ratio > 1 else "ours slower"
    print(f"ratio, whole processes: backtesting.py / ours = {ratio:.2f}× wall, {cpu_ratio:.2f}× CPU ({verdict})")
    print(f"ratio, run() alone against our in-process run: {inner:.2f}× wall")


if __name__ == "__main__":
    main()
