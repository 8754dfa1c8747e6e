"""The tick size the engine rounds limit prices by: read from the exchange, kept a day, the table only as a fallback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from exchange.paper import PaperExchange
from exchange.ticks import TickSizes
from exchange.upbit import UpbitClient
from trading import events
from trading.engine import orders as order_ops
from trading.models import EngineEvent, Order

D = Decimal
DAY_ONE = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sandbox_states_each_pair_s_tick_as_upbit_does(sandbox):
    sandbox.set_price("100000000")
    response = sandbox.public("/v1/orderbook/instruments", markets="KRW-BTC")

    assert response.status_code == 200
    assert response.headers["Remaining-Req"].startswith("group=orderbook;")
    assert json.loads(response.text) == [
        {"market": "KRW-BTC", "quote_currency": "KRW", "tick_size": "1000", "supported_levels": ["0"]}
    ]
    assert sandbox.public("/v1/orderbook/instruments", markets="KRW-NOPE").status_code == 404
    assert sandbox.public("/v1/orderbook/instruments").status_code == 400


def test_a_limit_price_is_rounded_by_the_tick_the_exchange_states(live, sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("BTC", "0.01")
    sandbox.set_tick_size("5000")  # the exchange moved to a coarser grid than the built-in table's 1,000
    ticks = TickSizes(live.get_instrument)

    result = order_ops.order_submit(
        live, market="KRW-BTC", side="sell", ord_type="limit", account=live.account,
        price=D("120001000"), volume=D("0.001"), tick_sizes=ticks, now=DAY_ONE,
    )  # fmt: skip

    assert result.placed, result.rejected
    assert result.order.price == D("120005000")  # a sell rounds up, never worse for the seller
    assert [o["price"] for o in sandbox.state()["orders"]] == ["120005000"]


def test_the_built_in_table_alone_would_have_been_refused(live, sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("BTC", "0.01")
    sandbox.set_tick_size("5000")

    result = order_ops.order_submit(
        live, market="KRW-BTC", side="sell", ord_type="limit", account=live.account, price=D("120001000"), volume=D("0.001")
    )

    assert result.rejected is not None
    assert result.rejected.name == "invalid_price_ask"
    assert result.order.status == Order.Status.REJECTED


def test_a_refused_price_makes_the_next_order_read_the_tick_again(live, sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("BTC", "0.01")
    ticks = TickSizes(live.get_instrument)
    assert ticks.tick_size("KRW-BTC", now=DAY_ONE) == D("1000")
    sandbox.set_tick_size("5000")

    first = order_ops.order_submit(
        live, market="KRW-BTC", side="sell", ord_type="limit", account=live.account,
        price=D("120001000"), volume=D("0.001"), tick_sizes=ticks, now=DAY_ONE,
    )  # fmt: skip
    second = order_ops.order_submit(
        live, market="KRW-BTC", side="sell", ord_type="limit", account=live.account,
        price=D("120001000"), volume=D("0.001"), tick_sizes=ticks, now=DAY_ONE,
    )  # fmt: skip

    assert first.rejected is not None
    assert first.rejected.name == "invalid_price_ask"
    assert second.placed
    assert second.order.price == D("120005000")


def test_the_tick_is_read_once_a_day_by_the_clock_it_is_given(live, sandbox):
    sandbox.set_price("100000000")
    calls: list[str] = []

    def counted(market: str):
        calls.append(market)
        return live.get_instrument(market)

    ticks = TickSizes(counted)
    assert ticks.tick_size("KRW-BTC", now=DAY_ONE) == D("1000")
    sandbox.set_tick_size("5000")

    assert ticks.tick_size("KRW-BTC", now=DAY_ONE + timedelta(hours=23, minutes=59)) == D("1000")
    assert len(calls) == 1
    assert ticks.tick_size("KRW-BTC", now=DAY_ONE + timedelta(days=1)) == D("5000")
    assert len(calls) == 2


def warn(market, error, kept):
    events.tick_size_unavailable(market=market, error=error, kept=kept)


def test_when_the_exchange_cannot_say_the_table_is_used_with_one_warning(live, sandbox, caplog):
    sandbox.set_price("100000000")
    sandbox.fail_next("/v1/orderbook/instruments", status=500, count=3)
    ticks = TickSizes(live.get_instrument, on_fallback=warn)

    rounded = [ticks.round("KRW-BTC", D("100000400"), "down", now=DAY_ONE + timedelta(days=n)) for n in range(3)]

    assert rounded == [(D("100000000"), None)] * 3  # the table's 1,000 at this price
    warnings = EngineEvent.objects.filter(message__startswith="Tick size of KRW-BTC unavailable")
    assert warnings.count() == 1
    assert warnings.get().level == EngineEvent.Level.WARNING
    assert len([r for r in caplog.records if "tick size of KRW-BTC" in r.getMessage()]) == 1
    # Once the exchange answers again, its tick is used and a later outage warns again.
    assert ticks.tick_size("KRW-BTC", now=DAY_ONE + timedelta(days=4)) == D("1000")
    sandbox.fail_next("/v1/orderbook/instruments", status=500)
    assert ticks.tick_size("KRW-BTC", now=DAY_ONE + timedelta(days=6)) == D("1000")  # the last known tick
    assert warnings.count() == 2
    assert "limit prices use the tick read before (1000) until Upbit answers" in warnings.latest("ts").message
    assert "the built-in KRW tick table" in warnings.earliest("ts").message


def test_paper_states_its_source_s_tick_and_the_table_without_one(sandbox):
    sandbox.set_price("100000000")
    sandbox.set_tick_size("5000")
    client = UpbitClient(sandbox.base_url, read_timeout=2, connect_timeout=1, max_retries=1)

    class TickerOnly:
        def get_ticker(self, market):
            return client.get_ticker(market)

    try:
        assert PaperExchange(client, initial_krw=D("1000000")).get_instrument("KRW-BTC").tick_size == D("5000")
        assert PaperExchange(TickerOnly(), initial_krw=D("1000000")).get_instrument("KRW-BTC").tick_size == D("1000")
    finally:
        client.close()
