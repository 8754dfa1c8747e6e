"""The claim fence: an engine process that lost its claim between the gate and the POST sends nothing."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import translation

from tests.factories import ManualOrderRequestFactory
from tests.waiting import wait_until
from trading import services
from trading.engine import orders as order_ops
from trading.engine.claim import Claim, ClaimLost
from trading.engine.cycle import TradingEngine
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order
from trading.templatetags.dashboard import event_text

D = Decimal
ORDERS = "/v1/orders"
OWNER = "engine-host:1111"
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("holding_strategy")]


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def claimed(owner: str = OWNER) -> int:
    assert services.engine_claim(owner=owner, stale_after_sec=0).claimed
    return EngineState.load().claim_generation


def test_every_claim_raises_the_generation():
    first = claimed()
    again = claimed()  # the same name claiming again (a restarted container reusing host and pid) is a new claim
    other = claimed("other-host:2222")

    assert first < again < other


@pytest.mark.parametrize("taker", ["other-host:2222", OWNER], ids=["another process", "a new claim under the same name"])
def test_a_claim_taken_between_the_gate_and_the_submit_sends_nothing(live, sandbox, taker):
    sandbox.set_price("100000000")
    claimed()
    running()
    request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    engine = TradingEngine(live, owner=OWNER)
    gate = engine.orders.evaluate

    def evaluate_then_lose_the_claim(intent, moment):
        verdict = gate(intent, moment)  # the early check has passed and the gate allowed the order...
        claimed(taker)  # ...then the process freezes, and another claim takes the engine over
        return verdict

    engine.orders.evaluate = evaluate_then_lose_the_claim

    outcome = engine.run_cycle()

    assert outcome.stopped
    assert sandbox.received("POST", ORDERS) == 0
    assert not Order.objects.exists()
    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.PENDING  # left for the process that owns the engine now
    lost = EngineEvent.objects.filter(kind="error", message__startswith="Order on KRW-BTC not sent").get()
    assert lost.meta["owner"] == OWNER
    assert lost.meta["now_owned_by"] == taker
    with translation.override("ko"):
        assert event_text(lost) == (
            f"KRW-BTC 주문을 보내지 않았습니다: 다른 엔진 프로세스({taker})가 엔진을 넘겨받았습니다; "
            "이 프로세스는 거래를 멈춥니다"
        )
    assert EngineState.load().state == "RUNNING"  # the new owner's engine is not put in ERROR by the stale one


def test_the_claim_held_when_the_intent_is_written_lets_the_order_through(live, sandbox):
    sandbox.set_price("100000000")
    claimed()
    claim = Claim.of(OWNER)

    result = order_ops.order_submit(
        live, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"), claim=claim
    )

    assert result.placed
    assert sandbox.received("POST", ORDERS) == 1


def test_a_stale_claim_writes_no_intent_row(live, sandbox):
    sandbox.set_price("100000000")
    claimed()
    stale = Claim.of(OWNER)
    claimed()

    with pytest.raises(ClaimLost, match="no order sent"):
        order_ops.order_submit(
            live, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"), claim=stale
        )

    assert not Order.objects.exists()
    assert sandbox.received("POST", ORDERS) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's; SQLite serializes every writer")
def test_a_takeover_waits_for_the_intent_being_written_under_the_claim():
    claimed()
    claim = Claim.of(OWNER)
    fenced, release = threading.Event(), threading.Event()
    taken: list[bool] = []

    def write_intent() -> None:
        try:
            with transaction.atomic():
                claim.fence()()
                fenced.set()
                release.wait(30)
        finally:
            connection.close()

    def take_over() -> None:
        try:
            taken.append(services.engine_claim(owner="other-host:2222", stale_after_sec=0).claimed)
        finally:
            connection.close()

    writer = threading.Thread(target=write_intent)
    writer.start()
    assert fenced.wait(30)
    taker = threading.Thread(target=take_over)
    taker.start()
    wait_until(
        lambda: any(row == ("Lock",) for row in waiting_on_locks()),
        timeout=30,
        message="the takeover never queued behind the intent's transaction",
    )
    assert taken == []  # still waiting: the claim cannot change under an intent being written
    release.set()
    writer.join(30)
    taker.join(30)

    assert taken == [True]
    assert EngineState.load().owner == "other-host:2222"


def waiting_on_locks() -> list[tuple[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return list(cursor.fetchall())
