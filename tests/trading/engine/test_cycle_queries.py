"""What a cycle asks the database: the usual cycle reads no order when none is open, and an order's cycle neither
reads back the fills it just recorded nor the state row it read at its start."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext

from tests.factories import ManualOrderRequestFactory, OrderFactory
from trading.engine import risk
from trading.engine.cycle import TradingEngine
from trading.engine.pnl import fill_records, replay_fills
from trading.engine.runner import KEEP_POOLED_CONNECTIONS, keep_engine_connections
from trading.models import EngineState, Fill, Order, PnlDaily

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("holding_strategy")]


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def sql_of(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries]


def top_level(sql: str) -> str:
    """`sql` without its parenthesised parts (subqueries), to tell what a query reads from what it only tests."""
    depth, kept = 0, []
    for char in sql:
        depth += char == "("
        if depth == 0:
            kept.append(char)
        depth -= char == ")"
    return "".join(kept)


def reads(queries: CaptureQueriesContext, table: str) -> list[str]:
    return [sql for sql in sql_of(queries) if sql.lstrip().upper().startswith("SELECT") and f'FROM "{table}"' in top_level(sql)]


@pytest.fixture
def engine(live, sandbox):
    sandbox.set_price("100000000")
    running()
    engine = TradingEngine(live)
    for _ in range(2):
        assert engine.run_cycle().ok  # the start-up reconcile and the PnL book's first read are behind us
    return engine


def test_a_steady_hold_cycle_reads_the_state_once_and_no_order(engine):
    with CaptureQueriesContext(connection) as queries:
        assert engine.run_cycle().ok

    assert reads(queries, "trading_order") == []
    assert len(reads(queries, "trading_enginestate")) == 1
    assert len(queries.captured_queries) <= 3, sql_of(queries)


def test_an_open_order_is_still_read_and_looked_up_every_cycle(engine, live):
    OrderFactory(status=Order.Status.UNKNOWN, account=engine.account, mode="live", exchange_uuid="", executed_volume=D("0"))

    with CaptureQueriesContext(connection) as queries:
        engine.run_cycle()

    assert reads(queries, "trading_order"), "the open order must be read to be looked up at the exchange"


def test_a_manual_order_cycle_reads_neither_its_new_fills_nor_the_state_row_again(engine, sandbox):
    ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    assert engine.run_cycle().ok  # the account's first fill: the book, still empty, reads the table once
    ManualOrderRequestFactory(kind="close", krw=None)

    with CaptureQueriesContext(connection) as queries:
        outcome = engine.run_cycle()

    assert outcome.ok, outcome.error
    assert [order.status for order in Order.objects.order_by("id")] == [Order.Status.DONE, Order.Status.DONE]
    assert Fill.objects.count() == 2
    assert len(reads(queries, "trading_enginestate")) == 1, "the gate uses the row the cycle read at its start"
    # A new order's fills are known in hand: none is read back to be deduplicated, counted or put in the book.
    assert reads(queries, "trading_fill") == []
    # ...and the book the cycle kept is the one a full read of the fills gives
    book = engine._pnl.book if engine._pnl is not None else None
    assert book is not None
    rebuilt = replay_fills(fill_records(market="KRW-BTC", account=engine.account))
    assert (book.volume, book.cost, book.max_id) == (rebuilt.volume, rebuilt.cost, rebuilt.max_id)
    row = PnlDaily.objects.get(account=engine.account)
    assert row.trades == 2


def test_the_gate_judges_by_the_cycles_own_state_row_once_then_reads_it_again(engine, sandbox):
    pnl = engine._pnl_tracker()
    ticker = engine.exchange.get_ticker("KRW-BTC")
    moment = engine._moment(ticker.trade_price, ticker.timestamp, pnl)
    intent = risk.OrderIntent(side="buy", source=risk.IntentSource.STRATEGY, krw_total=D("10000"), reason="test")
    seen = EngineState.load()
    seen.kill_switch = True  # what the cycle read at its start (the stored row has no kill-switch)
    engine.orders.state_seen = seen

    with CaptureQueriesContext(connection) as first:
        judged_by_cycle_row = engine.orders.evaluate(intent, moment)
    judged_by_stored_row = engine.orders.evaluate(intent, moment)

    assert not judged_by_cycle_row.allowed
    assert reads(first, "trading_enginestate") == []
    assert judged_by_stored_row.allowed, judged_by_stored_row.message


@pytest.fixture
def engine_process_connections():
    """The engine process's connection settings for PostgreSQL (runengine applies them at start), undone afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL's connections come from a pool")
    keep_engine_connections()
    yield
    connection_created.disconnect(dispatch_uid=KEEP_POOLED_CONNECTIONS)
    connection.close()


@pytest.mark.usefixtures("engine_process_connections")
def test_cycles_keep_their_pooled_connection_rather_than_ask_the_pool_for_one_each_time(engine):
    connection.close()  # the next query opens the connection the engine keeps from then on
    assert engine.run_cycle().ok
    kept = connection.connection
    handed_out = connection.pool.get_stats().get("requests_num", 0)

    for _ in range(3):
        assert engine.run_cycle().ok

    # Each hand-out costs a round trip for the pool's check; before, every cycle asked for two.
    assert connection.pool.get_stats().get("requests_num", 0) == handed_out
    assert connection.connection is kept
