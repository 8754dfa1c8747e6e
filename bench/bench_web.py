"""Server-side speed of every dashboard partial and API endpoint on a large seeded database.

    .venv/bin/python bench/bench_web.py                                  # sqlite:////tmp/autocoin-bench.sqlite3
    .venv/bin/python bench/bench_web.py --db postgres://postgres@127.0.0.1:5432/autocoin_bench
    .venv/bin/python bench/bench_web.py --requests 200 --json test-output/bench_web.json

Seeds the database first when it is empty (bench/seed.py: a year of history, about 2M rows). Each request
goes through the whole Django stack (middleware, session, auth, view, template) in-process, so the time
is what the server spends; the network is not measured. Every partial is measured in English and in Korean
(Korean renders the stored sentences through trading/sentences.py). Besides the wall-clock time each request's
CPU time (`time.process_time`) is printed: on a shared machine the wall clock includes waiting for a core,
the CPU time is the request's own cost. `queries` is the number of SQL queries of one request.

Budgets: a partial's p95 ≤ 10 ms, an API endpoint's p95 ≤ 25 ms, each partial < 20 KB; `--budget cpu` judges
the CPU p95 instead of the wall p95 (for a busy machine). Exit status 1 when a budget is missed. The full page
and the first render in a new process (cold cache) are printed for information, outside the budget.
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
PARTIAL_P95_BUDGET_MS = 10.0
PARTIAL_BUDGET_BYTES = 20 * 1024
PANELS = (
    "engine",
    "market",
    "balance",
    "pnl",
    "risk",
    "chart",
    "signals",
    "orders",
    "manual",
    "manualgate",
    "log",
    "trades",
    "performance",
)
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
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    wall, cpu, size, status = [], [], 0, 0
    for _ in range(requests):
        if before is not None:
            before()
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(path, headers=headers or {})  # type: ignore[attr-defined]
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
        size, status = len(response.content), response.status_code
    if before is not None:
        before()
    with CaptureQueriesContext(connection) as queries:
        client.get(path, headers=headers or {})  # type: ignore[attr-defined]
    return {
        "path": path,
        "status": status,
        "bytes": size,
        "queries": len(queries),
        "p50_ms": round(statistics.median(wall), 2),
        "p95_ms": round(_percentile(wall, 0.95), 2),
        "max_ms": round(max(wall), 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "cpu_p95_ms": round(_percentile(cpu, 0.95), 2),
    }


def _partials(client: object, requests: int, language: str, panels: tuple[str, ...]) -> list[dict[str, object]]:
    headers = {"Accept-Language": language}
    rows = []
    for name in panels:
        path = f"/panels/{name}"
        for _ in range(3):  # warm the template cache and the database pages
            client.get(path, headers=headers)  # type: ignore[attr-defined]
        full = _measure(client, path, requests, headers)
        full["kind"] = "partial"
        rows.append(full)
        etag = client.get(path, headers=headers).headers.get("ETag", "")  # type: ignore[attr-defined]
        unchanged = _measure(client, path, requests, {**headers, "If-None-Match": etag, "HX-Request": "true"})
        unchanged["kind"] = "partial, unchanged poll"
        rows.append(unchanged)
        if name == "chart":
            from trading.selectors import equity_cache_clear

            # The first render in a fresh process reads the whole week of snapshots; later ones only new rows.
            cold = _measure(client, path, max(10, requests // 5), headers, before=equity_cache_clear)
            cold["kind"] = "partial, cold cache"
            rows.append(cold)
        if name == "trades" and language == "en":
            from trading.trade_selectors import trades_cache_clear

            # The first read in a fresh process pairs every fill of the account; later ones only new fills.
            cold = _measure(client, path, 3, headers, before=trades_cache_clear)
            cold["kind"] = "partial, cold cache"
            rows.append(cold)
    for row in rows:
        row["lang"] = language
    return rows


def run(
    requests: int, languages: tuple[str, ...] = ("en", "ko"), panels: tuple[str, ...] = PANELS, api: bool = True
) -> list[dict[str, object]]:
    client = _prepare()
    rows = []
    for language in languages:
        rows += _partials(client, requests, language, panels)
    if not api:
        return rows
    for path in API_GETS:
        for _ in range(3):
            client.get(path)  # type: ignore[attr-defined]
        row = _measure(client, path, requests)
        row["kind"], row["lang"] = "api", "-"
        rows.append(row)
    for language in languages:
        client.get("/", headers={"Accept-Language": language})  # type: ignore[attr-defined]
        page = _measure(client, "/", max(10, requests // 5), {"Accept-Language": language})
        page["kind"], page["lang"] = "full page", language
        rows.append(page)
    return rows


def _over_budget(row: dict[str, object], judge: str) -> bool:
    kind = str(row["kind"])
    if kind in ("full page", "partial, cold cache"):
        return False
    budget = PARTIAL_P95_BUDGET_MS if kind.startswith("partial") else P95_BUDGET_MS
    figure = row["cpu_p95_ms"] if judge == "cpu" else row["p95_ms"]
    over_time = float(figure) > budget  # type: ignore[arg-type]
    over_size = kind.startswith("partial") and int(row["bytes"]) >= PARTIAL_BUDGET_BYTES  # type: ignore[call-overload]
    return over_time or over_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the dashboard partials and the JSON API on a seeded database.")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"DATABASE_URL of the seeded database (default {DEFAULT_DB})")
    parser.add_argument("--requests", type=int, default=100, help="requests per endpoint (default 100)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--lang", default="en,ko", help="languages of the partials, comma-separated (default en,ko)")
    parser.add_argument("--panels", default=",".join(PANELS), help="the partials to measure, comma-separated (default all)")
    parser.add_argument("--no-api", action="store_true", help="measure only the partials")
    parser.add_argument(
        "--budget", choices=("wall", "cpu"), default="wall", help="judge the budgets on the wall-clock (default) or the CPU p95"
    )
    args = parser.parse_args(argv)
    setup_django(args.db)
    seed_database(log=print)
    panels = tuple(name for name in args.panels.split(",") if name)
    unknown = set(panels) - set(PANELS)
    if unknown:
        parser.error(f"no such panel: {', '.join(sorted(unknown))}")
    rows = run(args.requests, tuple(args.lang.split(",")), panels, api=not args.no_api)
    failed = []
    heading = f"{'endpoint':36} {'kind':24} {'lang':>4} {'status':>6} {'bytes':>7} {'queries':>7}"
    print(f"\n{heading} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'cpu p50':>7} {'cpu p95':>7}")
    for row in rows:
        mark = "  <-- over budget" if _over_budget(row, args.budget) else ""
        if mark:
            failed.append(f"{row['path']} ({row['lang']})")
        figures = (
            f"{row['status']:>6} {row['bytes']:>7,} {row['queries']:>7} {row['p50_ms']:>7} {row['p95_ms']:>7}"
            f" {row['max_ms']:>7} {row['cpu_p50_ms']:>7} {row['cpu_p95_ms']:>7}"
        )
        print(f"{row['path']:36} {row['kind']:24} {row['lang']:>4} {figures}{mark}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    budgets = f"{args.budget} p95 > {PARTIAL_P95_BUDGET_MS} ms for a partial, > {P95_BUDGET_MS} ms for the API"
    if failed:
        print(f"\nover budget ({budgets}, or partial >= 20 KB): {', '.join(failed)}")
        return 1
    print(f"\nall within budget: none with {budgets}; every partial < 20 KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
