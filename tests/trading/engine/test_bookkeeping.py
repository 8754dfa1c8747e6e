"""The records a cycle leaves behind: after a fill, the balance snapshot, the day's PnL row and the heartbeat are
committed together, so a database failure between them leaves none half-written, and the next cycle writes all."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from tests.factories import ManualOrderRequestFactory
from trading.engine import bookkeeping
from trading.engine.cycle import TradingEngine
from trading.models import BalanceSnapshot, EngineState, Fill, PnlDaily

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("holding_strategy")]


@pytest.fixture
def engine(live, sandbox):
    sandbox.set_price("100000000")
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")
    engine = TradingEngine(live)
    for _ in range(2):
        assert engine.run_cycle().ok  # the start-up reconcile and the first snapshot are behind us
    return engine


def snapshots_holding_coin(engine: TradingEngine) -> int:
    return BalanceSnapshot.objects.filter(account=engine.account, coin_volume__gt=0).count()


def day_trades(engine: TradingEngine) -> int:
    return sum(PnlDaily.objects.filter(account=engine.account).values_list("trades", flat=True))


def test_a_database_failure_among_the_records_leaves_none_and_the_next_cycle_writes_them_all(engine, monkeypatch):
    ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    iteration = EngineState.load().iteration

    def database_gone(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(bookkeeping.services, "engine_cycle_record", database_gone)
    with pytest.raises(OperationalError):
        engine.run_cycle()

    assert Fill.objects.count() == 1, "the fill is committed with its order, before the cycle's records"
    assert snapshots_holding_coin(engine) == 0
    assert day_trades(engine) == 0
    assert EngineState.load().iteration == iteration

    monkeypatch.undo()  # the database answers again
    assert engine.run_cycle().ok

    assert snapshots_holding_coin(engine) == 1
    assert day_trades(engine) == 1
    assert EngineState.load().iteration == iteration + 1


def test_a_quiet_cycle_writes_its_heartbeat_alone_without_a_transaction(engine):
    with CaptureQueriesContext(connection) as queries:
        assert engine.run_cycle().ok

    statements = [query["sql"].upper() for query in queries.captured_queries]
    assert not any(sql.startswith(("BEGIN", "SAVEPOINT")) for sql in statements), statements
    assert BalanceSnapshot.objects.filter(account=engine.account).count() == 1
