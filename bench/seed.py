"""Fill a database with a year's worth of trading history, to measure the admin, the dashboard and the API at size.

    .venv/bin/python bench/seed.py                                   # sqlite:////tmp/autocoin-bench.sqlite3
    .venv/bin/python bench/seed.py --db postgres://postgres@127.0.0.1:5432/autocoin_bench
    .venv/bin/python bench/seed.py --force                           # delete the seeded rows and seed again

Default sizes: 1,000,000 events, 200,000 orders, 200,000 fills, 500,000 balance snapshots, 20,000 signals and
365 days of PnL. Rows go in with raw `executemany` (SQLite) or `COPY` (PostgreSQL) in one transaction, so a
run either seeds everything or nothing. A database that already holds seeded rows is left alone unless
`--force`; a database holding real orders is never touched.

From another bench (Django already set up and migrated):

    from bench.seed import seed_database
    seed_database()
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_DB = "sqlite:////tmp/autocoin-bench.sqlite3"
SEED_ACTOR = "bench:seed"
SEED_PREFIX = "seed-"
BATCH = 20_000


@dataclass(frozen=True)
class SeedSizes:
    events: int = 1_000_000
    orders: int = 200_000
    fills: int = 200_000
    snapshots: int = 500_000
    signals: int = 20_000
    pnl_days: int = 365


@dataclass
class SeedResult:
    skipped: bool
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


class SeedRefused(Exception):
    """The target database holds real trading data; the seed will not write into it."""


# ---------------------------------------------------------------------------------------------------
# Writing rows: every concrete column is filled, those the seed does not choose with the field's default,
# so a field added to a model later does not break the seed.
# ---------------------------------------------------------------------------------------------------
class _Writer:
    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.vendor = connection.vendor
        self.quote = connection.ops.quote_name

    def ts(self, value: datetime) -> Any:
        # Django stores SQLite datetimes as naive UTC text; psycopg's COPY takes aware datetimes as they are.
        if self.vendor == "sqlite":
            return value.replace(tzinfo=None).isoformat(sep=" ")
        return value

    def default(self, model_field: Any) -> Any:
        from django.db import models

        value = model_field.get_default()
        if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            value = datetime.now(UTC) if isinstance(model_field, models.DateTimeField) else datetime.now(UTC).date()
        if value is None:
            return None
        if isinstance(model_field, models.JSONField):
            return json.dumps(value)
        if isinstance(value, datetime):
            return self.ts(value)
        if isinstance(value, bool):
            return int(value) if self.vendor == "sqlite" else value
        if isinstance(value, Decimal):
            return str(value)
        return value

    def insert(self, model: Any, chosen: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.name == "id" and f.name not in chosen)]
        by_name = {f.name: f for f in fields}
        missing = [name for name in chosen if name not in by_name]
        if missing:
            raise ValueError(f"{model.__name__} has no field(s) {missing}")
        rest = [f for f in fields if f.name not in chosen]
        rest_values = tuple(self.default(f) for f in rest)
        columns = [by_name[name].column for name in chosen] + [f.column for f in rest]
        table = self.quote(model._meta.db_table)
        column_sql = ", ".join(self.quote(c) for c in columns)
        count = 0
        if self.vendor == "postgresql":
            raw = self.connection.cursor().cursor
            with raw.copy(f"COPY {table} ({column_sql}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, *rest_values))
                    count += 1
            return count
        raw = self.connection.connection.cursor()
        sql = f"INSERT INTO {table} ({column_sql}) VALUES ({', '.join('?' * len(columns))})"
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append((*row, *rest_values))
            if len(batch) >= BATCH:
                raw.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            raw.executemany(sql, batch)
            count += len(batch)
        return count

    def ids_after(self, model: Any, after: int) -> list[int]:
        with self.connection.cursor() as cursor:
            table = self.quote(model._meta.db_table)
            cursor.execute(f"SELECT id FROM {table} WHERE id > %s ORDER BY id", [after])
            return [row[0] for row in cursor.fetchall()]

    def max_id(self, model: Any) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT MAX(id) FROM {self.quote(model._meta.db_table)}")
            return cursor.fetchone()[0] or 0


def _eight(units: int) -> str:
    """An amount in 1e-8 units as an exact decimal string with 8 places."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 100_000_000}.{units % 100_000_000:08d}"


def _spread(count: int, end: datetime, span: timedelta) -> Callable[[int], datetime]:
    """Row i's timestamp: oldest first, evenly over `span` up to `end`, on whole milliseconds."""
    step_ms = max(1, int(span.total_seconds() * 1000) // max(1, count))
    start = end - timedelta(milliseconds=step_ms * count)
    return lambda i: start + timedelta(milliseconds=step_ms * i)


# ---------------------------------------------------------------------------------------------------
# Row generators
# ---------------------------------------------------------------------------------------------------
_EVENT_MIX: list[tuple[str, str, str]] = (
    [("cycle", "DEBUG", "cycle {i} finished in {ms} ms")] * 60
    + [("signal", "INFO", "macd says HOLD (score {score})")] * 15
    + [("balance", "INFO", "balance 1,000,000 KRW + 0.0001 BTC")] * 8
    + [("order_intent", "INFO", "buy 10000 KRW on KRW-BTC (strategy BUY)")] * 4
    + [("order_submitted", "INFO", "order seed-{i} submitted")] * 4
    + [("fill", "INFO", "filled 0.0001 BTC @ 99,950,000")] * 4
    + [("risk_blocked", "WARNING", "cooldown: last buy {ms} s ago")] * 3
    + [("exchange_error", "WARNING", "Upbit answered 429 too_many_requests; retrying")] * 1
    + [("error", "ERROR", "cycle {i} failed: ReadTimeout")] * 1
)


def _events(n: int, w: _Writer, now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    when = _spread(n, now, timedelta(days=365))
    mix = _EVENT_MIX
    for i in range(n):
        kind, level, text = mix[rng.randrange(len(mix))]
        message = text.format(i=i, ms=rng.randrange(5, 900), score=f"0.{rng.randrange(100):02d}")
        meta = f'{{"iteration": {i}}}' if kind == "cycle" else "{}"
        yield (w.ts(when(i)), level, "RUNNING", kind, SEED_ACTOR, message, meta)


def _signals(n: int, w: _Writer, now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    when = _spread(n, now, timedelta(days=365))
    for i in range(n):
        action = ("BUY", "SELL", "HOLD", "HOLD", "HOLD")[i % 5]
        score = _eight(rng.randrange(-100_000_000, 100_000_000))
        yield (w.ts(when(i)), "KRW-BTC", action, score, "bench-seed", f"MACD histogram {score}", "{}")


_ORDER_COLUMNS = (
    "ts",
    "updated_at",
    "market",
    "side",
    "ord_type",
    "price",
    "volume",
    "status",
    "mode",
    "account",
    "identifier",
    "exchange_uuid",
    "exchange_state",
    "executed_volume",
    "executed_funds",
    "paid_fee",
    "reason",
    "raw",
)


def _mode_and_account(i: int) -> tuple[str, str]:
    """Mostly paper, one row in 97 live (in the ledger of live rows from before accounts existed)."""
    return ("live", "live:legacy") if i % 97 == 0 else ("paper", "paper")


def _order_status(i: int) -> str:
    if i % 1000 == 7:
        return "WAIT"
    if i % 50 == 1:
        return "REJECTED"
    if i % 20 == 0:
        return "CANCEL"
    return "DONE"


def _orders(n: int, w: _Writer, now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    when = _spread(n, now, timedelta(days=365))
    for i in range(n):
        status = _order_status(i)
        buy = i % 2 == 0
        ts = w.ts(when(i))
        price = 90_000_000 + rng.randrange(20_000_000)
        volume_units = rng.randrange(5_000, 20_000)  # 0.00005 .. 0.0002 BTC
        filled = status == "DONE"
        funds_units = price * volume_units  # KRW in 1e-8 units
        yield (
            ts,
            ts,
            "KRW-BTC",
            "buy" if buy else "sell",
            "price" if buy else "market",
            f"{10_000 + (i % 50) * 100}.00000000" if buy else None,
            None if buy else _eight(volume_units),
            status,
            *_mode_and_account(i),
            f"{SEED_PREFIX}{i}",
            None if status == "REJECTED" else f"00000000-0000-4000-8000-{i:012d}",
            {"DONE": "done", "CANCEL": "cancel", "WAIT": "wait"}.get(status, ""),
            _eight(volume_units if filled else 0),
            _eight(funds_units if filled else 0),
            _eight(funds_units * 5 // 10_000 if filled else 0),
            "strategy BUY" if buy else "strategy SELL",
            "{}",
        )


def _fills(n: int, order_rows: list[tuple[int, int]], w: _Writer, now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """`order_rows` are (order id, order index) of filled orders; they take one fill each, then a second."""
    when = _spread(max(1, len(order_rows)), now, timedelta(days=365))
    for i in range(n):
        order_id, _index = order_rows[i % len(order_rows)]
        ts = when(i % len(order_rows)) + timedelta(seconds=1 + i // len(order_rows))
        price = 90_000_000 + rng.randrange(20_000_000)
        volume_units = rng.randrange(5_000, 20_000)
        funds_units = price * volume_units
        yield (
            w.ts(ts),
            order_id,
            f"{price}.00000000",
            _eight(volume_units),
            _eight(funds_units),
            _eight(funds_units * 5 // 10_000),
            f"{SEED_PREFIX}t{i}",
            "{}",
        )


def _snapshots(n: int, w: _Writer, now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    when = _spread(n, now, timedelta(days=365))
    krw = 1_000_000 * 100_000_000
    coin = 0
    for i in range(n):
        price = 90_000_000 + rng.randrange(20_000_000)
        delta = rng.randrange(-10_000, 10_000)
        coin = max(0, coin + delta)
        krw = max(0, krw - delta * price)
        total = krw + coin * price
        yield (
            w.ts(when(i)),
            *_mode_and_account(i),
            _eight(krw),
            "BTC",
            _eight(coin),
            f"{price}.00000000",
            f"{price}.00000000",
            _eight(total),
        )


def _pnl(days: int, now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    today = now.date()
    for day in range(days):
        realized = rng.randrange(-20_000, 30_000) * 100_000_000
        unrealized = rng.randrange(-5_000, 5_000) * 100_000_000
        yield (
            (today - timedelta(days=day)).isoformat(),
            "KRW-BTC",
            "paper",
            "paper",
            _eight(realized),
            _eight(unrealized),
            _eight(rng.randrange(0, 500) * 100_000_000),
            _eight(rng.randrange(0, 40_000) * 100_000_000),
            rng.randrange(0, 40),
        )


# ---------------------------------------------------------------------------------------------------
# The entry points
# ---------------------------------------------------------------------------------------------------
def is_seeded() -> bool:
    from trading.models import EngineEvent

    return EngineEvent.objects.filter(actor=SEED_ACTOR).exists()


def _refuse_real_data() -> None:
    from trading.models import Order

    real = Order.objects.exclude(identifier__startswith=SEED_PREFIX).values_list("identifier", flat=True).first()
    if real is not None:
        raise SeedRefused(
            f"this database holds real orders (for example {real!r}); seed an empty database instead, e.g. --db {DEFAULT_DB}"
        )


def _delete_seeded(w: _Writer) -> None:
    from trading.models import BalanceSnapshot, EngineEvent, Fill, Order, PnlDaily, Signal

    with w.connection.cursor() as cursor:
        for model in (Fill, Order, Signal, EngineEvent, BalanceSnapshot, PnlDaily):
            cursor.execute(f"DELETE FROM {w.quote(model._meta.db_table)}")


def seed_database(*, sizes: SeedSizes | None = None, force: bool = False, log: Callable[[str], None] | None = None) -> SeedResult:
    """Seed the configured (already migrated) database. Skips when seeded rows exist, unless `force`."""
    from django.db import transaction

    from trading.models import BalanceSnapshot, EngineEvent, Fill, Order, PnlDaily, Signal

    sizes = sizes or SeedSizes()
    say = log or (lambda text: None)
    _refuse_real_data()
    if is_seeded() and not force:
        say("already seeded; use --force to seed again")
        return SeedResult(skipped=True)
    w = _Writer()
    rng = random.Random(20261121)
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    rows: dict[str, int] = {}

    def step(name: str, action: Callable[[], int]) -> None:
        began = time.perf_counter()
        rows[name] = action()
        say(f"{name:>10}: {rows[name]:>9,} rows in {time.perf_counter() - began:6.1f} s")

    with transaction.atomic():
        if force:
            _delete_seeded(w)
        step(
            "events",
            lambda: w.insert(
                EngineEvent, ("ts", "level", "state", "kind", "actor", "message", "meta"), _events(sizes.events, w, now, rng)
            ),
        )
        step(
            "signals",
            lambda: w.insert(
                Signal, ("ts", "market", "action", "score", "source", "explanation", "meta"), _signals(sizes.signals, w, now, rng)
            ),
        )
        before = w.max_id(Order)
        step("orders", lambda: w.insert(Order, _ORDER_COLUMNS, _orders(sizes.orders, w, now, rng)))
        order_ids = w.ids_after(Order, before)
        filled = [(pk, index) for index, pk in enumerate(order_ids) if _order_status(index) == "DONE"]
        if sizes.fills and filled:
            step(
                "fills",
                lambda: w.insert(
                    Fill,
                    ("ts", "order", "price", "volume", "funds", "fee", "trade_id", "raw"),
                    _fills(sizes.fills, filled, w, now, rng),
                ),
            )
        step(
            "snapshots",
            lambda: w.insert(
                BalanceSnapshot,
                ("ts", "mode", "account", "krw", "coin_symbol", "coin_volume", "avg_buy_price", "price", "total_krw"),
                _snapshots(sizes.snapshots, w, now, rng),
            ),
        )
        step(
            "pnl_days",
            lambda: w.insert(
                PnlDaily,
                ("date", "market", "mode", "account", "realized", "unrealized", "fees", "max_drawdown", "trades"),
                _pnl(sizes.pnl_days, now, rng),
            ),
        )
    with w.connection.cursor() as cursor:
        # Fresh statistics, so the planners pick the ts/status/kind indexes at this size.
        cursor.execute("ANALYZE")
    seconds = time.perf_counter() - started
    say(f"seeded {sum(rows.values()):,} rows in {seconds:.1f} s")
    return SeedResult(skipped=False, seconds=seconds, rows=rows)


def setup_django(db_url: str) -> None:
    """Point Django at `db_url` (creating a PostgreSQL database if needed) and migrate it."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    if db_url.startswith(("postgres://", "postgresql://")):
        _create_postgres_database(db_url)
    elif db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def _create_postgres_database(db_url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(db_url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed a database with a large trading history for benchmarks.")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"DATABASE_URL to seed (default {DEFAULT_DB})")
    parser.add_argument("--force", action="store_true", help="delete the seeded rows and seed again")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size (e.g. 0.1 for a quick try)")
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")
    setup_django(args.db)
    base = SeedSizes()
    sizes = SeedSizes(
        events=int(base.events * args.scale),
        orders=int(base.orders * args.scale),
        fills=int(base.fills * args.scale),
        snapshots=int(base.snapshots * args.scale),
        signals=int(base.signals * args.scale),
        pnl_days=base.pnl_days,
    )
    try:
        seed_database(sizes=sizes, force=args.force, log=print)
    except SeedRefused as error:
        print(f"bench/seed.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
