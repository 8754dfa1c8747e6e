"""The WebSocket client over real sockets against the sandbox's stream: subscription, reconnection, backoff."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from exchange.upbit.stream import StreamClient
from exchange.upbit.stream_messages import (
    Backoff,
    MyAssetMessage,
    MyOrderMessage,
    OrderbookTop,
    RateWindow,
    StreamMessage,
    TickerMessage,
    private_subscriptions,
    private_url,
    public_subscriptions,
    ws_url_from_rest,
)
from tests.waiting import wait_until


class Inbox:
    def __init__(self) -> None:
        self.messages: list[StreamMessage] = []
        self.lock = threading.Lock()

    def __call__(self, message: StreamMessage) -> None:
        with self.lock:
            self.messages.append(message)

    def tickers(self) -> list[TickerMessage]:
        with self.lock:
            return [m for m in self.messages if isinstance(m, TickerMessage)]

    def books(self) -> list[OrderbookTop]:
        with self.lock:
            return [m for m in self.messages if isinstance(m, OrderbookTop)]


def websocket(sandbox: Any) -> dict[str, Any]:
    return sandbox.state()["websocket"]


def connects(sandbox: Any) -> int:
    described = websocket(sandbox)
    return int(described["connects"]) + int(described["refused"])


@pytest.fixture
def clients() -> Iterator[list[StreamClient]]:
    started: list[StreamClient] = []
    yield started
    for client in started:
        client.stop()


def start(clients: list[StreamClient], sandbox: Any, inbox: Inbox, **kwargs: Any) -> StreamClient:
    kwargs.setdefault("connect_window", RateWindow(5, 1.0))
    client = StreamClient(ws_url_from_rest(sandbox.base_url), public_subscriptions("KRW-BTC"), inbox, **kwargs)
    clients.append(client)
    client.start()
    return client


def test_the_client_subscribes_to_ticker_trade_and_orderbook_and_reads_binary_frames(sandbox, clients):
    sandbox.set_price("100000000")
    inbox = Inbox()
    start(clients, sandbox, inbox)
    wait_until(lambda: inbox.tickers() and inbox.books(), timeout=5, message="no ticker and book from the sandbox")
    assert inbox.tickers()[0].trade_price == Decimal(100000000)
    book = inbox.books()[0]
    assert book.ask_price > book.bid_price > 0
    (connection,) = websocket(sandbox)["open"]
    assert sorted(s["type"] for s in connection["subscriptions"]) == ["orderbook", "ticker", "trade"]
    sandbox.set_price("99000000")
    wait_until(lambda: inbox.tickers()[-1].trade_price == Decimal(99000000), timeout=2, message="no realtime push")


def test_a_dropped_connection_comes_back_subscribed_to_the_full_list(sandbox, clients):
    sandbox.set_price("100000000")
    inbox = Inbox()
    client = start(clients, sandbox, inbox, backoff=Backoff(base_sec=0.2, cap_sec=1.0))
    wait_until(lambda: client.status().connected and inbox.tickers(), timeout=5, message="never connected")
    sandbox.control("POST", "ws_drop", {})
    wait_until(lambda: client.status().connects == 2 and client.status().connected, timeout=5, message="never reconnected")
    before = len(inbox.tickers())
    sandbox.set_price("98000000")
    wait_until(lambda: len(inbox.tickers()) > before and inbox.tickers()[-1].trade_price == Decimal(98000000), timeout=3)
    (connection,) = websocket(sandbox)["open"]
    assert sorted(s["type"] for s in connection["subscriptions"]) == ["orderbook", "ticker", "trade"]
    assert client.status().reconnects == 1


def test_a_refused_handshake_is_retried_with_growing_waits_not_a_storm(sandbox, clients):
    sandbox.control("POST", "ws_refuse", {"status": 503, "count": 1000})
    inbox = Inbox()
    started = time.monotonic()
    client = start(clients, sandbox, inbox, backoff=Backoff(base_sec=0.25, cap_sec=10.0, rand=lambda: 0.0))
    # Waits of 0.125, 0.25, 0.5, 1 s at least: the fifth attempt comes no sooner than 1.875 s after the first.
    wait_until(lambda: connects(sandbox) >= 5, timeout=10, message="the client gave up retrying")
    assert time.monotonic() - started >= 1.875
    assert connects(sandbox) <= 6
    assert client.status().last_error == "handshake refused: HTTP 503"
    assert not inbox.messages
    sandbox.control("POST", "reset_faults", {})
    wait_until(lambda: client.status().connected, timeout=10, message="never connected after the refusals ended")


def test_the_process_wide_connect_window_keeps_many_clients_at_five_connects_a_second(sandbox, clients):
    sandbox.control("POST", "ws_refuse", {"status": 503, "count": 1000})
    window = RateWindow(5, 1.0)
    started = time.monotonic()
    for _ in range(8):
        start(clients, sandbox, Inbox(), connect_window=window, backoff=Backoff(base_sec=30, cap_sec=30))
    wait_until(lambda: connects(sandbox) >= 8, timeout=5, message="not every client dialled")
    assert time.monotonic() - started >= 0.9  # the sixth to eighth waited for the next second


def test_a_stalled_public_stream_is_dialled_again_after_its_silence_limit(sandbox, clients):
    inbox = Inbox()
    client = start(clients, sandbox, inbox, silence_sec=1.0, backoff=Backoff(base_sec=0.1, cap_sec=0.2))
    wait_until(lambda: client.status().connected and inbox.tickers(), timeout=5, message="never connected")
    sandbox.control("POST", "ws_stall", {"seconds": 30})
    wait_until(lambda: client.status().connects >= 2, timeout=5, message="the stalled connection was never replaced")
    sandbox.set_price("96000000")  # the stall holds only the old connection
    wait_until(lambda: inbox.tickers()[-1].trade_price == Decimal(96000000), timeout=3, message="no push on the new one")


def test_a_malformed_frame_is_dropped_and_the_stream_goes_on(sandbox, clients):
    sandbox.set_price("100000000")
    inbox = Inbox()
    client = start(clients, sandbox, inbox)
    wait_until(lambda: client.status().connected and inbox.tickers(), timeout=5, message="never connected")
    sandbox.control("POST", "ws_malformed", {})
    wait_until(lambda: client.status().errors == 1, timeout=3, message="the malformed frame was not noticed")
    sandbox.set_price("97000000")
    wait_until(lambda: inbox.tickers()[-1].trade_price == Decimal(97000000), timeout=3, message="the stream stopped")
    assert client.status().connects == 1


def start_private(clients: list[StreamClient], sandbox: Any, inbox: Inbox, *, secret_key: str, **kwargs: Any) -> StreamClient:
    kwargs.setdefault("connect_window", RateWindow(5, 1.0))
    client = StreamClient(
        private_url(ws_url_from_rest(sandbox.base_url)),
        private_subscriptions("KRW-BTC"),
        inbox,
        access_key=sandbox.access_key,
        secret_key=secret_key,
        **kwargs,
    )
    clients.append(client)
    client.start()
    return client


def test_the_private_stream_signs_its_handshake_and_reports_our_order_and_its_fill(sandbox, clients):
    sandbox.set_price("100000000")
    inbox = Inbox()
    client = start_private(clients, sandbox, inbox, secret_key=sandbox.secret_key)
    wait_until(lambda: websocket(sandbox)["connections"] == 1 and client.status().connected, timeout=5, message="no handshake")
    wait_until(lambda: websocket(sandbox)["open"][0]["subscriptions"], timeout=3, message="never subscribed")
    placed = sandbox.call(
        "POST",
        "/v1/orders",
        body={"market": "KRW-BTC", "side": "bid", "volume": "0.001", "price": "99000000", "ord_type": "limit"},
    )
    assert placed.status_code == 201, placed.text
    uuid = placed.json()["uuid"]

    def orders() -> list[MyOrderMessage]:
        with inbox.lock:
            return [m for m in inbox.messages if isinstance(m, MyOrderMessage) and m.uuid == uuid]

    wait_until(lambda: orders() and orders()[0].state == "wait", timeout=3, message="no myOrder for the placed order")
    assert not orders()[0].is_fill
    sandbox.set_price("98000000")
    wait_until(lambda: any(m.is_fill for m in orders()), timeout=3, message="no myOrder for the fill")
    with inbox.lock:
        assert any(isinstance(m, MyAssetMessage) and "KRW" in m.balances for m in inbox.messages)


def test_a_refused_private_handshake_backs_off_and_says_why(sandbox, clients):
    inbox = Inbox()
    client = start_private(
        clients, sandbox, inbox, secret_key="wrong" * 8, backoff=Backoff(base_sec=0.25, cap_sec=10.0, rand=lambda: 0.0)
    )
    wait_until(lambda: "INVALID_AUTH" in client.status().last_error, timeout=5, message=lambda: client.status().last_error)
    started = time.monotonic()
    first = client.status().connects
    wait_until(lambda: client.status().connects >= first + 2, timeout=5, message="never retried")
    assert time.monotonic() - started >= 0.25 + 0.125 - 0.05  # the waits grow: no storm of refused handshakes
    assert not inbox.messages


def test_a_ban_at_the_handshake_is_not_retried_until_it_ends(sandbox, clients):
    sandbox.control("POST", "ws_refuse", {"status": 418, "count": 1})
    client = start(clients, sandbox, Inbox(), backoff=Backoff(base_sec=0.1, cap_sec=1.0))
    wait_until(lambda: "HTTP 418" in client.status().last_error, timeout=5, message="the ban was never met")
    assert "blocked for 60 s" in client.status().last_error  # the sandbox's refusal names no time: a minute
    assert client.status().next_attempt_in_sec > 55
    assert connects(sandbox) == 1
