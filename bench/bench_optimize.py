"""Benchmark: a MACD parameter search (fast, slow, signal) on the year of 1-minute candles bench_backtest.py builds.

    .venv/bin/python bench/bench_optimize.py                 # 200 trials, 2 jobs, then two processes on PostgreSQL
    .venv/bin/python bench/bench_optimize.py --reuse-db --trials 40 --no-pg

- local: one `manage.py optimize --jobs N` on the bench SQLite database (Optuna's journal file next to it),
  training on 2025-01-01..2025-09-30 and testing on 2025-10-01..2025-12-31 (Asia/Seoul days): the wall time,
  trials per second per core, and what a trial costs beyond its backtests (the sampler, the storage, the
  figures): each trial records its backtests' seconds, the rest of its time is the harness's;
- PostgreSQL "as if two machines": a fresh database (--pg, dropped and created), migrated, the same candles
  imported, then two `optimize --jobs 1` processes started together with one --study: the wall time, the
  trials, and whether any number is missing or repeated.

The year is the one bench_backtest.py synthesises (bench/output/krw-btc-1m-year.csv, built once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_backtest

ROOT = bench_backtest.ROOT
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/autocoin_bench_optimize"
SEARCH = [
    "--strategy",
    "macd",
    "--unit",
    "1",
    "--space",
    "fast=5:30",
    "--space",
    "slow=20:120",
    "--space",
    "signal=5:20",
    "--train",
    "2025-01-01..2025-09-30",
    "--test",
    "2025-10-01..2025-12-31",
    "--objective",
    "sharpe",
]


def optimize(database_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.Popen(
        [sys.executable, "manage.py", "optimize", *SEARCH, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def trial_figures(database_url: str, study: str) -> dict[str, float]:
    """Read the study back from Optuna's storage (in a child: it needs Django set up on that database)."""
    code = f"""
import json, os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
django.setup()
import optuna
from trading.optimize.storage import open_storage
trials = optuna.load_study(study_name={study!r}, storage=open_storage()).get_trials(deepcopy=False)
rows = [
    [t.number, t.state.name, (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None,
     t.user_attrs.get("backtest_sec"), "repeat_of" in t.user_attrs]
    for t in trials
]
print(json.dumps(rows))
"""
    import json

    output = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = json.loads(output)
    numbers = [row[0] for row in rows]
    timed = [(row[2], row[3]) for row in rows if row[2] is not None and row[3] is not None]
    return {
        "trials": len(rows),
        "complete": sum(1 for row in rows if row[1] == "COMPLETE"),
        "pruned": sum(1 for row in rows if row[1] == "PRUNED"),
        "failed": sum(1 for row in rows if row[1] == "FAIL"),
        "repeats": sum(1 for row in rows if row[4]),
        "numbers_ok": float(sorted(numbers) == list(range(len(rows)))),
        "backtest_sec_median": statistics.median(b for _, b in timed) if timed else 0.0,
        "harness_ms_median": statistics.median((d - b) * 1000 for d, b in timed) if timed else 0.0,
        "trial_sec_total": sum(d for d, _ in timed),
    }


def run_local(*, trials: int, jobs: int) -> None:
    url = f"sqlite:///{bench_backtest.DB_PATH}"
    study = f"bench-{int(time.time())}"
    started = time.perf_counter()
    process = optimize(url, "--trials", str(trials), "--jobs", str(jobs), "--seed", "7", "--study", study)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"optimize failed ({process.returncode}):\n{err[-3000:]}")
    figures = trial_figures(url, study)
    print(f"local, {jobs} jobs, SQLite + journal: {trials} trials in {wall:.1f} s wall (process start and candle load included)")
    print(f"  trials/s per core   {trials / wall / jobs:.3f}")
    print(f"  per trial           backtests {figures['backtest_sec_median']:.3f} s (median, train + test)")
    print(f"  harness per trial   {figures['harness_ms_median']:.1f} ms (median: sampler, storage, figures)")
    busy = figures["trial_sec_total"] / (wall * jobs)
    print(f"  workers busy        {busy * 100:.0f}% of the wall time (the rest: start-up, loading, the last trials)")
    print(
        f"  trials              {figures['complete']:.0f} complete, {figures['pruned']:.0f} invalid (fast >= slow), "
        f"{figures['repeats']:.0f} drawn again (figures reused, not backtested)"
    )
    print("\n".join("  " + line for line in out.splitlines()[-12:]))


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        connection.execute(sql)


def run_postgres(url: str, *, trials: int) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    env = {**os.environ, "DATABASE_URL": url}
    try:
        _pg_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.OperationalError as error:
        print(f"postgresql: not reachable ({str(error).splitlines()[0]}); the two-process run is skipped")
        return
    _pg_admin(url, f'CREATE DATABASE "{name}"')
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    started = time.perf_counter()
    subprocess.run(
        [*manage, "importcandles", str(bench_backtest.YEAR_CSV), "--market", "KRW-BTC", "--unit", "1"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    print(f"postgresql: candles imported in {time.perf_counter() - started:.1f} s")
    study = f"bench-two-machines-{int(time.time())}"
    started = time.perf_counter()
    processes = [optimize(url, "--trials", str(trials), "--seed", str(seed), "--study", study) for seed in (1, 2)]
    results = [process.communicate() for process in processes]
    wall = time.perf_counter() - started
    for process, (_, err) in zip(processes, results, strict=True):
        if process.returncode != 0:
            sys.exit(f"optimize failed ({process.returncode}):\n{err[-3000:]}")
    figures = trial_figures(url, study)
    print(f"postgresql, two processes on one study: {figures['trials']:.0f} trials (asked {trials}) in {wall:.1f} s wall")
    print(f"  numbers 0..n-1, none missing or twice: {'yes' if figures['numbers_ok'] else 'NO'}; failed {figures['failed']:.0f}")
    print(f"  trials/s per process {figures['trials'] / wall / 2:.3f}; harness per trial {figures['harness_ms_median']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse-db", action="store_true", help="keep an existing bench database instead of importing again")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pg", default=PG_DEFAULT, help="database to drop and create for the two-process run")
    parser.add_argument("--pg-trials", type=int, default=40)
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL run")
    args = parser.parse_args()
    if not (args.reuse_db and bench_backtest.DB_PATH.exists()):
        # In a child: the build sets Django up on the bench database, this process stays free of it.
        code = "from bench import bench_backtest; print(bench_backtest.build())"
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    run_local(trials=args.trials, jobs=args.jobs)
    if not args.no_pg:
        run_postgres(args.pg, trials=args.pg_trials)


if __name__ == "__main__":
    main()
