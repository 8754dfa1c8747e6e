"""Server-side speed of every dashboard partial and API endpoint on a large seeded database.

    .venv/bin/python bench/bench_web.py                                  # sqlite:////tmp/autocoin-bench.sqlite3
    .venv/bin/python bench/bench_web.py --db postgres://postgres@127.0.0.1:5432/autocoin_bench
    .venv/bin/python bench/bench_web.py --requests 200 --json test-output/bench_web.json

Seeds the database first when it is empty (bench/seed.py: a year of history, about 2M rows). Each request
goes through the whole Django stack (middleware, session, auth, view, template) in-process, so the time
is what the server spends; the network is not measured. Budgets: p95 ≤ 25 ms, each partial < 20 KB.
Exit status 1 when a budget is missed. The full page and the chart's first render in a new process (cold
cache) are printed for information, outside the budget.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed import DEFAULT_DB, seed_database, setup_django  # noqa: E402

P95_BUDGET_MS = 25.0
PARTIAL_BUDGET_BYTES = 20 * 1024
PANELS = ("engine", "market", "balance", "pnl", "risk", "chart", "signals", "orders", "manual", "log", "trades", "performance")
API_GETS = (
    "/api/engine/status",
    "/api/account/balance",
    "/api/orders/recent",
    "/api/orders/recent?limit=500",
    "/api/logs/recent",
    "/api/signals/recent",
    "/api/pnl/daily",
    "/api/pnl/daily?days=366",
    "/api/trades",
    "/api/trades?page=20&page_size=500",
    "/api/performance",
    "/api/performance?period=week&limit=1000",
)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _prepare() -> object:
    """A staff user and a live-looking engine row, so every panel renders its full content."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.utils import timezone

    from trading.models import EngineState

    # The manifest needs `collectstatic`; the bench measures views, not static files.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = get_user_model().objects.get_or_create(username="bench-web", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="Operators"))  # the dashboard and the API need its permissions
    EngineState.load()
    EngineState.objects.filter(pk=1).update(
        owner="bench:1", heartbeat_at=timezone.now(), last_price=Decimal("100000000"), iteration=12345
    )
    client = Client()
    client.force_login(user)
    return client


def _measure(
    client: object, path: str, requests: int, headers: dict[str, str] | None = None, before: Callable[[], None] | None = None
) -> dict[str, object]:
    from django.db import reset_queries

    timings, size, status = [], 0, 0
    for _ in range(requests):
        reset_queries()
        if before is not None:
            before()
        started = time.perf_counter()
        response = client.get(path, headers=headers or {})  # type: ignore[attr-defined]
        timings.append((time.perf_counter() - started) * 1000)
        size, status = len(response.content), response.status_code
    return {
        "path": path,
        "status": status,
        "bytes": size,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(_percentile(timings, 0.95), 2),
        "max_ms": round(max(timings), 2),
    }


def run(requests: int) -> list[dict[str, object]]:
    client = _prepare()
    rows = []
    for name in PANELS:
        path = f"/panels/{name}"
        for _ in range(3):  # warm the template cache and the database pages
            client.get(path)  # type: ignore[attr-defined]
        full = _measure(client, path, requests)
        full["kind"] = "partial"
        rows.append(full)
        etag = client.get(path).headers.get("ETag", "")  # type: ignore[attr-defined]
        unchanged = _measure(client, path, requests, {"If-None-Match": etag, "HX-Request": "true"})
        unchanged["kind"] = "partial, unchanged poll"
        rows.append(unchanged)
        if name == "chart":
            from trading.selectors import equity_cache_clear

            # The first render in a fresh process reads the whole week of snapshots; later ones only new rows.
            cold = _measure(client, path, max(10, requests // 5), before=equity_cache_clear)
            cold["kind"] = "partial, cold cache"
            rows.append(cold)
        if name == "trades":
            from trading.trade_selectors import trades_cache_clear

            # The first read in a fresh process pairs every fill of the account; later ones only new fills.
            cold = _measure(client, path, 3, before=trades_cache_clear)
            cold["kind"] = "partial, cold cache"
            rows.append(cold)
    for path in API_GETS:
        for _ in range(3):
            client.get(path)  # type: ignore[attr-defined]
        row = _measure(client, path, requests)
        row["kind"] = "api"
        rows.append(row)
    client.get("/")  # type: ignore[attr-defined]
    page = _measure(client, "/", max(10, requests // 5))
    page["kind"] = "full page"
    rows.append(page)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the dashboard partials and the JSON API on a seeded database.")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"DATABASE_URL of the seeded database (default {DEFAULT_DB})")
    parser.add_argument("--requests", type=int, default=100, help="requests per endpoint (default 100)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    setup_django(args.db)
    seed_database(log=print)
    rows = run(args.requests)
    failed = []
    print(f"\n{'endpoint':44} {'kind':24} {'status':>6} {'bytes':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for row in rows:
        over_time = row["kind"] not in ("full page", "partial, cold cache") and float(row["p95_ms"]) > P95_BUDGET_MS  # type: ignore[arg-type]
        over_size = str(row["kind"]).startswith("partial") and int(row["bytes"]) >= PARTIAL_BUDGET_BYTES  # type: ignore[call-overload]
        mark = "  <-- over budget" if over_time or over_size else ""
        if mark:
            failed.append(row["path"])
        figures = f"{row['status']:>6} {row['bytes']:>8,} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}"
        print(f"{row['path']:44} {row['kind']:24} {figures}{mark}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    if failed:
        print(f"\nover budget (p95 > {P95_BUDGET_MS} ms or partial >= 20 KB): {', '.join(map(str, failed))}")
        return 1
    print(f"\nall endpoints within p95 <= {P95_BUDGET_MS} ms; every partial < 20 KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
