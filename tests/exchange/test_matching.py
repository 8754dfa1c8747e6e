from __future__ import annotations

from decimal import Decimal as D

import pytest

from exchange.exceptions import OrderRejected
from exchange.matching import (
    ask_depth,
    bid_depth,
    consume_levels,
    limit_bid_locked,
    limit_fill,
    market_buy_fill,
    market_sell_fill,
    validate_order,
)
from exchange.rules import fee_for
from exchange.types import OrderBookLevel, OrderRequest


def level(ask: str, ask_size: str, bid: str, bid_size: str) -> OrderBookLevel:
    return OrderBookLevel(ask_price=D(ask), ask_size=D(ask_size), bid_price=D(bid), bid_size=D(bid_size))


BOOK = (
    level("100000000", "0.001", "99990000", "0.002"),
    level("100010000", "0.002", "99980000", "0.003"),
    level("100020000", "1", "99970000", "1"),
)


# --- market buy --------------------------------------------------------------------------------------


def test_market_buy_reproduces_upbits_published_example():
    fill = market_buy_fill([level("160594000", "1", "160593000", "1")], D("6000"))

    assert fill.executed_volume == D("0.00003736")
    assert fill.executed_funds == D("5999.79184")
    assert fill.reserved_fee == D("3.00000000")
    assert fill.paid_fee == D("2.99989592")
    assert fill.remaining_fee == D("0.00010408")
    assert fill.dust == D("0.20816")
    assert fill.returned == D("0.20826408")
    assert fill.state == "cancel"
    assert [(f.price, f.volume, f.funds, f.fee) for f in fill.fills] == [
        (D("160594000"), D("0.00003736"), D("5999.79184"), D("2.99989592"))
    ]
    assert fill.krw_spent + fill.returned == D("6000") + fill.reserved_fee


def test_market_buy_walks_levels_and_stops_when_the_rest_cannot_buy_one_unit():
    fill = market_buy_fill(BOOK, D("400000"))

    # Level 1: 0.001 × 100,000,000 = 100,000. Level 2: 0.002 × 100,010,000 = 200,020.
    # Level 3: floor8(99,980 / 100,020,000) = 0.00099960 → 99,979.992.
    assert [(f.price, f.volume, f.funds) for f in fill.fills] == [
        (D("100000000"), D("0.001"), D("100000.000")),
        (D("100010000"), D("0.002"), D("200020.000")),
        (D("100020000"), D("0.00099960"), D("99979.99200000")),
    ]
    assert fill.executed_volume == D("0.00399960")
    assert fill.executed_funds == D("399999.992")
    assert fill.dust == D("0.008")
    assert fill.paid_fee == fee_for(D("399999.992")) == D("199.99999600")
    assert sum(f.fee for f in fill.fills) == fill.paid_fee
    assert fill.reserved_fee == D("200.00000000")
    assert fill.remaining_fee == D("0.00000400")
    assert fill.state == "cancel"


def test_market_buy_that_spends_the_total_exactly_ends_done():
    fill = market_buy_fill([level("10000", "100", "9990", "1")], D("50000"))

    assert fill.executed_volume == D("5")
    assert fill.dust == 0
    assert fill.state == "done"
    assert fill.paid_fee == fill.reserved_fee == D("25.00000000")
    assert fill.remaining_fee == 0


def test_market_buy_rejects_a_non_positive_total():
    with pytest.raises(ValueError, match="total must be positive"):
        market_buy_fill(BOOK, D("0"))


# --- market sell -------------------------------------------------------------------------------------


def test_market_sell_walks_bids_and_takes_the_fee_from_the_proceeds():
    fill = market_sell_fill(BOOK, D("0.004"))

    assert [(f.price, f.volume, f.funds) for f in fill.fills] == [
        (D("99990000"), D("0.002"), D("199980.000")),
        (D("99980000"), D("0.002"), D("199960.000")),
    ]
    assert fill.executed_volume == D("0.004")
    assert fill.remaining_volume == 0
    assert fill.executed_funds == D("399940.000")
    assert fill.paid_fee == D("199.97000000")
    assert fill.proceeds == D("399740.03")
    assert fill.state == "done"


def test_market_sell_of_upbits_usdt_example_rounds_the_fee_to_eight_decimals():
    fill = market_sell_fill([level("1376", "100", "1375", "100")], D("5.377594"))

    assert fill.executed_funds == D("7394.19175")
    # Upbit printed 3.697095875; the ledger keeps 8 decimals, rounded half up.
    assert fill.paid_fee == D("3.69709588")


def test_market_sell_larger_than_the_book_fills_what_it_can_and_ends_cancel():
    fill = market_sell_fill(BOOK[:1], D("0.005"))

    assert fill.executed_volume == D("0.002")
    assert fill.remaining_volume == D("0.003")
    assert fill.state == "cancel"


# --- limit orders ------------------------------------------------------------------------------------


def test_marketable_limit_buy_takes_each_crossed_level_at_its_own_price():
    fill = limit_fill("buy", D("100010000"), D("0.005"), BOOK, resting=False)

    assert [(f.price, f.volume) for f in fill.fills] == [(D("100000000"), D("0.001")), (D("100010000"), D("0.002"))]
    assert fill.filled_volume == D("0.003")
    assert fill.filled_funds == D("300020.000")
    assert fill.fee == fee_for(D("300020"))
    assert fill.remaining_volume == D("0.002")
    assert not fill.complete


def test_limit_buy_below_the_ask_does_not_fill():
    fill = limit_fill("buy", D("99999000"), D("0.001"), BOOK, resting=False)

    assert fill.fills == ()
    assert fill.remaining_volume == D("0.001")


def test_resting_limit_sell_fills_at_its_own_price_up_to_the_crossing_size():
    book = (level("99000000", "1", "98900000", "0.0004"), level("99100000", "1", "98800000", "5"))
    fill = limit_fill("sell", D("98900000"), D("0.001"), book, resting=True)

    # Only the 0.0004 bid at 98,900,000 crosses a 98,900,000 sell; the rest keeps resting.
    assert [(f.price, f.volume, f.funds) for f in fill.fills] == [(D("98900000"), D("0.0004"), D("39560.0000"))]
    assert fill.remaining_volume == D("0.0006")


def test_resting_limit_buy_merges_crossing_levels_into_one_fill_at_the_limit_price():
    book = (level("99000000", "0.001", "98000000", "1"), level("99500000", "0.001", "97000000", "1"))
    fill = limit_fill("buy", D("100000000"), D("0.0015"), book, resting=True)

    assert [(f.price, f.volume, f.funds) for f in fill.fills] == [(D("100000000"), D("0.0015"), D("150000.0000"))]
    assert fill.complete


def test_limit_fee_is_cumulative_over_partial_fills():
    first = limit_fill("buy", D("1234"), D("7"), [level("1234", "3", "1233", "1")], resting=True)
    second = limit_fill(
        "buy",
        D("1234"),
        first.remaining_volume,
        [level("1234", "4", "1233", "1")],
        resting=True,
        executed_funds=first.filled_funds,
    )

    assert first.filled_funds + second.filled_funds == D("8638")
    assert first.fee + second.fee == fee_for(D("8638")) == D("4.31900000")


def test_consume_levels_prevents_two_orders_from_taking_the_same_size():
    first = limit_fill("buy", D("100010000"), D("0.002"), BOOK, resting=True)
    rest = consume_levels(BOOK, "buy", first.fills)
    second = limit_fill("buy", D("100010000"), D("0.002"), rest, resting=True)

    assert first.filled_volume == D("0.002")
    assert second.filled_volume == D("0.001")


def test_limit_bid_lock_releases_price_improvement():
    reserved = fee_for(D("100010000") * D("0.003"))
    before = limit_bid_locked(D("100010000"), D("0.003"), reserved, D("0"))
    fill = limit_fill("buy", D("100010000"), D("0.003"), BOOK, resting=False)
    after = limit_bid_locked(D("100010000"), fill.remaining_volume, reserved, fill.fee)

    spent = fill.filled_funds + fill.fee
    released = before - after - spent
    # 0.001 was bought 10,000 KRW below the limit: exactly that comes back to the free balance.
    assert released == D("10.000")
    assert after == reserved - fill.fee


# --- validation --------------------------------------------------------------------------------------


def order(**kwargs) -> OrderRequest:
    defaults = {"market": "KRW-BTC", "identifier": "id-1"}
    return OrderRequest(**{**defaults, **kwargs})


RICH = {"krw_balance": D("10000000"), "coin_balance": D("10")}


def rejection(request: OrderRequest, **kwargs) -> str:
    with pytest.raises(OrderRejected) as caught:
        validate_order(request, **{"levels": BOOK, **RICH, **kwargs})
    assert caught.value.status == 400
    return caught.value.name


def test_valid_orders_pass():
    validate_order(order(side="buy", ord_type="price", price=D("5000")), levels=BOOK, **RICH)
    validate_order(order(side="sell", ord_type="market", volume=D("0.0001")), levels=BOOK, **RICH)
    validate_order(order(side="buy", ord_type="limit", price=D("50000000"), volume=D("0.0001")), levels=BOOK, **RICH)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"side": "long", "ord_type": "limit", "price": D("100000000"), "volume": D("1")}, "validation_error"),
        ({"side": "buy", "ord_type": "stop", "price": D("100000000"), "volume": D("1")}, "validation_error"),
        ({"side": "buy", "ord_type": "limit", "price": D("100000000")}, "validation_error"),
        ({"side": "buy", "ord_type": "price"}, "validation_error"),
        ({"side": "buy", "ord_type": "price", "price": D("10000"), "volume": D("1")}, "create_bid_error"),
        ({"side": "sell", "ord_type": "market", "volume": D("0.001"), "price": D("100000000")}, "create_ask_error"),
        ({"side": "sell", "ord_type": "price", "price": D("10000")}, "create_ask_error"),
        ({"side": "buy", "ord_type": "market", "volume": D("0.001")}, "create_bid_error"),
        ({"side": "buy", "ord_type": "limit", "price": D("-1"), "volume": D("1")}, "validation_error"),
        ({"side": "sell", "ord_type": "market", "volume": D("0.000000001")}, "validation_error"),
        ({"side": "buy", "ord_type": "limit", "price": D("1e400"), "volume": D("1")}, "validation_error"),
        ({"side": "sell", "ord_type": "market", "volume": D("99999999999999999999999999999")}, "validation_error"),
        ({"side": "buy", "ord_type": "price", "price": D("1E+15")}, "validation_error"),
        ({"side": "buy", "ord_type": "best", "price": D("10000")}, "invalid_time_in_force"),
        ({"side": "buy", "ord_type": "price", "price": D("10000"), "time_in_force": "ioc"}, "invalid_time_in_force"),
        (
            {"side": "buy", "ord_type": "limit", "price": D("100000000"), "volume": D("1"), "time_in_force": "gtc"},
            "invalid_time_in_force",
        ),
    ],
)
def test_malformed_orders_get_upbits_error_names(kwargs, name):
    assert rejection(order(**kwargs)) == name


def test_under_minimum_totals():
    assert rejection(order(side="buy", ord_type="price", price=D("4999"))) == "under_min_total_bid"
    # Limit total = price × volume = 4,999.99.
    assert rejection(order(side="sell", ord_type="limit", price=D("99999000"), volume=D("0.00005"))) == "under_min_total_ask"
    # Market sell total = volume × best bid = 0.00005 × 99,990,000 = 4,999.5.
    assert rejection(order(side="sell", ord_type="market", volume=D("0.00005"))) == "under_min_total_ask"


def test_prices_off_the_tick_grid():
    assert rejection(order(side="buy", ord_type="limit", price=D("100000500"), volume=D("0.001"))) == "invalid_price_bid"
    assert rejection(order(side="sell", ord_type="limit", price=D("150050"), volume=D("1"))) == "invalid_price_ask"


def test_over_the_maximum_total():
    assert rejection(order(side="buy", ord_type="limit", price=D("100000000"), volume=D("10.00000001"))) == "over_krw_funds_bid"
    assert rejection(order(side="sell", ord_type="limit", price=D("100000000"), volume=D("11"))) == "over_krw_funds_ask"


def test_market_orders_bigger_than_the_book_are_refused():
    depth = ask_depth(BOOK)
    assert depth == D("100000") + D("200020") + D("100020000")
    assert rejection(order(side="buy", ord_type="price", price=depth + 1), krw_balance=D("1000000000")) == "create_bid_error"
    assert bid_depth(BOOK) == D("1.005")
    assert rejection(order(side="sell", ord_type="market", volume=D("1.00500001"))) == "create_ask_error"


def test_bid_needs_the_total_plus_the_fee():
    # 10,000 + fee 5 = 10,005 KRW needed.
    validate_order(
        order(side="buy", ord_type="price", price=D("10000")), levels=BOOK, krw_balance=D("10005"), coin_balance=D("0")
    )
    assert rejection(order(side="buy", ord_type="price", price=D("10000")), krw_balance=D("10004.99999999")) == (
        "insufficient_funds_bid"
    )
    limit = order(side="buy", ord_type="limit", price=D("100000000"), volume=D("0.0001"))
    assert rejection(limit, krw_balance=D("10004.99")) == "insufficient_funds_bid"


def test_ask_needs_the_volume():
    assert rejection(order(side="sell", ord_type="market", volume=D("0.001")), coin_balance=D("0.00099999")) == (
        "insufficient_funds_ask"
    )


def test_identifiers_are_single_use():
    request = order(side="buy", ord_type="price", price=D("5000"), identifier="used-before")
    assert rejection(request, used_identifiers={"used-before"}) == "duplicated_identifier"


def test_identifier_longer_than_64_characters_is_refused():
    assert rejection(order(side="buy", ord_type="price", price=D("5000"), identifier="x" * 65)) == "validation_error"


def test_market_orders_against_an_empty_book_are_refused():
    assert rejection(order(side="buy", ord_type="price", price=D("5000")), levels=()) == "create_bid_error"
    assert rejection(order(side="sell", ord_type="market", volume=D("1")), levels=()) == "create_ask_error"
