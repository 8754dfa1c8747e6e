"""The live client against an Upbit-like server written here from upbit-api.md alone (not the sandbox).

`UpbitLike` is a plain `http.server` that answers with the real service's published shapes (decimal
strings from the exchange API, JSON numbers from quotation, a filled market buy ending `cancel`
without volume fields, `/orders/chance` as an object or a one-item array) and misbehaves on request
the ways a network, a proxy or Upbit itself can: 429 in plain text, 418 with and without a ban length,
HTML error pages, empty and truncated bodies, slow answers, dropped and reset connections, missing
`Remaining-Req`. It checks every signature independently (PyJWT + hashlib, per the docs).

Each case asserts what the engine will be told: a typed result, or exactly one exception class that
names the action (RetryLater, RateLimited, IpBanned/StopTrading, OrderRejected/InvalidRequest,
OrderNotFound, OutcomeUnknown) — never an unexpected exception type, never a repeated order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import unquote

import pytest

from exchange.exceptions import (
    RetryLater,
)
from tests.exchange.upbit_like import (
    CHANCE,
    LIMIT_BID_OPEN,
    MARKET_BUY,
    MARKET_SELL_DONE,
    ORDER_UUID,
    TICKER,
    Reply,
    _all_signatures_valid,
)

# --- published shapes → typed results ----------------------------------------------------------------


def test_exchange_strings_become_exact_decimals_and_missing_fields_take_defaults(upbit, client):
    krw, btc = client.get_accounts()

    assert (krw.currency, krw.balance, krw.locked, krw.avg_buy_price) == ("KRW", Decimal("1000000.0"), Decimal("0.0"), 0)
    assert (btc.currency, btc.balance, btc.locked, btc.avg_buy_price, btc.unit_currency) == (
        "BTC",
        Decimal("0.00003736"),
        Decimal("0"),
        Decimal("0"),
        "KRW",
    )
    _all_signatures_valid(upbit)


def test_quotation_json_numbers_keep_every_digit(client):
    ticker = client.get_ticker("KRW-BTC")
    candles = client.get_minute_candles("KRW-BTC", count=2)
    book = client.get_orderbook("KRW-BTC")

    assert ticker.trade_price == Decimal("160594000.0")
    assert ticker.high_price == Decimal("161000000")
    assert ticker.acc_trade_volume_24h == Decimal("1234.56789")
    assert ticker.timestamp == datetime(2025, 8, 9, 7, 44, 0, 597000, tzinfo=UTC)
    assert [c.start.minute for c in candles] == [43, 44]  # newest first on the wire, oldest first here
    assert candles[0].volume == Decimal("0.06157")
    assert candles[1].value == Decimal("42180437.92941")
    assert (book.best_ask, book.best_bid, book.levels[0].ask_size) == (
        Decimal("160594000.0"),
        Decimal("160593000.0"),
        Decimal("0.00123456"),
    )


def test_market_buy_accepted_as_wait_then_filled_as_cancel_without_volume(upbit, client):
    accepted = client.place_order(MARKET_BUY)
    filled = client.get_order(uuid=accepted.uuid)

    assert (accepted.state, accepted.is_filled, accepted.executed_volume) == ("wait", False, 0)
    assert (filled.state, filled.is_final, filled.is_filled) == ("cancel", True, True)
    assert (filled.volume, filled.remaining_volume) == (None, None)
    assert filled.executed_volume == Decimal("0.00003736")
    assert filled.paid_fee == Decimal("2.99989592")
    assert filled.locked == Decimal("0.20826408")
    assert filled.filled_funds == Decimal("5999.79184")
    assert [(t.side, t.price, t.volume) for t in filled.trades] == [("buy", Decimal("160594000"), Decimal("0.00003736"))]
    assert filled.trades[0].created_at == datetime(2025, 8, 9, 7, 44, 0, 597751, tzinfo=UTC)
    assert json.loads(upbit.calls("POST", "/v1/orders")[0].body) == {
        "market": "KRW-BTC",
        "side": "bid",
        "price": "6000",
        "ord_type": "price",
        "identifier": "buy-1",
    }
    _all_signatures_valid(upbit)


def test_market_sell_done_has_no_price_and_limit_bid_open_keeps_its_lock(upbit, client):
    upbit.script("GET", "/v1/order", Reply(body=MARKET_SELL_DONE))

    sold = client.get_order(identifier="sell-1")
    (resting,) = client.get_open_orders("KRW-BTC")

    assert (sold.side, sold.ord_type, sold.state, sold.price, sold.is_filled) == ("sell", "market", "done", None, True)
    assert sold.paid_fee == Decimal("3.697095875")
    assert sold.filled_funds == Decimal("7394.19175")
    assert (resting.side, resting.state, resting.price, resting.remaining_volume) == (
        "buy",
        "wait",
        Decimal("155772000"),
        Decimal("0.0001"),
    )
    assert resting.locked == Decimal("15584.9886")
    assert upbit.calls("GET", "/v1/order")[0].query == "identifier=sell-1"
    # urllib3 percent-encodes the brackets on the wire; the hash is over the decoded text, as Upbit's docs say.
    assert "states[]=wait&states[]=watch" in unquote(upbit.calls("GET", "/v1/orders/open")[0].query)
    _all_signatures_valid(upbit)


def test_order_without_identifier_or_trades_count_from_before_identifiers_were_returned(upbit, client):
    old = {key: value for key, value in LIMIT_BID_OPEN.items() if key not in ("trades_count", "trades")}
    upbit.script("GET", "/v1/order", Reply(body=old))

    order = client.get_order(uuid=ORDER_UUID)

    assert (order.identifier, order.trades_count, order.trades) == (None, 0, ())


@pytest.mark.parametrize("shape", ["object", "one-item array"])
def test_order_chance_as_an_object_or_a_one_item_array(upbit, client, shape):
    upbit.script("GET", "/v1/orders/chance", Reply(body=CHANCE if shape == "object" else [CHANCE]))

    chance = client.get_order_chance("KRW-BTC")

    assert (chance.bid_fee, chance.ask_fee, chance.min_total, chance.max_total) == (
        Decimal("0.0005"),
        Decimal("0.0005"),
        Decimal("5000"),
        Decimal("1000000000"),
    )
    assert (chance.bid_account.balance, chance.ask_account.avg_buy_price) == (Decimal("1000000.0"), Decimal("160594000"))


def test_order_chance_with_two_entries_is_an_unexpected_shape(upbit, client):
    upbit.script("GET", "/v1/orders/chance", Reply(body=[CHANCE, CHANCE]))

    with pytest.raises(RetryLater, match="unexpected shape"):
        client.get_order_chance("KRW-BTC")


def test_remaining_req_missing_or_unreadable_on_some_answers(upbit, client):
    upbit.script(
        "GET",
        "/v1/ticker",
        Reply(body=TICKER, remaining="group=ticker; min=600; sec=7"),
        Reply(body=TICKER, remaining=None),
        Reply(body=TICKER, remaining="group=ticker; sec=oops"),
    )

    prices = [client.get_ticker("KRW-BTC").trade_price for _ in range(3)]

    assert prices == [Decimal("160594000.0")] * 3
    assert client.rate_limit_status()["ticker"]["sec"] == 7  # the last readable header is kept
