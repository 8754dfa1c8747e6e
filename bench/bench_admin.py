"""Speed of the operations console on a large database: every changelist, and the streamed exports.

    .venv/bin/python bench/bench_admin.py                                # sqlite:////tmp/autocoin-bench.sqlite3
    .venv/bin/python bench/bench_admin.py --db postgres://postgres@127.0.0.1:5432/autocoin_bench
    .venv/bin/python bench/bench_admin.py --runs 7 --json test-output/bench_admin.json

Seeds the database first when it is empty (bench/seed.py: 1M events, 200k orders, 200k fills, 500k
snapshots). Requests go through the whole Django stack in-process (session, auth, admin, templates), as a
logged-in superuser. Budgets: each changelist's median < 300 ms; each export >= 100,000 rows/s (CPU time of
this process, so other load on the machine does not count against it) with a Python allocation peak
< 200 MB. Exit status 1 when a budget is missed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed import DEFAULT_DB, seed_database, setup_django  # noqa: E402

CHANGELIST_BUDGET_MS = 300.0
EXPORT_RATE_BUDGET = 100_000
EXPORT_PEAK_BUDGET_MB = 200.0

CHANGELISTS: tuple[str, ...] = (
    "enginestate/",
    "strategyconfig/",
    "engineevent/",
    "engineevent/?level__exact=ERROR",
    "engineevent/?kind__exact=fill",
    "engineevent/?from={month_ago}&to={today}",
    "engineevent/?from={half_year_ago}&to={half_year_ago}&level__exact=WARNING",
    "engineevent/?p=99",
    "engineevent/?o=1",
    "signal/",
    "signal/?action__exact=BUY",
    "order/",
    "order/?status__exact=WAIT",
    "order/?mode__exact=live",
    "order/?side__exact=sell&market=KRW-BTC",
    "order/?q=seed-12345",
    "fill/?q=seed-t12345",
    "engineevent/?q=ReadTimeout",
    "fill/",
    "fill/?side=buy",
    "fill/?mode=live",
    "balancesnapshot/",
    "balancesnapshot/?mode__exact=live",
    "pnldaily/",
    "manualorderrequest/",
    "candle/",
    "backtestrun/",
)

EXPORTS: tuple[tuple[str, str], ...] = (
    ("engineevent", "EngineEvent"),
    ("order", "Order"),
    ("fill", "Fill"),
    ("balancesnapshot", "BalanceSnapshot"),
)


def _client() -> Any:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    # The manifest needs `collectstatic`; the bench measures the views, not static files.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first()
    if user is None:
        user = user_model.objects.create_superuser("bench-admin", "bench@example.invalid", None)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def _changelists(client: Any, runs: int) -> list[dict[str, Any]]:
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.localdate()
    days = {"today": today, "month_ago": today - timedelta(days=30), "half_year_ago": today - timedelta(days=182)}
    results = []
    for suffix in CHANGELISTS:
        url = f"/admin/trading/{suffix.format(**days)}"
        samples = []
        status = 0
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url, follow=suffix == "enginestate/")
            samples.append((time.perf_counter() - started) * 1000)
            status = response.status_code
        median = statistics.median(samples)
        results.append({"url": url, "status": status, "median_ms": round(median, 1), "max_ms": round(max(samples), 1)})
        flag = "" if status == 200 and median < CHANGELIST_BUDGET_MS else "  <-- over budget"
        print(f"  {url:<55} {status}  median {median:7.1f} ms  max {max(samples):7.1f} ms{flag}")
    return results


def _export_once(client: Any, url: str, *, traced: bool) -> tuple[int, float, float, float]:
    """(bytes, wall seconds, cpu seconds, python allocation peak in MB) of one streamed export."""
    if traced:
        tracemalloc.start()
    wall = time.perf_counter()
    cpu = time.process_time()
    response = client.get(url)
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    response.close()
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    peak = 0.0
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return size, wall, cpu, peak


def _exports(client: Any, *, traced: bool) -> list[dict[str, Any]]:
    from django.apps import apps

    results = []
    for slug, model_name in EXPORTS:
        rows = apps.get_model("trading", model_name).objects.count()
        for fmt in ("csv", "json"):
            url = f"/admin/trading/{slug}/export/{fmt}/"
            size, wall, cpu, _ = _export_once(client, url, traced=False)
            peak = _export_once(client, url, traced=True)[3] if traced else None
            result = {
                "url": url,
                "rows": rows,
                "megabytes": round(size / 1e6, 1),
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "rows_per_s_wall": round(rows / wall),
                "rows_per_s_cpu": round(rows / cpu),
                "python_peak_mb": None if peak is None else round(peak, 1),
            }
            results.append(result)
            over = result["rows_per_s_cpu"] < EXPORT_RATE_BUDGET or (peak or 0) > EXPORT_PEAK_BUDGET_MB
            peak_text = "" if peak is None else f"  peak {peak:6.1f} MB"
            print(
                f"  {url:<45} {rows:>9,} rows {size / 1e6:7.1f} MB  {rows / cpu:>9,.0f} rows/s cpu"
                f"  {rows / wall:>9,.0f} rows/s wall{peak_text}{'  <-- over budget' if over else ''}"
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the admin changelists and exports on a large database.")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"DATABASE_URL (default {DEFAULT_DB})")
    parser.add_argument("--runs", type=int, default=5, help="requests per changelist (the median is reported)")
    parser.add_argument("--no-exports", action="store_true", help="time the changelists only")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc pass (it is slow)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    setup_django(args.db)

    from django.db import connection

    seed = seed_database(log=lambda line: print(f"  seed: {line}"))
    print(f"database: {connection.vendor} {args.db}" + ("" if seed.skipped else f" (seeded in {seed.seconds:.1f} s)"))
    client = _client()
    client.get("/admin/trading/engineevent/")  # warm caches, templates and the connection
    print(f"changelists (median of {args.runs}):")
    lists = _changelists(client, args.runs)
    dumps: list[dict[str, Any]] = []
    if not args.no_exports:
        print("exports (all rows, streamed):")
        dumps = _exports(client, traced=not args.no_trace)
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS: {max_rss_mb:.0f} MB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"db": connection.vendor, "changelists": lists, "exports": dumps, "max_rss_mb": round(max_rss_mb)}
        args.json.write_text(json.dumps(payload, indent=2))
    failed = [r for r in lists if r["status"] != 200 or r["median_ms"] >= CHANGELIST_BUDGET_MS]
    failed += [r for r in dumps if r["rows_per_s_cpu"] < EXPORT_RATE_BUDGET or (r["python_peak_mb"] or 0) > EXPORT_PEAK_BUDGET_MB]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
