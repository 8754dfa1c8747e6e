"""Benchmark: the replay of 7 days of real 1-minute KRW-BTC candles through the trading engine.

    .venv/bin/python bench/bench_replay.py                 # import (once), then `replay` as a person runs it
    .venv/bin/python bench/bench_replay.py --profile 500   # where an engine cycle spends its time

The candles are the real Upbit file ../shared/data/upbit-krw-btc-1m-2018.csv (or AUTOCOIN_BENCH_MINUTES):
9,999 minutes (2018-01-25 06:42 → 2018-02-01 05:20 UTC), imported with `importcandles`' service into a
SQLite database under bench/output/. The run is what `manage.py replay` does: validate and load there,
then replay in a child process with a fresh database of its own, one engine cycle per path point
(4 per candle, 39,996 cycles); sma_cross(5, 20) on 1-minute candles, fees on, limits off.

Figures: the whole command's wall time, the replay loop's wall and CPU time (the CPU time is the one to
trust on a busy machine), candles and cycles per second. The target is 7 days in at most 3 minutes.

`--profile N` runs the first N candles in this process (a fresh SQLite database in a temporary folder)
under cProfile, timed by CPU, and prints the engine's steps and the functions that cost the most.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trading.replay.runner import ReplayConfig

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "bench" / "output"
DATA = Path(
    os.environ.get(
        "AUTOCOIN_BENCH_MINUTES", Path(__file__).resolve().parents[2] / "shared" / "data" / "upbit-krw-btc-1m-2018.csv"
    )
)
DB_PATH = OUTPUT / "bench-replay.sqlite3"
START = datetime(2018, 1, 25, tzinfo=UTC)
END = datetime(2018, 2, 2, tzinfo=UTC)
PARAMS = {"fast": "5", "slow": "20"}
TARGET_SEC = 180.0


def _django(database: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    import django

    django.setup()
    import logging

    logging.getLogger("autocoin").setLevel(logging.WARNING)


def _import(database: Path) -> None:
    from django.core.management import call_command

    from trading.candle_files import candles_import

    call_command("migrate", verbosity=0, interactive=False)
    if not database.exists() or not _has_candles():
        started = time.perf_counter()
        result = candles_import(path=str(DATA), market="KRW-BTC")
        print(f"imported {result.candles:,} candles in {time.perf_counter() - started:.1f} s")


def _has_candles() -> bool:
    from trading.models import Candle

    return Candle.objects.filter(market="KRW-BTC", unit=1).exists()


def _config(limit: int | None = None) -> ReplayConfig:
    from dataclasses import replace

    from trading.replay.services import replay_config_build

    config = replay_config_build(
        market="KRW-BTC",
        unit=1,
        strategy="sma_cross",
        params=PARAMS,
        start=START,
        end=END,
        initial_krw=Decimal("1000000"),
        fees=True,
        limits=False,
    )
    if limit is not None and config.arrays is not None:
        from trading.strategies.indicators import CandleArrays

        a = config.arrays
        config = replace(
            config,
            arrays=CandleArrays.from_columns(
                open=a.open[:limit],
                high=a.high[:limit],
                low=a.low[:limit],
                close=a.close[:limit],
                volume=a.volume[:limit],
                start=a.start[:limit],
                unit_sec=a.unit_sec,
            ),
        )
    return config


def run_whole() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    _django(DB_PATH)
    _import(DB_PATH)
    from trading.replay.services import replay_in_own_database

    started = time.perf_counter()
    config = _config()
    outcome = replay_in_own_database(config, out_dir=OUTPUT / "replays")
    total = time.perf_counter() - started
    if outcome.report.error:
        sys.exit(outcome.report.error)
    figures = outcome.report.figures
    candles, loop, cpu = figures["candles"], figures["loop_seconds"], figures["loop_cpu_seconds"]
    print(f"replay of {candles:,} 1-minute candles ({figures['cycles']:,} engine cycles), sma_cross(5, 20), fees on, limits off")
    print(f"  command      {total:.1f} s wall (target {TARGET_SEC:.0f} s): {'met' if total <= TARGET_SEC else 'NOT met'}")
    print(f"  loop         {loop:.1f} s wall, {cpu:.1f} s CPU")
    print(f"  speed        {candles / loop:,.1f} candles/s wall, {candles / cpu:,.1f} candles/s CPU")
    print(f"  per cycle    {cpu / figures['cycles'] * 1000:.2f} ms CPU")
    print(f"  trades       {figures['trades']}")


def run_profile(candles: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="autocoin-bench-replay-"))
    database = folder / "profile.sqlite3"
    _django(database)
    from django.core.management import call_command

    from trading.candle_files import candles_import
    from trading.replay.runner import replay_run

    call_command("migrate", verbosity=0, interactive=False)
    candles_import(path=str(DATA), market="KRW-BTC")
    config = _config(candles)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    result = replay_run(config)
    profiler.disable()
    stats = pstats.Stats(profiler)
    cpu = float(getattr(stats, "total_tt", 0.0))  # set by Stats, missing from its type stubs
    print(f"{len(result.arrays):,} candles, {result.cycles:,} cycles: {cpu:.2f} s CPU under the profiler")
    print(f"  {cpu / result.cycles * 1000:.2f} ms CPU per cycle (profiled)")
    stats.sort_stats("cumulative").print_stats(r"trading/engine|exchange/paper|trading/services|trading/replay", 40)
    stats.sort_stats("tottime").print_stats(20)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=int, default=None, metavar="N", help="profile the first N candles in-process")
    args = parser.parse_args()
    if args.profile:
        run_profile(args.profile)
    else:
        run_whole()


if __name__ == "__main__":
    main()
