"""ccxt's `upbit` exchange class, unchanged, against the sandbox (only its API address is redirected).

ccxt is a second public Upbit client written by other people: it signs with HS256, hashes the
unencoded `k=v&...` string, reads the quotation numbers as floats and the exchange's decimal strings
through its own parser. Skipped when ccxt is not installed (it is not a project requirement).
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

ccxt = pytest.importorskip("ccxt")

SYMBOL = "BTC/KRW"
PRICE = Decimal("100000000")


def _exchange(box, **config):
    exchange = ccxt.upbit(
        {"apiKey": box.access_key, "secret": box.secret_key, "enableRateLimit": True, "timeout": 10000, **config}
    )
    exchange.urls["api"] = {"public": box.base_url, "private": box.base_url}
    return exchange


@pytest.fixture
def box(sandbox):
    sandbox.set_price(PRICE)
    return sandbox


@pytest.fixture
def upbit(box):
    exchange = _exchange(box)
    exchange.load_markets()
    return exchange


def _dec(value) -> Decimal:
    return Decimal(str(value))


def test_markets_ticker_book_and_fees(upbit):
    market = upbit.market(SYMBOL)
    ticker = upbit.fetch_ticker(SYMBOL)
    book = upbit.fetch_order_book(SYMBOL, 5)
    fee = upbit.fetch_trading_fee(SYMBOL)

    assert (market["id"], market["base"], market["quote"]) == ("KRW-BTC", "BTC", "KRW")
    assert _dec(ticker["last"]) == PRICE
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert _dec(book["bids"][0][0]) == PRICE
    assert _dec(book["asks"][0][0]) == PRICE + 1000  # one tick above, Upbit's 1,000 KRW tick at this price
    assert (fee["maker"], fee["taker"]) == (0.0005, 0.0005)


@pytest.mark.parametrize("timeframe", ["1m", "1h", "1d", "1w", "1M"])
def test_ohlcv_in_every_timeframe_comes_oldest_first(upbit, timeframe):
    rows = upbit.fetch_ohlcv(SYMBOL, timeframe, limit=3)

    assert len(rows) == 3
    assert rows[0][0] < rows[1][0] < rows[2][0]
    for _, open_, high, low, close, volume in rows:
        assert low <= min(open_, close) <= max(open_, close) <= high
        assert volume > 0


def test_ohlcv_since_pages_forward_with_an_iso_to(upbit):
    now = upbit.milliseconds()
    rows = upbit.fetch_ohlcv(SYMBOL, "1h", since=now - 10 * 3_600_000, limit=4)

    # ccxt asks for `to` = since + 4 hours as "…T…:…:….mmmZ"; the candles start at or after `since`'s hour.
    starts = [row[0] for row in rows]
    assert [later - earlier for earlier, later in itertools.pairwise(starts)] == [3_600_000] * 3
    assert now - 11 * 3_600_000 < starts[0] <= now - 10 * 3_600_000 + 3_600_000


def test_market_buy_by_cost_then_market_sell_settle_like_the_sandbox_ledger(upbit, box):
    bought = upbit.create_order(SYMBOL, "market", "buy", None, None, {"cost": 100000})
    filled_buy = upbit.fetch_order(bought["id"], SYMBOL)
    volume = _dec(filled_buy["filled"])
    sold = upbit.create_order(SYMBOL, "market", "sell", 0.0005)
    filled_sell = upbit.fetch_order(sold["id"], SYMBOL)
    balance = upbit.fetch_balance()
    state = box.state()

    # A market buy ends `cancel` with its dust returned; ccxt calls it canceled but sees the fill.
    assert (filled_buy["type"], filled_buy["side"], filled_buy["status"]) == ("market", "buy", "canceled")
    assert volume > 0
    assert _dec(filled_buy["cost"]) <= 100000
    assert _dec(filled_buy["fee"]["cost"]) == _dec(filled_buy["info"]["paid_fee"])
    assert filled_sell["status"] == "closed"
    assert _dec(filled_sell["average"]) == PRICE  # sold into the best bid
    assert _dec(filled_sell["filled"]) == Decimal("0.0005")
    assert _dec(balance["KRW"]["total"]) == _dec(state["balances"]["KRW"]["balance"]) + _dec(state["balances"]["KRW"]["locked"])
    assert _dec(balance["BTC"]["free"]) == volume - Decimal("0.0005")
    krw = Decimal("1000000") - _dec(filled_buy["cost"]) - _dec(filled_buy["fee"]["cost"])
    krw += _dec(filled_sell["cost"]) - _dec(filled_sell["fee"]["cost"])
    assert _dec(balance["KRW"]["total"]) == krw


def test_limit_order_lifecycle_open_cancel_and_lists(upbit):
    placed = upbit.create_order(SYMBOL, "limit", "buy", 0.0001, 90000000, {"clientOrderId": "ccxt-1"})
    fetched = upbit.fetch_order(placed["id"], SYMBOL)
    open_ids = [order["id"] for order in upbit.fetch_open_orders(SYMBOL)]
    used = upbit.fetch_balance()["KRW"]["used"]
    cancelled = upbit.cancel_order(placed["id"], SYMBOL)
    canceled_ids = [order["id"] for order in upbit.fetch_canceled_orders(SYMBOL)]
    closed_ids = [order["id"] for order in upbit.fetch_closed_orders(SYMBOL)]

    assert (fetched["status"], fetched["clientOrderId"], fetched["price"], fetched["amount"]) == (
        "open",
        "ccxt-1",
        90000000,
        0.0001,
    )
    assert open_ids == [placed["id"]]
    assert _dec(used) == Decimal("9004.5")  # 9,000 KRW + 0.05 % fee held
    assert cancelled["status"] == "open"  # Upbit answers the order as it stood when the cancel was accepted
    assert canceled_ids == [placed["id"]]
    assert closed_ids == []
    assert _dec(upbit.fetch_balance()["KRW"]["free"]) == Decimal("1000000")


def test_fetch_order_by_client_order_id_needs_an_empty_id(upbit):
    upbit.create_order(SYMBOL, "limit", "buy", 0.0001, 90000000, {"clientOrderId": "ccxt-2"})

    # ccxt sends uuid=None when the id is None; Upbit reads uuid first, so only an empty id finds it.
    with pytest.raises(ccxt.OrderNotFound):
        upbit.fetch_order(None, SYMBOL, {"identifier": "ccxt-2"})
    assert upbit.fetch_order("", SYMBOL, {"identifier": "ccxt-2"})["clientOrderId"] == "ccxt-2"


def test_upbit_error_answers_map_to_ccxts_exception_classes(upbit, box):
    with pytest.raises(ccxt.InsufficientFunds):
        upbit.create_order(SYMBOL, "market", "sell", 0.001)
    with pytest.raises(ccxt.OrderNotFound):
        upbit.fetch_order("00000000-0000-0000-0000-000000000000", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        upbit.cancel_order("00000000-0000-0000-0000-000000000000", SYMBOL)
    with pytest.raises(ccxt.AuthenticationError, match="jwt_verification"):
        _exchange(box, secret="not-the-secret").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="invalid_access_key"):
        _exchange(box, apiKey="not-the-key").fetch_balance()
    box.fail_next("/v1/accounts", status=429, body="Too many API requests.")
    with pytest.raises(ccxt.RateLimitExceeded):
        upbit.fetch_balance()
    box.fail_next("/v1/accounts", status=418, body="Too many API requests. Blocked for 60 seconds.")
    with pytest.raises(ccxt.DDoSProtection):
        upbit.fetch_balance()
    assert [o["state"] for o in box.state()["orders"]] == []


def test_a_client_that_ignores_the_quota_gets_429_not_a_crash(box):
    box.hold_quota_clock()
    reckless = _exchange(box, enableRateLimit=False)
    reckless.load_markets()

    def burst() -> None:
        for _ in range(15):
            reckless.fetch_ticker(SYMBOL)

    with pytest.raises(ccxt.RateLimitExceeded):
        burst()
