"""The day's PnL row is written only while the engine's claim holds: a process frozen past its claim and woken
after another took over must not write its stale book over the new owner's figures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading.engine.claim import Claim, ClaimLost
from trading.engine.pnl import PnlTracker
from trading.models import EngineState, PnlDaily

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)


def _owned_by(owner: str, generation: int) -> None:
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(owner=owner, claim_generation=generation)


def test_the_owner_writes_the_days_row():
    _owned_by("host:1", 3)
    tracker = PnlTracker(market="KRW-BTC", account="paper", claim=Claim.of("host:1"))
    tracker.update(price=Decimal("100"), equity=Decimal("1000"), now=NOW)
    tracker.update(price=Decimal("100"), equity=Decimal("990"), now=NOW)
    assert PnlDaily.objects.get().equity_last == Decimal("990")


def test_a_process_that_lost_its_claim_writes_nothing_and_stops():
    _owned_by("host:1", 3)
    tracker = PnlTracker(market="KRW-BTC", account="paper", claim=Claim.of("host:1"))
    tracker.update(price=Decimal("100"), equity=Decimal("1000"), now=NOW)
    _owned_by("host:2", 4)  # taken over while this process was frozen

    with pytest.raises(ClaimLost):
        tracker.update(price=Decimal("100"), equity=Decimal("900"), now=NOW)

    assert PnlDaily.objects.get().equity_last == Decimal("1000")


def test_without_a_claim_the_row_is_written_as_before():
    _owned_by("host:2", 4)
    tracker = PnlTracker(market="KRW-BTC", account="paper")
    tracker.update(price=Decimal("100"), equity=Decimal("1000"), now=NOW)
    assert PnlDaily.objects.get().equity_last == Decimal("1000")
