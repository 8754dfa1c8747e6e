"""The slippage limit: hand-worked order books, shrinking, skipping, thin and empty books, the limit off."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from exchange.matching import market_buy_fill, market_sell_fill
from exchange.types import OrderBookLevel
from trading.strategies.slippage import slippage_check

D = Decimal
ZERO = D(0)


def asks(*levels):
    return [OrderBookLevel(ask_price=D(price), ask_size=D(size), bid_price=ZERO, bid_size=ZERO) for price, size in levels]


def bids(*levels):
    return [OrderBookLevel(ask_price=ZERO, ask_size=ZERO, bid_price=D(price), bid_size=D(size)) for price, size in levels]


# Asks: 100 units at 100 KRW (10,000 KRW), 100 at 101 (10,100 KRW), 100 at 110 (11,000 KRW).
ASKS = asks((100, 100), (101, 100), (110, 100))
# Bids: 1 coin at 10,000 KRW, 1 at 9,900, 10 at 9,000.
BIDS = bids((10000, 1), (9900, 1), (9000, 10))


# --- buys ------------------------------------------------------------------------------------------
def test_a_buy_within_the_limit_goes_as_asked():
    # 20,100 KRW buys 100 at 100 and 100 at 101: average 20,100 / 200 = 100.5, 0.5% above the best ask.
    check = slippage_check(ASKS, "buy", D(20100), D("0.5"))
    assert check.allowed
    assert not check.shrunk
    assert check.size == D(20100)
    assert (check.best_price, check.expected_avg_price, check.slippage_pct) == (D(100), D("100.5"), D("0.5"))
    assert (check.expected_volume, check.expected_funds) == (D(200), D(20100))
    assert check.expected_fee == D("10.05")  # 0.05% of 20,100
    assert check.reason == "expected average 100.5 is 0.500% above the best ask 100 (limit 0.5%)"


def test_a_buy_over_the_limit_shrinks_to_the_largest_total_within_it():
    # Limit 0.4%: the average may be at most 100.4. The 100 units at 100 are taken whole (value 10,000).
    # At 101, v more units keep (10,000 + 101 v) / (100 + v) <= 100.4 while v <= (10,040 - 10,000) / 0.6
    # = 66.66666666 (floored to 8 decimals): 10,000 + 101 * 66.66666666 = 16,733.33 KRW, floored to the won.
    check = slippage_check(ASKS, "buy", D(20100), D("0.4"))
    assert check.allowed
    assert check.shrunk
    assert check.size == D(16733)
    # 16,733 KRW buys 100 at 100 and floor8(6,733 / 101) = 66.66336633 at 101.
    assert check.expected_volume == D("166.66336633")
    assert check.expected_avg_price == D("100.39998812")  # (10,000 + 101 * 66.66336633) / 166.66336633
    assert check.slippage_pct <= D("0.4")
    assert check.reason == (
        "shrunk from 20,100 to 16,733 KRW: the whole order would average 100.5, 0.500% above the best ask 100, "
        "over the limit 0.4%; the smaller order averages 100.39998812 (0.400%)"
    )


def test_the_shrunk_buy_is_the_largest_one_within_the_limit():
    # One won more: floor8(6,734 / 101) = 66.67326732 at 101, an average of 100.40002 > 100.4.
    assert slippage_check(ASKS, "buy", D(16733), D("0.4")).size == D(16733)
    over = slippage_check(ASKS, "buy", D(16734), D("0.4"))
    assert over.shrunk
    assert over.size == D(16733)


def test_a_buy_that_shrinks_below_the_minimum_is_skipped():
    # 0.04 at 100,000 (4,000 KRW), then 110,000. Limit 1%: average at most 101,000.
    # At 110,000: v <= (101,000 * 0.04 - 4,000) / 9,000 = 0.00444444, worth 488.89 KRW: 4,488 KRW in all.
    book = asks((100000, "0.04"), (110000, 1))
    check = slippage_check(book, "buy", D(10000), D(1))
    assert not check.allowed
    assert check.size == ZERO
    # The whole order: 0.04 for 4,000, then floor8(6,000 / 110,000) = 0.05454545 for 5,999.9995 KRW.
    assert check.expected_volume == D("0.09454545")
    assert check.slippage_pct == D("5.76923057")  # 105,769.23 is 5.77% above 100,000
    assert check.reason.startswith("skip: the whole order would average 105,769.23056583, 5.769% above the best ask")
    assert check.reason.endswith("the largest order within it, 4,488 KRW, is below Upbit's minimum 5,000 KRW")


def test_the_minimum_order_total_is_a_parameter():
    book = asks((100000, "0.04"), (110000, 1))
    check = slippage_check(book, "buy", D(10000), D(1), min_total=D(4000))
    assert check.allowed
    assert check.size == D(4488)


def test_a_buy_larger_than_the_book_shrinks_to_what_the_book_holds():
    thin = ASKS[:2]  # 20,100 KRW of asks in all
    check = slippage_check(thin, "buy", D(30000), D(1))
    assert check.allowed
    assert check.size == D(20100)
    assert check.expected_avg_price == D("100.5")
    assert check.reason == (
        "shrunk from 30,000 to 20,100 KRW: the asks on the book hold only 20,100 KRW; the smaller order averages 100.5 (0.500%)"
    )
    # Thin and over the limit: the limit binds first.
    assert slippage_check(thin, "buy", D(30000), D("0.4")).size == D(16733)


def test_a_buy_too_small_for_one_unit_is_skipped():
    check = slippage_check(asks((1_000_000_000, 1)), "buy", D(1), D(1))
    assert not check.allowed
    assert check.reason == "skip: 1 KRW does not fill one 0.00000001 unit at 1,000,000,000"


# --- sells -----------------------------------------------------------------------------------------
def test_a_sell_within_the_limit_goes_as_asked():
    # 2 coins: 1 at 10,000 and 1 at 9,900, an average of 9,950: 0.5% below the best bid.
    check = slippage_check(BIDS, "sell", D(2), D("0.5"))
    assert check.allowed
    assert check.size == D(2)
    assert (check.best_price, check.expected_avg_price, check.slippage_pct) == (D(10000), D(9950), D("0.5"))
    assert check.expected_funds == D(19900)
    assert check.expected_fee == D("9.95")
    assert check.reason == "expected average 9,950 is 0.500% below the best bid 10,000 (limit 0.5%)"


def test_a_sell_over_the_limit_shrinks_to_the_largest_volume_within_it():
    # Limit 0.25%: the average may fall to 9,975. 1 at 10,000 is taken whole; at 9,900,
    # (10,000 + 9,900 v) / (1 + v) >= 9,975 while v <= (10,000 - 9,975) / (9,975 - 9,900) = 0.33333333.
    check = slippage_check(BIDS, "sell", D(2), D("0.25"))
    assert check.allowed
    assert check.size == D("1.33333333")
    # The rest, 0.66666667 coin, is worth 6,666.67 KRW at the best bid: still sellable, so nothing is kept back.
    assert check.expected_avg_price == D("9975.00000019")
    assert check.expected_funds == D("13299.999967")
    assert "kept back" not in check.reason


def test_a_shrunk_sell_keeps_back_enough_for_the_rest_to_stay_sellable():
    # 1.5 coins average (10,000 + 0.5 * 9,900) / 1.5 = 9,966.67: 0.333% below 10,000, over 0.25%.
    # Within the limit: 1.33333333, which would leave 0.16666667 coin (1,666.67 KRW), below Upbit's 5,000 KRW.
    # So 5,000 / 10,000 = 0.5 coin stays back and 1 coin is sold, at 10,000.
    check = slippage_check(BIDS, "sell", D("1.5"), D("0.25"))
    assert check.allowed
    assert check.size == D(1)
    assert check.slippage_pct == ZERO
    assert check.reason == (
        "shrunk from 1.5 to 1 coin: the whole order would average 9,966.66666667, 0.333% below the best bid 10,000, "
        "over the limit 0.25%; 0.5 coin is kept back so the rest stays worth Upbit's minimum order; "
        "the smaller order averages 10,000 (0.000%)"
    )


def test_a_sell_that_shrinks_below_the_minimum_is_skipped():
    # 0.4 coin at 10,000 (4,000 KRW) then 9,000: limit 1% lets only (4,000 - 9,900 * 0.4) / 900 = 0.04444444 more.
    book = bids((10000, "0.4"), (9000, 10))
    check = slippage_check(book, "sell", D(1), D(1))
    assert not check.allowed
    assert "the largest order within it, 4,444.4444 KRW, is below Upbit's minimum 5,000 KRW" in check.reason


def test_a_sell_larger_than_the_book_shrinks_to_what_the_book_holds():
    check = slippage_check(BIDS[:2], "sell", D(3), D(1))
    assert check.allowed
    assert check.size == D(2)
    assert "the bids on the book hold only 2 coin" in check.reason


# --- books without that side, the limit off, bad input ---------------------------------------------
def test_an_empty_book_is_a_skip_when_the_limit_is_on():
    for side, size, word in (("buy", D(10000), "asks"), ("sell", D(1), "bids")):
        check = slippage_check([], side, size, D("0.5"))
        assert not check.allowed
        assert check.best_price is None
        assert check.expected_avg_price is None
        assert check.reason == f"skip: the order book has no {word} to {side} against"
    # Bids only: nothing to buy from; asks only: nothing to sell into.
    assert not slippage_check(BIDS, "buy", D(10000), D("0.5")).allowed
    assert not slippage_check(ASKS, "sell", D(1), D("0.5")).allowed


@pytest.mark.parametrize("limit", [None, D(0), D("0.0")])
def test_the_limit_off_leaves_the_order_unchanged(limit):
    over_and_thin = slippage_check(ASKS, "buy", D(50000), limit)
    assert over_and_thin.allowed
    assert over_and_thin.size == D(50000)
    assert over_and_thin.max_slippage_pct is None
    assert over_and_thin.reason == "slippage limit off"
    assert over_and_thin.expected_funds == D(31100)  # what the book holds, reported all the same
    empty = slippage_check([], "sell", D(1), limit)
    assert empty.allowed
    assert empty.size == D(1)
    assert empty.reason == "slippage limit off; the order book has no bids"


@pytest.mark.parametrize(
    ("side", "size", "limit", "message"),
    [
        ("buy", D(0), D(1), "order size must be a positive number"),
        ("sell", D(-1), D(1), "order size must be a positive number"),
        ("buy", D("NaN"), D(1), "order size must be a positive number"),
        ("buy", D(10000), D(-1), "max slippage must be a percentage of at least 0"),
        ("hold", D(10000), D(1), "side must be 'buy' or 'sell'"),
    ],
)
def test_bad_input_is_refused(side, size, limit, message):
    with pytest.raises(ValueError, match=message):
        slippage_check(ASKS, side, size, limit)


def test_the_check_is_json_ready_meta():
    meta = slippage_check(ASKS, "buy", D(20100), D("0.4")).as_meta()
    stored = json.loads(json.dumps(meta, cls=DjangoJSONEncoder))
    assert stored["size"] == "16733"
    assert stored["allowed"] is True
    assert stored["slippage_pct"] == "0.39998812"


# --- against the fill rules on many random books ---------------------------------------------------
def random_book(rng: random.Random) -> list[OrderBookLevel]:
    price = D(rng.randrange(50_000_000, 150_000_000, 1000))
    levels = []
    for _ in range(rng.randint(1, 30)):
        levels.append(
            OrderBookLevel(ask_price=price, ask_size=D(rng.randint(1, 5_000_000)) / D(10**8), bid_price=ZERO, bid_size=ZERO)
        )
        price += D(rng.randrange(1000, 200_000, 1000))
    return levels


def test_random_buys_stay_within_the_limit_and_a_won_more_would_buy_no_more_within_it():
    rng = random.Random(7)
    shrunk = 0
    for _ in range(300):
        book = random_book(rng)
        limit = D(rng.choice(["0.05", "0.1", "0.3", "1"]))
        size = D(rng.randrange(5_000, 20_000_000))
        check = slippage_check(book, "buy", size, limit)
        if not check.allowed:
            assert "below Upbit's minimum" in check.reason
            continue
        assert check.size <= size
        fill = market_buy_fill(book, check.size)
        value = sum(f.price * f.volume for f in fill.fills)
        assert value <= check.best_price * (1 + limit / 100) * fill.executed_volume  # exact, no rounding
        if check.shrunk and "over the limit" in check.reason:
            # A won more buys nothing more (a unit costs more than a won), or buys past the limit.
            shrunk += 1
            more = market_buy_fill(book, check.size + 1)
            value = sum(f.price * f.volume for f in more.fills)
            over = value > check.best_price * (1 + limit / 100) * more.executed_volume
            assert over or more.executed_volume == fill.executed_volume
    assert shrunk > 50


def test_random_sells_stay_within_the_limit_and_a_unit_more_would_not():
    rng = random.Random(11)
    shrunk = 0
    for _ in range(300):
        price = D(rng.randrange(50_000_000, 150_000_000, 1000))
        book = []
        for _ in range(rng.randint(1, 30)):
            book.append(
                OrderBookLevel(ask_price=ZERO, ask_size=ZERO, bid_price=price, bid_size=D(rng.randint(1, 5_000_000)) / D(10**8))
            )
            price -= D(rng.randrange(1000, 200_000, 1000))
        limit = D(rng.choice(["0.05", "0.1", "0.3", "1"]))
        size = D(rng.randint(10_000, 20_000_000)) / D(10**8)
        check = slippage_check(book, "sell", size, limit)
        if not check.allowed:
            assert "below Upbit's minimum" in check.reason
            continue
        bound = check.best_price * (1 - limit / 100)
        fill = market_sell_fill(book, check.size)
        assert fill.remaining_volume == 0
        assert sum(f.price * f.volume for f in fill.fills) >= bound * check.size
        if check.shrunk and "over the limit" in check.reason:
            rest = size - check.size
            assert rest * check.best_price >= D(5000)
            if "kept back" not in check.reason:
                shrunk += 1
                more = market_sell_fill(book, check.size + D("0.00000001"))
                assert sum(f.price * f.volume for f in more.fills) < bound * more.executed_volume
    assert shrunk > 50
