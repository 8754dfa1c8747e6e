"""Orders still open on the exchange: they hold up new orders on their market, and their locked funds are position."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import translation

from tests.factories import ManualOrderRequestFactory
from trading.engine import orders as order_ops
from trading.engine.cycle import TradingEngine
from trading.engine.risk import IntentSource, OrderIntent, RiskContext, RiskLimits, Rule, evaluate
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order
from trading.templatetags.dashboard import event_text

D = Decimal
ORDERS = "/v1/orders"


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def resting_buy(exchange, krw: str = "299000") -> Order:
    """A limit buy far below the market: Upbit answers `wait` and keeps its KRW locked."""
    price = D("50000000")
    result = order_ops.order_submit(
        exchange, market="KRW-BTC", side="buy", ord_type="limit", account=exchange.account, price=price, volume=D(krw) / price
    )
    assert result.order.status == Order.Status.WAIT
    return result.order


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("holding_strategy")
class TestOnTheExchange:
    def test_a_buy_still_open_blocks_a_second_one_and_the_event_says_why(self, live, sandbox, engine_settings):
        # 1,000,000 KRW and MAX_POSITION_RATIO=0.3: each 299,000 buy fits the cap alone, two together do not.
        engine_settings.MAX_ORDER_KRW = D("300000")
        sandbox.set_price("100000000")
        running()
        first = resting_buy(live)
        request = ManualOrderRequestFactory(kind="buy", krw=D("299000"))

        assert TradingEngine(live).run_cycle().ok

        request.refresh_from_db()
        assert request.status == ManualOrderRequest.Status.REJECTED
        assert f"order {first.identifier} is still open on the exchange (WAIT)" in request.result
        assert sandbox.received("POST", ORDERS) == 1
        assert [o["identifier"] for o in sandbox.state()["orders"]] == [first.identifier]
        blocked = EngineEvent.objects.filter(kind="risk_blocked").latest("id")
        assert "until it is filled or cancelled" in blocked.message
        with translation.override("ko"):
            assert event_text(blocked) == (
                f"주문 {first.identifier}이(가) 거래소에 아직 미체결 상태입니다: 체결되거나 취소될 때까지 "
                "KRW-BTC에는 새 주문을 내지 않습니다"
            )

    def test_the_market_is_free_again_once_the_open_order_is_cancelled(self, live, sandbox):
        sandbox.set_price("100000000")
        running()
        first = resting_buy(live, krw="10000")
        assert order_ops.blocking_orders("KRW-BTC", live.account) == [first]
        live.cancel_order(uuid=first.exchange_uuid)
        request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))

        assert TradingEngine(live).run_cycle().ok

        first.refresh_from_db()
        request.refresh_from_db()
        assert first.status == Order.Status.CANCEL
        assert request.status == ManualOrderRequest.Status.DONE, request.result
        assert sandbox.received("POST", ORDERS) == 2

    def test_krw_locked_by_an_order_placed_elsewhere_counts_toward_the_position_cap(self, live, sandbox, engine_settings):
        """An open buy the engine did not place (the Upbit app, another program) does not block the market, but
        the KRW it locks becomes coin when it fills: the cap counts it."""
        engine_settings.MAX_ORDER_KRW = D("300000")
        sandbox.set_price("100000000")
        running()
        placed = sandbox.call(
            "POST",
            ORDERS,
            body={"market": "KRW-BTC", "side": "bid", "volume": "0.00598", "price": "50000000", "ord_type": "limit"},
        )
        assert placed.status_code == 201
        request = ManualOrderRequestFactory(kind="buy", krw=D("299000"))

        assert TradingEngine(live).run_cycle().ok

        request.refresh_from_db()
        assert request.status == ManualOrderRequest.Status.REJECTED
        assert "already locked in open buy orders" in request.result
        assert sandbox.received("POST", ORDERS) == 1
        assert not Order.objects.exists()
        blocked = EngineEvent.objects.filter(kind="risk_blocked").latest("id")
        with translation.override("ko"):
            assert event_text(blocked).startswith("포지션 한도: 미체결 매수 주문에 묶인 299,")


LIMITS = RiskLimits(
    max_order_krw=D("300000"),
    max_daily_loss_krw=D("50000"),
    max_position_ratio=D("0.3"),
    cooldown_sec=0,
    max_consecutive_failures=3,
)


def context(**fields) -> RiskContext:
    values = {"now": datetime(2025, 3, 10, 3, 0, tzinfo=UTC), "price": D("100000000"), "coin_volume": D("0"), "limits": LIMITS}
    return RiskContext(**{**values, **fields})


def manual_buy(krw: str) -> OrderIntent:
    return OrderIntent(side="buy", source=IntentSource.MANUAL, krw_total=D(krw))


def test_locked_krw_is_position_a_second_buy_that_fits_alone_is_blocked():
    alone = evaluate(manual_buy("299000"), context(krw_free=D("1000000")))
    beside = evaluate(manual_buy("299000"), context(krw_free=D("701000"), krw_locked=D("299000")))

    assert alone.allowed
    assert not beside.allowed
    assert beside.blocked_by.rule == Rule.MAX_ORDER_SIZE
    assert "299,000 KRW of it already locked in open buy orders" in beside.message


def test_the_cap_counts_locked_krw_in_what_the_coin_would_be_worth():
    verdict = evaluate(manual_buy("10000"), context(krw_free=D("800000"), krw_locked=D("200000")))

    assert verdict.allowed
    cap = next(check for check in verdict.checks if check.rule == Rule.POSITION_CAP)
    assert D(cap.numbers["coin_value_after"]) == D("210000")
    assert cap.numbers["krw_locked"] == "200000"


def test_coin_locked_in_an_open_sell_still_counts_as_position():
    # 0.003 BTC (300,000 KRW) of 1,000,000 equity is 30 %, even with all of it locked in a sell.
    free = evaluate(manual_buy("10000"), context(krw_free=D("700000"), coin_volume=D("0.003")))
    locked = evaluate(manual_buy("10000"), context(krw_free=D("700000"), coin_locked=D("0.003")))

    assert not free.allowed
    assert not locked.allowed
    assert locked.blocked_by.rule == free.blocked_by.rule
