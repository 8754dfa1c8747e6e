"""What a 429 costs: the POSTs that reach the exchange for one order, and the pause the whole group takes."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from exchange.exceptions import RateLimited
from exchange.throttle import REFUSED_PAUSE_SEC, Throttle
from exchange.types import OrderRequest
from exchange.upbit import UpbitClient
from exchange.upbit.client import ORDER_RETRIES_AFTER_429
from tests.waiting import ManualClock

MARKET = "KRW-BTC"


def limit_buy() -> OrderRequest:
    return OrderRequest(
        market=MARKET,
        side="buy",
        ord_type="limit",
        identifier=f"test-{uuid.uuid4()}",
        price=Decimal("90000000"),
        volume=Decimal("0.001"),
    )


class Sleeps:
    """The throttle's sleep on a manual clock: records each wait and moves the clock past it."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def timed(sandbox):
    sandbox.set_price("100000000")
    clock = ManualClock()
    sleeps = Sleeps(clock)
    client = UpbitClient(
        sandbox.base_url,
        sandbox.access_key,
        sandbox.secret_key,
        max_retries=3,
        backoff_base_sec=0.05,
        throttle=Throttle(clock=clock, sleep=sleeps),
    )
    yield client, sleeps
    client.close()


def test_a_burst_of_429s_costs_at_most_two_posts_per_order_and_nothing_is_placed(sandbox, timed):
    client, sleeps = timed
    sandbox.fail_next("/v1/orders", method="POST", status=429, name="", body="Too many API requests.", count=100)

    with pytest.raises(RateLimited) as caught:
        client.place_order(limit_buy())

    assert caught.value.status == 429
    assert sandbox.received("POST", "/v1/orders") == 1 + ORDER_RETRIES_AFTER_429 == 2
    assert sandbox.state()["orders"] == []
    # The resend waited out a full window, and the group stays paused after the refusal for the next caller.
    assert sleeps.waits
    assert min(sleeps.waits) >= REFUSED_PAUSE_SEC - 0.001
    assert REFUSED_PAUSE_SEC >= 1
    assert client.throttle.blocked_for("order") >= REFUSED_PAUSE_SEC - 0.001
    assert client.throttle.blocked_for("default") == 0


def test_the_next_order_after_a_refused_one_waits_a_full_window(sandbox, timed):
    client, sleeps = timed
    sandbox.fail_next("/v1/orders", method="POST", status=429, name="", body="Too many API requests.", count=2)
    with pytest.raises(RateLimited):
        client.place_order(limit_buy())
    waited = len(sleeps.waits)

    order = client.place_order(limit_buy())

    assert order.state == "wait"
    assert len(sleeps.waits) > waited
    assert sleeps.waits[waited] >= REFUSED_PAUSE_SEC - 0.001
    assert sandbox.received("POST", "/v1/orders") == 3
    assert [o["uuid"] for o in sandbox.state()["orders"]] == [order.uuid]


def test_a_429_on_a_read_pauses_its_group_a_full_window_before_the_resend(sandbox, timed):
    client, sleeps = timed
    sandbox.fail_next("/v1/accounts", status=429, name="", body="Too many API requests.", count=1)

    client.get_accounts()

    assert sandbox.received("GET", "/v1/accounts") == 2
    assert len(sleeps.waits) == 1
    assert sleeps.waits[0] >= REFUSED_PAUSE_SEC - 0.001


def test_the_sandbox_counts_every_call_it_received_however_it_was_answered(sandbox):
    sandbox.fail_next("/v1/ticker", status=429, body="Too many API requests.")

    refused = sandbox.public("/v1/ticker", markets=MARKET)
    served = sandbox.public("/v1/ticker", markets=MARKET)

    assert (refused.status_code, served.status_code) == (429, 200)
    assert sandbox.received("GET", "/v1/ticker") == 2
    assert sandbox.received("POST", "/v1/orders") == 0
    assert "GET /_sandbox/state" not in sandbox.state()["received"]
