"""The engine's memory of a database that stopped answering, on a clock the test moves."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from tests.waiting import ManualClock
from trading.engine.outage import RETRY_CAP_SEC, SETTLE_SEC, DatabaseOutage

pytestmark = pytest.mark.django_db

LOCKED = OperationalError("database is locked")


def test_retries_back_off_to_a_cap_and_a_short_outage_ends_in_a_warning():
    clock = ManualClock()
    outage = DatabaseOutage(max_sec=60, clock=clock)
    assert outage.answered() is None
    delays = []
    for _ in range(8):
        delays.append(outage.failed(LOCKED))
        clock.advance(delays[-1])
    assert delays[:3] == [0.25, 0.5, 1.0]
    assert delays[-1] == RETRY_CAP_SEC
    assert not outage.blocks_trading()

    ended = outage.answered()
    assert ended is not None
    assert not ended.too_long
    assert ended.failures == 8
    assert ended.seconds == pytest.approx(sum(delays))
    assert "the engine carried on" in ended.describe(60)
    assert "database is locked" in ended.error
    outage.recorded(ended)
    assert not outage.away()
    assert outage.answered() is None
    assert outage.failed(LOCKED) == 0.25  # a new outage backs off from the start


def test_an_outage_past_the_limit_blocks_trading_until_its_error_is_recorded():
    clock = ManualClock()
    outage = DatabaseOutage(max_sec=10, clock=clock)
    outage.failed(LOCKED)
    clock.advance(10.5)
    assert outage.blocks_trading()  # even before another query fails: the database may be back for one thread only
    outage.failed(LOCKED)
    assert outage.answered() is None  # one answer right after a failure is not the end yet
    clock.advance(SETTLE_SEC)
    ended = outage.answered()
    assert ended.too_long
    assert "longer than DB_OUTAGE_MAX_SEC=10" in ended.describe(10)
    assert outage.blocks_trading()
    outage.recorded(ended)
    assert not outage.blocks_trading()


def test_a_failure_while_the_end_is_being_recorded_keeps_the_outage_open():
    clock = ManualClock()
    outage = DatabaseOutage(max_sec=10, clock=clock)
    outage.failed(LOCKED)
    clock.advance(11)
    ended = outage.answered()
    outage.failed(LOCKED)  # the other thread, meanwhile
    outage.recorded(ended)
    assert outage.away()
    clock.advance(SETTLE_SEC)
    assert outage.answered() is not None
