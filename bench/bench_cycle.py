"""One trading cycle's own overhead on a large database (exchange latency excluded).

    .venv/bin/python bench/bench_cycle.py                                  # SQLite (seeded by bench/seed.py)
    .venv/bin/python bench/bench_cycle.py --db postgres://postgres@127.0.0.1:5432/autocoin_bench
    .venv/bin/python bench/bench_cycle.py --cycles 500 --order-cycles 500

The exchange is an in-process object answering with real typed data fetched beforehand (real Upbit
KRW-BTC minute candles from ../shared/data or AUTOCOIN_BENCH_MINUTES, a ticker, balances), so the figures are the engine's own
work: its database reads and writes, the strategy, the risk gate, PnL and book-keeping. The database
is seeded with bench/seed.py (1,000,000 events, 200,000 orders and fills, 500,000 snapshots) first.

Measured: steady HOLD cycles (the common case) and cycles that place a market order (intent, submit,
fill, events). Warm-up cycles (the first one replays every fill into the PnL book and reconciles the
seeded open orders) are not counted. The planner's statistics are gathered (`ANALYZE`) first, and the
plan of the open-orders lookup is printed. Targets: HOLD cycles p50 <= 3 ms and p99 <= 5 ms, cycles with
an order p99 <= 20 ms, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed import DEFAULT_DB, seed_database, setup_django  # noqa: E402

DATA = Path(os.environ.get("AUTOCOIN_BENCH_MINUTES", ROOT.parent / "shared" / "data" / "upbit-krw-btc-1m-2018.csv"))
D = Decimal


def load_candles(limit: int = 200):
    from exchange.types import Candle

    with DATA.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[-limit:]
    return [
        Candle(
            market="KRW-BTC",
            unit=1,
            start=datetime.fromisoformat(row["candle_date_time_utc"]).replace(tzinfo=UTC),
            open=D(row["opening_price"]),
            high=D(row["high_price"]),
            low=D(row["low_price"]),
            close=D(row["trade_price"]),
            volume=D(row["candle_acc_trade_volume"]),
            value=D(row["candle_acc_trade_price"]),
        )
        for row in rows
    ]


class PrefetchedExchange:
    """The Exchange protocol over data held in memory: no network, no sleeping."""

    is_paper = False

    def __init__(self, candles) -> None:
        from exchange.types import Balance, OrderChance, Ticker

        self.candles = candles
        self.price = candles[-1].close
        self.ticker = Ticker(market="KRW-BTC", trade_price=self.price, timestamp=datetime.now(UTC))
        self.krw = D("1000000")
        self.btc = D("0")
        self.balance_type = Balance
        self.chance = OrderChance(
            market="KRW-BTC",
            bid_fee=D("0.0005"),
            ask_fee=D("0.0005"),
            min_total=D("5000"),
            max_total=D("1000000000"),
            bid_account=Balance("KRW", self.krw, D("0")),
            ask_account=Balance("BTC", D("0"), D("0")),
        )

    def get_ticker(self, market):
        return self.ticker

    def get_minute_candles(self, market, *, unit=1, count=200, to=None):
        return self.candles[-count:]

    def get_day_candles(self, market, *, count=200, to=None):
        return self.candles[-count:]

    def get_orderbook(self, market):
        from exchange.types import OrderBook, OrderBookLevel

        level = OrderBookLevel(ask_price=self.price, ask_size=D("100"), bid_price=self.price, bid_size=D("100"))
        return OrderBook(market=market, timestamp=datetime.now(UTC), levels=(level,))

    def get_accounts(self):
        return [self.balance_type("KRW", self.krw, D("0")), self.balance_type("BTC", self.btc, D("0"), avg_buy_price=self.price)]

    def get_order_chance(self, market):
        return self.chance

    def _done(self, *, uuid_: str, identifier: str | None, side: str, ord_type: str, volume: D, funds: D):
        from exchange.types import OrderInfo, Trade

        now = datetime.now(UTC)
        trade = Trade(
            uuid=f"bench-{uuid_}",
            market="KRW-BTC",
            side=side,
            price=self.price,
            volume=volume,
            funds=funds,
            created_at=now,
            fee=(funds * D("0.0005")).quantize(D("0.00000001")),
        )
        return OrderInfo(
            uuid=uuid_,
            market="KRW-BTC",
            side=side,
            ord_type=ord_type,
            state="done",
            created_at=now,
            identifier=identifier,
            executed_volume=volume,
            executed_funds=funds,
            paid_fee=trade.fee or D("0"),
            trades_count=1,
            trades=(trade,),
        )

    def place_order(self, request):
        if request.side == "buy":
            funds = request.price
            volume = (funds / self.price).quantize(D("0.00000001"))
            self.krw -= funds * D("1.0005")
            self.btc += volume
        else:
            volume = request.volume
            funds = (volume * self.price).quantize(D("0.00000001"))
            self.btc -= volume
            self.krw += funds * D("0.9995")
        return self._done(
            uuid_=str(uuid.uuid4()),
            identifier=request.identifier,
            side=request.side,
            ord_type=request.ord_type,
            volume=volume,
            funds=funds,
        )

    def get_order(self, *, uuid=None, identifier=None):
        """Seeded open or partly recorded orders: answer 'done' with a trade for what is not recorded yet."""
        from django.db.models import Sum

        from trading.models import Order

        row = Order.objects.get(exchange_uuid=uuid) if uuid else Order.objects.get(identifier=identifier)
        recorded = row.fills.aggregate(total=Sum("volume"))["total"] or D("0")
        missing = max(row.executed_volume - recorded, D("0")) or D("0.0001")
        return self._done(
            uuid_=row.exchange_uuid or str(uuid.uuid4()),
            identifier=row.identifier,
            side=row.side,
            ord_type=row.ord_type,
            volume=recorded + missing,
            funds=((recorded + missing) * self.price).quantize(D("0.00000001")),
        )

    def cancel_order(self, *, uuid=None, identifier=None):
        return self.get_order(uuid=uuid, identifier=identifier)

    def get_open_orders(self, market):
        return []


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure(engine, cycles: int, before=None) -> list[float]:
    timings = []
    for _ in range(cycles):
        if before is not None:
            before()
        started = time.perf_counter()
        outcome = engine.run_cycle()
        timings.append((time.perf_counter() - started) * 1000)
        if not outcome.ok:
            raise SystemExit(f"bench cycle failed: {outcome.error}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time one trading cycle's own overhead on a large database.")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"DATABASE_URL (default {DEFAULT_DB})")
    parser.add_argument("--cycles", type=int, default=300, help="HOLD cycles to time (default 300)")
    parser.add_argument(
        "--order-cycles",
        type=int,
        default=200,
        help="cycles with a market order to time (default 200: a p99 of 50 is the maximum)",
    )
    args = parser.parse_args(argv)
    setup_django(args.db)
    seed_database(log=print)

    from django.conf import settings
    from django.db import connection

    from trading.engine.cycle import TradingEngine
    from trading.engine.orders import open_order_rows
    from trading.engine.runner import keep_engine_connections, settle_engine_process
    from trading.models import EngineEvent, EngineState, Fill, ManualOrderRequest, Order, StrategyConfig

    keep_engine_connections()  # as runengine does
    # With planner statistics present, as on any database that has lived a while (PostgreSQL's autovacuum
    # gathers them by itself): a cycle's cost must not depend on them.
    restore_seeded_ids()  # a run stopped before its clean-up left a gap in the ids
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    settings.STRATEGY = "sma_cross"
    settings.ORDER_COOLDOWN_SEC = 0
    settings.MAX_DAILY_LOSS_KRW = D("100000000")
    StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 5, "slow": 20}})
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING", kill_switch=False, consecutive_failures=0)

    engine = TradingEngine(PrefetchedExchange(load_candles()))
    settle_engine_process()  # as runengine does once the engine is built
    open_plan = " | ".join(open_order_rows().filter(account=engine.account).order_by().explain().splitlines())
    warm = measure(engine, 5)
    hold = measure(engine, args.cycles)

    def queue_order() -> None:
        # alternate buy and close so every cycle places exactly one market order
        kind = "buy" if engine.exchange.btc == 0 else "close"
        ManualOrderRequest.objects.create(
            market="KRW-BTC", kind=kind, krw=D("10000") if kind == "buy" else None, requested_by="bench"
        )

    placed_before = Order.objects.filter(identifier__startswith="ac-").count()
    ordering = measure(engine, args.order_cycles, before=queue_order)
    placed = Order.objects.filter(identifier__startswith="ac-").count() - placed_before

    print(
        f"database: {connection.vendor} ({args.db}); {EngineEvent.objects.count():,} events, "
        f"{Order.objects.count():,} orders, {Fill.objects.count():,} fills"
    )
    print(f"open-orders lookup after ANALYZE: {open_plan}")
    print(f"warm-up cycles (not counted): {', '.join(f'{t:.1f}' for t in warm)} ms")
    print(
        f"HOLD cycle: p50 {statistics.median(hold):.2f} ms, p99 {percentile(hold, 99):.2f} ms, "
        f"max {max(hold):.2f} ms over {len(hold)} cycles (targets p50 <= 3 ms, p99 <= 5 ms)"
    )
    print(
        f"order cycle: p50 {statistics.median(ordering):.2f} ms, p99 {percentile(ordering, 99):.2f} ms "
        f"over {len(ordering)} cycles, {placed} market orders placed (target p99 <= 20 ms)"
    )
    # Leave the seeded database as it was, apart from events and signals: the bench's own orders go.
    Fill.objects.filter(order__identifier__startswith="ac-").delete()
    ManualOrderRequest.objects.filter(requested_by="bench").delete()
    Order.objects.filter(identifier__startswith="ac-").delete()
    EngineState.objects.filter(pk=1).update(state="IDLE")
    restore_seeded_ids()
    return 0


def restore_seeded_ids() -> None:
    """Set PostgreSQL's id sequences back to the largest id kept. The bench deletes its own orders and fills at
    the end; a sequence left past them makes a jump in the ids that no living database has (ids only grow there),
    and the planner, seeing the range above the last fill it knows as thousands of rows wide, would then pick a
    full scan for the engine's read of new fills."""
    from django.core.management.color import no_style
    from django.db import connection

    from trading.models import EngineEvent, Fill, ManualOrderRequest, Order, Signal

    statements = connection.ops.sequence_reset_sql(no_style(), [Fill, Order, ManualOrderRequest, Signal, EngineEvent])
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


if __name__ == "__main__":
    sys.exit(main())
