"""The claim fence with a real process: `runengine` frozen (SIGSTOP) between the gate and the POST, taken over,
then woken (SIGCONT), must not send its order."""

from __future__ import annotations

import signal
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import ManualOrderRequestFactory
from tests.trading.engine.test_runner import (
    STALE_AFTER_SEC,
    EngineProcess,
    _no_engine_outlives_its_test,  # noqa: F401 - the fixture that kills any engine process left behind
    engine_env,  # noqa: F401 - the fixture: a runengine environment against this test's sandbox
    heartbeat_at,
    wait_until,
)
from tests.waiting import wait_until as poll
from trading import services
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
STALL_SEC = 3 * STALE_AFTER_SEC
"""The order book read the gate makes just before the order, held this long: the test freezes the engine inside it."""


def test_a_frozen_engine_woken_after_a_takeover_sends_no_order(engine_env, sandbox):  # noqa: F811 - the fixture
    sandbox.set_price("100000000")
    env = {**engine_env, "UPBIT_READ_TIMEOUT_SEC": str(STALL_SEC * 4), "MAX_SLIPPAGE_PCT": "1"}
    sandbox.stall("/v1/orderbook", method="GET", seconds=STALL_SEC)
    engine = EngineProcess(env)
    engine.wait_claimed()
    services.engine_start(actor="user:alice")
    request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    # The claim was checked and the gate allowed the order; the order book read is the last step before the POST.
    wait_until(lambda: sandbox.received("GET", "/v1/orderbook") >= 1, 30, engine.output_if_dead)

    engine.proc.send_signal(signal.SIGSTOP)
    try:
        last_beat = heartbeat_at()
        poll(
            lambda: timezone.now() - last_beat > timedelta(seconds=STALE_AFTER_SEC),
            timeout=STALE_AFTER_SEC + 5,
            message="the frozen engine's heartbeat never went stale",
        )
        taken = services.engine_claim(owner="taker-host:4242", stale_after_sec=STALE_AFTER_SEC)
        assert taken.claimed
    finally:
        engine.proc.send_signal(signal.SIGCONT)
    code, out = engine.stop(signal.SIGCONT, timeout=60)

    assert code == 1, out
    assert sandbox.received("POST", "/v1/orders") == 0
    assert not Order.objects.exists()
    assert EngineState.load().owner == "taker-host:4242"
    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.PENDING  # left for the engine that owns the claim now
    not_sent = EngineEvent.objects.get(kind="error", message__startswith="Order on KRW-BTC not sent")
    assert not_sent.meta["owner"] == engine.owner
    assert not_sent.meta["now_owned_by"] == "taker-host:4242"
