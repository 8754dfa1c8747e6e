"""Manual requests in the engine: one older than MANUAL_ORDER_TTL_SEC by the exchange's clock expires unsent; a
cancel and the engine's pick-up race with exactly one winner; what waited through a kill-switch never fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.factories import ManualOrderRequestFactory
from tests.trading.engine.conftest import live_client
from trading import manual_requests, services
from trading.engine.cycle import TradingEngine
from trading.errors import ManualRequestNotCancellable
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order

D = Decimal
Status = ManualOrderRequest.Status
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("holding_strategy")]


@pytest.fixture
def sandbox(frozen_sandbox):
    return frozen_sandbox


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def engine_for(exchange, sandbox) -> TradingEngine:
    """The engine on the sandbox's clock: exchange time and the engine's own clock are the test's."""
    return TradingEngine(exchange, clock=sandbox.server.now)


def queued_at(sandbox, *, seconds_ago: float, kind: str = "buy") -> ManualOrderRequest:
    krw = D("10000") if kind == "buy" else None
    return ManualOrderRequestFactory(kind=kind, krw=krw, ts=sandbox.server.now() - timedelta(seconds=seconds_ago))


def test_a_request_older_than_its_ttl_by_the_exchanges_clock_expires_unsent(live, sandbox, settings):
    settings.MANUAL_ORDER_TTL_SEC = 120
    sandbox.set_price("100000000")
    running()
    request = queued_at(sandbox, seconds_ago=0)
    sandbox.advance(121)

    outcome = engine_for(live, sandbox).run_cycle()

    assert outcome.ok, outcome.error
    request.refresh_from_db()
    assert request.status == Status.EXPIRED
    assert request.result.startswith("expired: not carried out within 120 s (waited 121 s)")
    assert request.processed_at is not None
    assert request.order is None
    assert not Order.objects.exists()
    assert sandbox.state()["orders"] == []
    event = EngineEvent.objects.get(meta__action="expire_manual")
    says = f"Manual order #{request.pk} expired unexecuted: queued 121 s ago, longer than MANUAL_ORDER_TTL_SEC=120"
    assert event.message == says
    assert (event.actor, event.level, event.meta["request_id"]) == ("engine", "WARNING", request.pk)


def test_the_exchanges_clock_decides_not_this_pcs(sandbox_factory, engine_settings, settings):
    """Queued 119 s before the exchange's now: carried out, even though this PC's clock calls it an hour older."""
    settings.MANUAL_ORDER_TTL_SEC = 120
    behind = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # the exchange's clock an hour behind
    sandbox = sandbox_factory(clock=lambda: behind)
    client = live_client(sandbox)
    sandbox.set_price("100000000")
    running()
    request = queued_at(sandbox, seconds_ago=119)

    assert engine_for(client, sandbox).run_cycle().ok
    client.close()

    request.refresh_from_db()
    assert request.status == Status.DONE, request.result
    assert len(sandbox.state()["orders"]) == 1


def test_a_fresh_request_next_to_an_expired_one_is_still_carried_out(live, sandbox, settings):
    settings.MANUAL_ORDER_TTL_SEC = 60
    sandbox.set_price("100000000")
    running()
    old, fresh = queued_at(sandbox, seconds_ago=61), queued_at(sandbox, seconds_ago=5)

    assert engine_for(live, sandbox).run_cycle().ok

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, fresh.status) == (Status.EXPIRED, Status.DONE)
    assert Order.objects.get() == fresh.order


def test_a_close_queued_before_a_kill_switch_does_not_sell_after_reset_and_start(live, sandbox, settings):
    settings.MANUAL_ORDER_TTL_SEC = 120
    sandbox.set_price("100000000")
    sandbox.set_balance("BTC", "0.001", avg_buy_price="90000000")
    running()
    close = queued_at(sandbox, seconds_ago=0, kind="close")
    services.engine_fail(actor="engine", error="daily loss limit", kill_switch=True)
    engine = engine_for(live, sandbox)
    sandbox.advance(600)  # later, long past its time

    assert engine.run_cycle().ok  # in ERROR: it may not trade, but the request still ends
    close.refresh_from_db()
    assert close.status == Status.EXPIRED
    services.engine_reset(actor="user:alice")
    services.engine_start(actor="user:alice")
    assert engine.run_cycle().ok

    assert sandbox.state()["orders"] == []
    assert sandbox.state()["balances"]["BTC"]["balance"] == "0.001"


def test_the_engine_expires_old_requests_when_it_starts(live, sandbox, settings):
    settings.MANUAL_ORDER_TTL_SEC = 120
    old, fresh = queued_at(sandbox, seconds_ago=500), queued_at(sandbox, seconds_ago=30)

    engine_for(live, sandbox).startup_reconcile()

    assert ManualOrderRequest.objects.get(pk=old.pk).status == Status.EXPIRED
    assert ManualOrderRequest.objects.get(pk=fresh.pk).status == Status.PENDING
    assert EngineEvent.objects.filter(meta__action="expire_manual").count() == 1


def test_a_request_claimed_but_never_sent_expires_at_the_next_start(live, sandbox, settings):
    """The engine stopped between taking a request and writing its order: nothing was sent, and it is too old now."""
    settings.MANUAL_ORDER_TTL_SEC = 120
    request = queued_at(sandbox, seconds_ago=500)
    assert manual_requests.manual_order_request_claim(request=request)

    engine_for(live, sandbox).startup_reconcile()

    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.EXPIRED


# ---------------------------------------------------------------------------------------------------
# A cancel racing the engine's pick-up: exactly one wins
# ---------------------------------------------------------------------------------------------------
def test_a_cancel_between_the_engines_read_and_its_claim_wins_and_nothing_is_sent(live, sandbox, monkeypatch):
    sandbox.set_price("100000000")
    running()
    request = queued_at(sandbox, seconds_ago=1)
    claim = manual_requests.manual_order_request_claim

    def cancel_then_claim(*, request: ManualOrderRequest) -> bool:
        # The person's cancel lands after the engine read its batch and before it claims the request.
        manual_requests.manual_order_request_cancel(request_id=request.pk, actor="user:alice")
        return claim(request=request)

    monkeypatch.setattr(manual_requests, "manual_order_request_claim", cancel_then_claim)

    assert engine_for(live, sandbox).run_cycle().ok

    request.refresh_from_db()
    assert request.status == Status.CANCELLED
    assert not Order.objects.exists()
    assert sandbox.state()["orders"] == []
    assert EngineEvent.objects.get(meta__action="cancel_manual").actor == "user:alice"


def test_a_cancel_after_the_engine_claimed_is_refused_and_the_order_goes_out(live, sandbox, monkeypatch):
    sandbox.set_price("100000000")
    running()
    request = queued_at(sandbox, seconds_ago=1)
    claim = manual_requests.manual_order_request_claim
    refusals: list[str] = []

    def claim_then_cancel(*, request: ManualOrderRequest) -> bool:
        won = claim(request=request)
        try:
            manual_requests.manual_order_request_cancel(request_id=request.pk, actor="user:alice")
        except ManualRequestNotCancellable as refusal:
            refusals.append(refusal.message)
        return won

    monkeypatch.setattr(manual_requests, "manual_order_request_claim", claim_then_cancel)

    assert engine_for(live, sandbox).run_cycle().ok

    request.refresh_from_db()
    assert request.status == Status.DONE
    assert refusals == [f"Manual order #{request.pk} can no longer be cancelled: it is PROCESSING"]
    assert len(sandbox.state()["orders"]) == 1
    assert not EngineEvent.objects.filter(meta__action="cancel_manual").exists()
