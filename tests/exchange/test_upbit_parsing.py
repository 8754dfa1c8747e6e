"""Parsing Upbit's real response shapes (upbit-api.md §2.3, §3) into typed results."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from requests.structures import CaseInsensitiveDict

from exchange.upbit import (
    parse_ban_seconds,
    parse_candles,
    parse_error_body,
    parse_order,
    parse_order_chance,
    parse_orderbook,
    parse_ticker,
)

LIMIT_BID_OPEN = {
    "market": "KRW-BTC",
    "uuid": "9ca023a5-851b-4fec-9f0a-48cd83c2eaae",
    "side": "bid",
    "ord_type": "limit",
    "price": "155772000",
    "state": "wait",
    "created_at": "2025-08-09T16:52:49+09:00",
    "volume": "0.0001",
    "remaining_volume": "0.0001",
    "executed_volume": "0",
    "reserved_fee": "7.7886",
    "remaining_fee": "7.7886",
    "paid_fee": "0",
    "locked": "15584.9886",
    "prevented_volume": "0",
    "prevented_locked": "0",
    "trades_count": 0,
    "trades": [],
}

MARKET_BUY_FINISHED = {
    "market": "KRW-BTC",
    "uuid": "b2ae6d6e-0f4e-4d1b-9b4a-9d1b0e7c2f10",
    "side": "bid",
    "ord_type": "price",
    "price": "6000",
    "state": "cancel",
    "created_at": "2025-08-09T16:44:00+09:00",
    "executed_volume": "0.00003736",
    "reserved_fee": "3",
    "remaining_fee": "0.00010408",
    "paid_fee": "2.99989592",
    "locked": "0.20826408",
    "prevented_locked": "0",
    "trades_count": 1,
    "trades": [
        {
            "market": "KRW-BTC",
            "uuid": "1f0c8e3a-1111-4b59-9d2f-8f6a5c0d4e21",
            "price": "160594000",
            "volume": "0.00003736",
            "funds": "5999.79184",
            "trend": "up",
            "created_at": "2025-08-09T16:44:00.597751+09:00",
            "side": "bid",
        }
    ],
}

MARKET_SELL_DONE = {
    "market": "KRW-USDT",
    "uuid": "c7d4e1a2-3333-4f1e-8a2b-6e5d4c3b2a19",
    "side": "ask",
    "ord_type": "market",
    "state": "done",
    "created_at": "2025-08-09T17:00:00+09:00",
    "identifier": "autocoin-42",
    "volume": "5.377594",
    "remaining_volume": "0",
    "executed_volume": "5.377594",
    "reserved_fee": "0",
    "remaining_fee": "0",
    "paid_fee": "3.697095875",
    "locked": "0",
    "trades_count": 1,
    "trades": [
        {
            "market": "KRW-USDT",
            "uuid": "t-2",
            "price": "1375",
            "volume": "5.377594",
            "funds": "7394.19175",
            "trend": "down",
            "side": "ask",
            "created_at": "2025-08-09T17:00:00+09:00",
        }
    ],
}


def test_open_limit_bid_parses_to_buy_with_utc_time_and_exact_decimals():
    order = parse_order(LIMIT_BID_OPEN)

    assert order.side == "buy"
    assert order.state == "wait"
    assert not order.is_final
    assert not order.is_filled
    assert order.created_at == datetime(2025, 8, 9, 7, 52, 49, tzinfo=UTC)
    assert order.price == Decimal("155772000")
    assert order.remaining_volume == Decimal("0.0001")
    assert order.locked == Decimal("15584.9886")
    assert order.identifier is None
    assert order.trades == ()


def test_finished_market_buy_without_volume_fields_counts_as_filled():
    order = parse_order(MARKET_BUY_FINISHED)

    assert order.volume is None
    assert order.remaining_volume is None
    assert order.state == "cancel"
    assert order.is_filled
    assert order.executed_volume == Decimal("0.00003736")
    assert order.filled_funds == Decimal("5999.79184")
    trade = order.trades[0]
    assert trade.side == "buy"
    assert trade.created_at == datetime(2025, 8, 9, 7, 44, 0, 597751, tzinfo=UTC)
    assert order.paid_fee == Decimal("2.99989592")


def test_market_sell_without_price_maps_ask_to_sell():
    order = parse_order(MARKET_SELL_DONE)

    assert order.side == "sell"
    assert order.trades[0].side == "sell"
    assert order.price is None
    assert order.identifier == "autocoin-42"
    assert order.is_filled
    assert order.is_final


def test_cancelled_market_buy_with_nothing_executed_is_not_filled():
    unfilled = {**MARKET_BUY_FINISHED, "executed_volume": "0", "trades": [], "trades_count": 0}

    assert not parse_order(unfilled).is_filled


def test_raw_is_kept_masked_and_json_serialisable():
    secret = "very-secret-value-123"
    answer = {**LIMIT_BID_OPEN, "access_key": "abc", "note": f"signed with {secret}"}

    order = parse_order(answer, secrets=[secret])

    assert order.raw["uuid"] == LIMIT_BID_OPEN["uuid"]
    assert order.raw["access_key"] == "***"
    assert secret not in json.dumps(order.raw)


def test_ticker_numbers_stay_exact_decimals():
    text = (
        '[{"market":"KRW-BTC","trade_price":155772000.0,"opening_price":154000000,"high_price":156000000,'
        '"low_price":153000000,"prev_closing_price":154000000,"acc_trade_volume_24h":1234.12345678,'
        '"trade_timestamp":1754725969123,"timestamp":1754725969200}]'
    )

    ticker = parse_ticker(json.loads(text, parse_float=Decimal)[0])

    assert ticker.trade_price == Decimal("155772000")
    assert str(ticker.acc_trade_volume_24h) == "1234.12345678"
    assert ticker.timestamp == datetime(2025, 8, 9, 7, 52, 49, 123000, tzinfo=UTC)


def test_candles_newest_first_are_returned_oldest_first():
    newest_first = [
        {
            "market": "KRW-BTC",
            "candle_date_time_utc": f"2025-06-24T04:{minute:02d}:00",
            "candle_date_time_kst": f"2025-06-24T13:{minute:02d}:00",
            "opening_price": Decimal(100 + minute),
            "high_price": Decimal(110 + minute),
            "low_price": Decimal(90 + minute),
            "trade_price": Decimal(105 + minute),
            "timestamp": 1750740000000,
            "candle_acc_trade_price": Decimal("1000.5"),
            "candle_acc_trade_volume": Decimal("0.25"),
            "unit": 1,
        }
        for minute in (3, 2, 1)
    ]

    candles = parse_candles(newest_first, unit=1)

    assert [candle.start.minute for candle in candles] == [1, 2, 3]
    assert candles[0].start == datetime(2025, 6, 24, 4, 1, tzinfo=UTC)
    assert candles[0].open == Decimal(101)
    assert candles[0].close == Decimal(106)
    assert candles[-1].volume == Decimal("0.25")
    assert candles[-1].value == Decimal("1000.5")


def test_orderbook_best_level_first():
    book = parse_orderbook(
        {
            "market": "KRW-BTC",
            "timestamp": 1754725969000,
            "total_ask_size": Decimal("1"),
            "total_bid_size": Decimal("1"),
            "orderbook_units": [
                {"ask_price": 100001000, "bid_price": 100000000, "ask_size": Decimal("0.5"), "bid_size": Decimal("0.4")},
                {"ask_price": 100002000, "bid_price": 99999000, "ask_size": Decimal("0.5"), "bid_size": Decimal("0.6")},
            ],
        }
    )

    assert book.best_ask == Decimal("100001000")
    assert book.best_bid == Decimal("100000000")
    assert len(book.levels) == 2


CHANCE = {
    "bid_fee": "0.0005",
    "ask_fee": "0.0005",
    "maker_bid_fee": "0.0005",
    "maker_ask_fee": "0.0005",
    "market": {
        "id": "KRW-BTC",
        "name": "BTC/KRW",
        "order_sides": ["ask", "bid"],
        "bid": {"currency": "KRW", "min_total": "5000"},
        "ask": {"currency": "BTC", "min_total": "5000"},
        "max_total": "1000000000",
        "state": "active",
    },
    "bid_account": {
        "currency": "KRW",
        "balance": "1000000.0",
        "locked": "0.0",
        "avg_buy_price": "0",
        "avg_buy_price_modified": False,
        "unit_currency": "KRW",
    },
    "ask_account": {
        "currency": "BTC",
        "balance": "0.01",
        "locked": "0.0",
        "avg_buy_price": "100000000",
        "avg_buy_price_modified": False,
        "unit_currency": "KRW",
    },
}


@pytest.mark.parametrize("shape", ["object", "one-item array"])
def test_order_chance_accepts_object_and_single_item_array(shape):
    data = CHANCE if shape == "object" else [CHANCE]

    chance = parse_order_chance(data, market="KRW-BTC")

    assert chance.bid_fee == Decimal("0.0005")
    assert chance.ask_fee == Decimal("0.0005")
    assert chance.min_total == Decimal("5000")
    assert chance.max_total == Decimal("1000000000")
    assert chance.bid_account.balance == Decimal("1000000.0")
    assert chance.ask_account.currency == "BTC"
    assert chance.ask_account.avg_buy_price == Decimal("100000000")


def test_error_body_exchange_quotation_and_plain_text():
    text = '{"error":{"name":"invalid_price_bid","message":"주문가격 단위를 잘못 입력하셨습니다."}}'
    exchange = parse_error_body(text.encode())
    quotation = parse_error_body(b'{"error":{"name":404,"message":"Code not found"}}')
    plain = parse_error_body(b"Too many API requests.")
    empty = parse_error_body(b"")

    assert (exchange.name, exchange.message) == ("invalid_price_bid", "주문가격 단위를 잘못 입력하셨습니다.")
    assert (quotation.name, quotation.message) == ("404", "Code not found")
    assert (plain.name, plain.message) == ("", "Too many API requests.")
    assert (empty.name, empty.message) == ("", "")


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "120"}, b"", 120),
        ({}, b'{"error":{"name":"too_many_requests","message":"blocked","ban_seconds":30}}', 30),
        ({}, "요청이 너무 많습니다. 60초 후 다시 시도하세요".encode(), 60),
        ({}, b"Banned for 5 minutes", 300),
        ({}, b"I'm a teapot", None),
    ],
)
def test_ban_duration_is_read_from_headers_or_body(headers, body, expected):
    assert parse_ban_seconds(CaseInsensitiveDict(headers), body) == expected
