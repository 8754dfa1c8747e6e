"""Upbit WebSocket messages: the request a connection sends, the frames it reads, and the pacing rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exchange.upbit.stream_messages import (
    Backoff,
    ErrorMessage,
    MessageBudget,
    MyAssetMessage,
    MyOrderMessage,
    OrderbookTop,
    RateWindow,
    StatusMessage,
    StreamProtocolError,
    TickerMessage,
    TradeMessage,
    ban_seconds,
    parse_frame,
    private_subscriptions,
    private_url,
    public_subscriptions,
    subscription_request,
    ws_url_from_rest,
)
from tests.waiting import ManualClock

TS = 1764892800000  # 2025-12-05T00:00:00Z
AT = datetime(2025, 12, 5, tzinfo=UTC)


def frame(body: dict) -> bytes:
    return json.dumps(body).encode("utf-8")


def test_the_ws_address_follows_the_rest_base():
    assert ws_url_from_rest("https://api.upbit.com") == "wss://api.upbit.com/websocket/v1"
    assert ws_url_from_rest("http://127.0.0.1:8123/") == "ws://127.0.0.1:8123/websocket/v1"
    assert private_url("ws://127.0.0.1:8123/websocket/v1") == "ws://127.0.0.1:8123/websocket/v1/private"


def test_a_request_carries_the_complete_list_with_upper_case_codes_and_no_codes_for_my_asset():
    request = json.loads(subscription_request((*public_subscriptions("krw-btc"), *private_subscriptions("KRW-BTC")), ticket="t1"))
    assert request[0] == {"ticket": "t1"}
    assert request[-1] == {"format": "DEFAULT"}
    assert request[1:-1] == [
        {"type": "ticker", "codes": ["KRW-BTC"]},
        {"type": "trade", "codes": ["KRW-BTC"]},
        {"type": "orderbook", "codes": ["KRW-BTC"]},
        {"type": "myOrder", "codes": ["KRW-BTC"]},
        {"type": "myAsset"},
    ]


def test_each_request_gets_its_own_ticket():
    first, second = (json.loads(subscription_request(public_subscriptions("KRW-BTC")))[0]["ticket"] for _ in range(2))
    assert first != second


def test_a_ticker_frame_gives_the_price_as_decimal_and_the_trade_time_as_its_moment():
    message = parse_frame(
        frame(
            {
                "type": "ticker",
                "code": "KRW-BTC",
                "trade_price": 1.16539e8,
                "trade_timestamp": TS - 500,
                "timestamp": TS,
                "stream_type": "REALTIME",
            }
        )
    )
    assert message == TickerMessage(
        market="KRW-BTC",
        trade_price=Decimal("116539000.0"),
        trade_at=datetime.fromtimestamp((TS - 500) / 1000, tz=UTC),
        sent_at=AT,
        stream_type="REALTIME",
    )


def test_exponent_numbers_keep_their_digits():
    message = parse_frame(b'{"type":"ticker","code":"KRW-BTC","trade_price":7.9276E-4,"trade_timestamp":1,"timestamp":1}')
    assert isinstance(message, TickerMessage)
    assert message.trade_price == Decimal("0.00079276")


def test_a_simple_format_ticker_reads_the_same():
    message = parse_frame(frame({"ty": "ticker", "cd": "KRW-BTC", "tp": 100, "ttms": TS, "tms": TS, "st": "SNAPSHOT"}))
    assert isinstance(message, TickerMessage)
    assert (message.trade_price, message.trade_at, message.stream_type) == (Decimal(100), AT, "SNAPSHOT")


def test_a_text_frame_parses_like_a_binary_one():
    body = {"type": "trade", "code": "KRW-BTC", "trade_price": 5, "trade_volume": 0.1, "ask_bid": "BID", "sequential_id": 7}
    body["trade_timestamp"] = TS
    assert parse_frame(json.dumps(body)) == parse_frame(frame(body))
    assert parse_frame(frame(body)) == TradeMessage("KRW-BTC", Decimal(5), Decimal("0.1"), "BID", 7, AT)


def test_the_orderbook_top_is_the_first_unit_and_its_spread():
    message = parse_frame(
        frame(
            {
                "type": "orderbook",
                "code": "KRW-BTC",
                "timestamp": TS,
                "total_ask_size": 3,
                "total_bid_size": 4,
                "orderbook_units": [
                    {"ask_price": 101000, "bid_price": 100000, "ask_size": 0.5, "bid_size": 1.25},
                    {"ask_price": 102000, "bid_price": 99000, "ask_size": 1, "bid_size": 1},
                ],
            }
        )
    )
    assert isinstance(message, OrderbookTop)
    assert (message.ask_price, message.ask_size, message.bid_price, message.bid_size) == (
        Decimal(101000),
        Decimal("0.5"),
        Decimal(100000),
        Decimal("1.25"),
    )
    assert message.spread == Decimal(1000)


def test_an_empty_book_has_no_spread():
    message = parse_frame(frame({"type": "orderbook", "code": "KRW-BTC", "timestamp": TS, "orderbook_units": []}))
    assert isinstance(message, OrderbookTop)
    assert message.spread == 0


def test_my_order_trade_is_a_fill_and_a_wait_is_not():
    base = {"type": "myOrder", "code": "KRW-BTC", "uuid": "u-1", "ask_bid": "ASK", "timestamp": TS}
    traded = parse_frame(frame({**base, "state": "trade", "trade_uuid": "t-1"}))
    waiting = parse_frame(frame({**base, "state": "wait", "trade_uuid": None, "volume": None}))
    assert isinstance(traded, MyOrderMessage)
    assert traded.is_fill
    assert traded.uuid == "u-1"
    assert isinstance(waiting, MyOrderMessage)
    assert not waiting.is_fill


def test_my_asset_lists_balances_and_locked():
    message = parse_frame(
        frame({"type": "myAsset", "timestamp": TS, "assets": [{"currency": "KRW", "balance": 1000.5, "locked": 0}]})
    )
    assert message == MyAssetMessage(balances={"KRW": (Decimal("1000.5"), Decimal(0))}, sent_at=AT)


def test_status_up_and_errors_are_their_own_messages():
    assert parse_frame(b'{"status":"UP"}') == StatusMessage("UP")
    error = parse_frame('{"error":{"message":"Format 이 맞지 않습니다.","name":"WRONG_FORMAT"}}'.encode())
    assert error == ErrorMessage("WRONG_FORMAT", "Format 이 맞지 않습니다.")


def test_an_unused_type_is_skipped():
    assert parse_frame(frame({"type": "candle.1s", "code": "KRW-BTC", "timestamp": TS})) is None


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe",
        b"not json",
        b"[1, 2]",
        b'{"type":"ticker","code":"KRW-BTC","trade_price":"abc","timestamp":1}',
        b'{"type":"ticker","code":"KRW-BTC","trade_price":1,"timestamp":"yesterday"}',
        b'{"type":"ticker","code":"KRW-BTC","trade_price":NaN,"timestamp":1}',
        b'{"type":"orderbook","code":"KRW-BTC","timestamp":1,"orderbook_units":[{"ask_price":[]}]}',
    ],
)
def test_malformed_frames_raise_a_protocol_error(data):
    with pytest.raises(StreamProtocolError):
        parse_frame(data)


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap_and_resets():
    draws = iter([0.0, 1.0, 0.5, 0.0, 1.0, 1.0, 1.0])
    backoff = Backoff(base_sec=1.0, cap_sec=8.0, rand=lambda: next(draws))
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays == [0.5, 2.0, 3.0, 4.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_backoff_never_waits_less_than_half_its_window():
    backoff = Backoff(base_sec=1.0, cap_sec=60.0, rand=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_the_connect_window_allows_five_per_second_then_spaces_the_rest():
    clock = ManualClock()
    window = RateWindow(5, 1.0, clock=clock)
    assert [window.reserve() for _ in range(5)] == [0.0] * 5
    assert window.reserve() == pytest.approx(1.0)
    assert window.reserve() == pytest.approx(1.0)
    clock.advance(1.0)
    # The two slots reserved for this second count: three more fit, the next waits a second.
    assert [window.reserve() for _ in range(3)] == [0.0] * 3
    assert window.reserve() == pytest.approx(1.0)


def test_a_connection_sends_at_most_100_messages_a_minute():
    clock = ManualClock()
    budget = MessageBudget(clock=clock)
    waits = []
    for _ in range(101):
        wait = budget.wait()
        waits.append(wait)
        clock.advance(max(wait, 0.2) if wait else 0.2)
    assert max(waits[:100]) <= 1.0
    assert waits[100] > 30  # the 101st waits for the first minute's first message to leave the window


def test_a_ban_at_the_handshake_is_waited_out_in_full():
    assert ban_seconds(418, b"Too many API requests. Blocked for 37 seconds.") == 37
    assert ban_seconds(418, b"I'm a teapot") == 60  # banned, for how long unsaid: a minute
    assert ban_seconds(429, b"Too Many Requests") == 0  # the backoff alone spaces those
    assert ban_seconds(503, None) == 0
