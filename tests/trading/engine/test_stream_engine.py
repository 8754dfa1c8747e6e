"""The engine on the market stream, for real: `runengine` subprocesses against the sandbox's WebSocket and REST.

Loop intervals are long (30 s) so that anything that happens within a second was caused by the stream."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.test import Client

from tests.factories import UserFactory
from tests.trading.engine.conftest import HOLDING_PARAMS, HOLDING_STRATEGY
from tests.trading.engine.test_runner import (  # noqa: F401 - the autouse fixture kills a leftover engine
    EngineProcess,
    _no_engine_outlives_its_test,
    iteration,
    wait_until,
)
from tests.trading.engine.test_runner import engine_env as runner_env
from trading import services
from trading.engine import orders as order_ops
from trading.models import EngineEvent, EngineState, Fill, Order, StrategyConfig

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
LONG_LOOP_SEC = 30
STALE_SEC = 1


engine_env = runner_env


@pytest.fixture
def stream_env(engine_env):
    return {**engine_env, "MARKET_STREAM": "on", "STREAM_STALE_SEC": str(STALE_SEC), "LOOP_INTERVAL_SEC": str(LONG_LOOP_SEC)}


@pytest.fixture
def operator(db):
    return UserFactory(username="operator", groups=["Operators"])


def stream_metrics() -> dict:
    metrics = EngineState.load().metrics
    return metrics.get("stream", {}) if isinstance(metrics, dict) else {}


def sandbox_sells(sandbox) -> list[dict]:
    return [order for order in sandbox.state()["orders"] if order.get("side") == "ask"]


def test_a_stop_loss_sells_within_a_second_of_the_streamed_drop(stream_env, sandbox):
    sandbox.set_price("100000000")
    StrategyConfig.objects.filter(strategy=HOLDING_STRATEGY).update(params={**HOLDING_PARAMS, "stop_loss_pct": "3"})
    sandbox.set_balance("BTC", "0.001", avg_buy_price="100000000")
    engine = EngineProcess(stream_env)
    engine.wait_claimed()
    wait_until(lambda: stream_metrics().get("state") == "connected", 10, engine.output_if_dead)
    services.engine_start(actor="user:alice")
    wait_until(lambda: iteration() >= 1, 10, engine.output_if_dead)  # the cycle loaded the position: the stream watches it
    cycles = iteration()
    assert sandbox_sells(sandbox) == []

    sandbox.set_price("96000000")  # 4 % under the entry: past the 3 % stop
    dropped = time.monotonic()
    wait_until(lambda: sandbox_sells(sandbox), 1.0, engine.output_if_dead)
    elapsed = time.monotonic() - dropped

    print(f"stop-loss sell after {elapsed:.3f} s")
    assert elapsed < 1.0
    # The cycle that sold was woken, the 30 s schedule being far off; its count is written as it ends.
    wait_until(lambda: iteration() > cycles, 5, engine.output_if_dead)
    (sell,) = sandbox_sells(sandbox)
    assert Decimal(sell["volume"]) == Decimal("0.001")
    code, out = engine.stop()
    assert code == 0, out
    assert EngineState.load().metrics["stream"]["wakes"] >= 1


def switch_after(after_id: int, source: str) -> EngineEvent | None:
    """The first switch to `source` recorded after event `after_id` (a quiet sandbox market may flap before it)."""
    return EngineEvent.objects.filter(kind="market_stream", id__gt=after_id, meta__source=source).order_by("id").first()


def last_event_id() -> int:
    return EngineEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_a_dropped_stream_falls_back_to_rest_and_comes_back(stream_env, sandbox):
    engine = EngineProcess(stream_env)
    engine.wait_claimed()
    wait_until(lambda: switch_after(0, "stream"), 10, engine.output_if_dead)

    sandbox.control("POST", "ws_refuse", {"status": 503, "count": 1000})
    wait_until(lambda: stream_metrics().get("state") == "connected", 5, engine.output_if_dead)
    mark = last_event_id()
    sandbox.control("POST", "ws_drop", {})
    wait_until(lambda: switch_after(mark, "rest"), 3, engine.output_if_dead)
    fallback = switch_after(mark, "rest")
    assert fallback is not None
    assert fallback.level == "WARNING"
    assert "disconnected" in fallback.message
    assert stream_metrics()["state"] == "disconnected"

    sandbox.control("POST", "reset_faults", {})
    wait_until(lambda: switch_after(fallback.id, "stream"), 15, engine.output_if_dead)
    assert stream_metrics()["reconnects"] >= 1
    code, out = engine.stop()
    assert code == 0, out


def test_a_stalled_stream_is_called_stale_within_its_limit_and_trusted_again_when_it_speaks(stream_env, sandbox):
    sandbox.set_price("100000000")
    engine = EngineProcess(stream_env)
    engine.wait_claimed()
    wait_until(lambda: switch_after(0, "stream"), 10, engine.output_if_dead)
    sandbox.set_price("100001000")  # a push: the stream is fresh when the stall starts
    wait_until(lambda: stream_metrics().get("state") == "connected", 5, engine.output_if_dead)
    mark = last_event_id()

    sandbox.control("POST", "ws_stall", {"seconds": 30})
    stalled = time.monotonic()
    wait_until(lambda: switch_after(mark, "rest"), STALE_SEC + 1.5, engine.output_if_dead)
    assert time.monotonic() - stalled >= STALE_SEC * 0.5  # not before the stream had been silent
    fallback = switch_after(mark, "rest")
    assert fallback is not None
    assert "silent" in fallback.message
    assert stream_metrics()["state"] == "stale"

    sandbox.control("POST", "reset_faults", {})  # the stall ends: the held frames and new pushes flow
    sandbox.set_price("100002000")
    wait_until(lambda: switch_after(fallback.id, "stream"), 10, engine.output_if_dead)
    code, out = engine.stop()
    assert code == 0, out


def test_a_fill_on_my_order_reaches_the_dashboard_within_a_second_and_is_booked_once(stream_env, sandbox, live, operator):
    sandbox.set_price("100000000")
    engine = EngineProcess(stream_env)
    engine.wait_claimed()
    wait_until(lambda: stream_metrics().get("private") == "connected", 10, engine.output_if_dead)
    services.engine_start(actor="user:alice")
    wait_until(lambda: iteration() >= 1, 10, engine.output_if_dead)
    resting = order_ops.order_submit(
        live,
        market="KRW-BTC",
        side="buy",
        ord_type=Order.OrdType.LIMIT,
        account=live.account,
        price=Decimal("99000000"),
        volume=Decimal("0.0001"),
        reason="a resting order the engine did not place",
    )
    order = resting.order
    assert order.status == Order.Status.WAIT
    browser = Client()
    browser.force_login(operator)
    fills_before = EngineState.load().metrics.get("fills_total", 0)

    sandbox.set_price("98500000")  # the walk reaches the bid: the sandbox fills it and tells myOrder
    moved = time.monotonic()

    def shown() -> bool:
        html = browser.get("/panels/orders").content.decode()
        row = html.split(f'data-identifier="{order.identifier}"', 1)[-1]
        return "status-DONE" in row.split("</tr>", 1)[0] and "↳" in row

    def page_told() -> bool:  # the live quote (polled every second) tells the page to refresh its panels
        return "engineChanged" in browser.get("/panels/live-quote", {"fills": str(fills_before)}).get("HX-Trigger", "")

    wait_until(shown, 1.0, engine.output_if_dead)
    wait_until(page_told, max(0.01, 1.0 - (time.monotonic() - moved)), engine.output_if_dead)
    assert time.monotonic() - moved < 1.0
    (traded,) = [o for o in sandbox.state()["orders"] if o["uuid"] == order.exchange_uuid]
    assert Fill.objects.filter(order=order).count() == int(traded.get("trades_count", 1)) == 1
    code, out = engine.stop()
    assert code == 0, out
