"""The engine's market feed without a socket: staleness on a manual clock, protective wake-ups, reported fills.

The connection itself is tested against the sandbox's WebSocket (test_stream_sandbox.py); here a client that
never dials stands in for it, so the feed's own rules are checked frame by frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from exchange.upbit.stream import StreamClient, StreamStatus
from exchange.upbit.stream_messages import MyOrderMessage, OrderbookTop, TickerMessage, TradeMessage
from tests.waiting import ManualClock
from trading import events
from trading.engine.stream import MarketFeed, SourceSwitch, Watch, feed_from_settings
from trading.strategies.protective import ProtectiveRules
from trading.templatetags.dashboard import event_text

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


class UndialledClient(StreamClient):
    """A StreamClient whose connection state the test sets instead of a socket."""

    connected = True

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 5.0) -> None:
        pass

    def status(self) -> StreamStatus:
        return StreamStatus(self.connected, 1, 0, 0, 0, None, "" if self.connected else "ConnectionClosed", 0.0)


def make_feed(clock, wakes, *, keys: bool = False, stale_sec: float = 5.0) -> MarketFeed:
    return MarketFeed(
        market="KRW-BTC",
        url="ws://127.0.0.1:1/websocket/v1",
        stale_sec=stale_sec,
        wake=lambda: wakes.append(clock()),
        access_key="a" if keys else "",
        secret_key="s" if keys else "",
        clock=clock,
        client_factory=UndialledClient,
    )


def ticker(price: str, *, seconds: float = 0) -> TickerMessage:
    moment = AT + timedelta(seconds=seconds)
    return TickerMessage("KRW-BTC", Decimal(price), moment, moment, "REALTIME")


def stop_loss_watch(avg: float = 100.0) -> Watch:
    return Watch(ProtectiveRules(stop_loss_factor=0.95), avg_buy_price=avg, peak=avg, atr=None)


def test_the_cycle_gets_the_streamed_price_at_the_trade_time_while_fresh():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes)
    assert feed.ticker() is None  # nothing streamed yet: REST
    feed.on_public(ticker("100", seconds=3))
    streamed = feed.ticker()
    assert streamed is not None
    assert (streamed.trade_price, streamed.timestamp) == (Decimal(100), AT + timedelta(seconds=3))


def test_a_stream_silent_past_its_limit_is_stale_and_the_cycle_uses_rest_until_it_speaks_again():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes, stale_sec=5)
    feed.on_public(ticker("100"))
    assert feed.source_changed() == SourceSwitch("stream", "stream_fresh", {})
    clock.advance(5.0)
    assert feed.ticker() is not None
    assert feed.source_changed() is None
    clock.advance(0.01)
    assert feed.ticker() is None
    assert feed.state() == "stale"
    assert feed.source_changed() == SourceSwitch("rest", "stream_silent", {"seconds": "5.0", "limit": "5"})
    assert feed.source_changed() is None  # one event per switch
    feed.on_public(TradeMessage("KRW-BTC", Decimal(101), Decimal(1), "BID", 1, AT))  # any frame is a sign of life
    assert feed.source_changed() == SourceSwitch("stream", "stream_fresh", {})


def test_a_disconnected_stream_falls_back_at_once():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes)
    feed.on_public(ticker("100"))
    feed.source_changed()
    feed.public.connected = False  # type: ignore[attr-defined] - the stand-in's switch
    assert feed.ticker() is None
    assert feed.state() == "disconnected"
    assert feed.source_changed() == SourceSwitch("rest", "stream_disconnected", {"error": "ConnectionClosed"})


def test_a_ticker_below_the_stop_loss_wakes_the_trading_thread_once_a_second():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes)
    feed.watch(stop_loss_watch(100.0))
    feed.on_public(ticker("96"))
    assert wakes == []
    feed.on_public(ticker("95"))
    assert wakes == [clock()]
    clock.advance(0.5)
    feed.on_public(ticker("94"))
    assert len(wakes) == 1  # still crossed: not on every ticker
    clock.advance(0.5)
    feed.on_public(ticker("94"))
    assert len(wakes) == 2


def test_no_position_watched_means_no_wake_and_no_streamed_peak():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes)
    feed.on_public(ticker("1"))
    assert wakes == []
    assert feed.take_high() is None


def test_the_trailing_stop_sees_the_streamed_peak_between_cycles():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes)
    feed.watch(Watch(ProtectiveRules(trailing_factor=0.9), avg_buy_price=100.0, peak=100.0, atr=None))
    feed.on_public(ticker("120"))
    feed.on_public(ticker("109"))  # 120 × 0.9 = 108: not yet
    assert wakes == []
    feed.on_public(ticker("108"))
    assert len(wakes) == 1
    assert feed.take_high() == Decimal(120)
    assert feed.take_high() is None  # taken: the next cycle starts from its own price


def test_a_new_watch_rearms_the_wake_at_once():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes)
    feed.watch(stop_loss_watch(100.0))
    feed.on_public(ticker("90"))
    feed.watch(stop_loss_watch(200.0))
    feed.on_public(ticker("90"))
    assert len(wakes) == 2


def test_a_fill_on_my_order_wakes_with_the_order_uuid_and_a_wait_does_not():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes, keys=True)
    assert feed.private is not None
    feed.on_private(MyOrderMessage("u-wait", "KRW-BTC", "BID", "wait", None, "id-1", AT))
    assert wakes == []
    assert feed.take_orders() == set()
    feed.on_private(MyOrderMessage("u-1", "KRW-BTC", "BID", "trade", "t-1", "id-1", AT))
    feed.on_private(MyOrderMessage("u-1", "KRW-BTC", "BID", "done", None, "id-1", AT))
    assert len(wakes) == 2
    assert feed.take_orders() == {"u-1"}
    assert feed.take_orders() == set()


def test_paper_without_keys_has_no_private_stream():
    assert make_feed(ManualClock(), []).private is None


def test_the_snapshot_carries_price_book_rate_and_age_as_text():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes)
    feed.on_public(ticker("100000000"))
    top = OrderbookTop(
        "KRW-BTC", Decimal(100010000), Decimal("0.5"), Decimal(99990000), Decimal("1.2"), Decimal(3), Decimal(4), AT
    )
    feed.on_public(top)
    clock.advance(0.25)
    snapshot = feed.snapshot()
    assert snapshot["state"] == "connected"
    assert snapshot["price"]["value"] == "100000000"
    assert snapshot["book"]["spread"] == "20000"
    assert snapshot["book"]["bid_size"] == "1.2"
    assert snapshot["last_message_age_seconds"] == 0.25
    assert snapshot["messages_per_sec"] == 0.2  # two frames in the 10 s window


class Owner:
    """What feed_from_settings reads of the engine: its market and whether its exchange is paper."""

    def __init__(self, *, paper: bool) -> None:
        self.market = "KRW-ETH"
        self.exchange = type("Exchange", (), {"is_paper": paper})()


def test_the_settings_turn_the_stream_off_or_point_it_beside_the_rest_base(settings):
    settings.MARKET_STREAM = "off"
    assert feed_from_settings(Owner(paper=False), wake=lambda: None) is None
    settings.MARKET_STREAM = "on"
    settings.UPBIT_WS_URL = ""
    settings.UPBIT_API_BASE = "http://127.0.0.1:8123"
    settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY = "access", "secret" * 7
    settings.STREAM_STALE_SEC = 3
    live = feed_from_settings(Owner(paper=False), wake=lambda: None)
    assert live is not None
    assert live.public.url == "ws://127.0.0.1:8123/websocket/v1"
    assert live.private is not None
    assert live.private.url == "ws://127.0.0.1:8123/websocket/v1/private"
    assert [s.codes for s in live.public.subscriptions] == [("KRW-ETH",)] * 3
    assert live.stale_sec == 3
    settings.UPBIT_WS_URL = "wss://sg-api.upbit.com/websocket/v1"
    paper = feed_from_settings(Owner(paper=True), wake=lambda: None)
    assert paper is not None
    assert paper.public.url == "wss://sg-api.upbit.com/websocket/v1"
    assert paper.private is None  # paper orders never reach Upbit: nothing of ours to hear about


@pytest.mark.django_db
def test_a_switch_is_one_event_in_english_and_shown_in_korean():
    clock, wakes = ManualClock(), []
    feed = make_feed(clock, wakes, stale_sec=5)
    feed.on_public(ticker("100"))
    feed.source_changed()
    clock.advance(6.25)
    switch = feed.source_changed()
    assert switch is not None
    event = events.market_data_source_changed(source=switch.source, code=switch.code, params=switch.params, market="KRW-BTC")
    assert event.level == "WARNING"
    assert event.message == "Market data from REST polling: the stream has been silent for 6.2 s (STREAM_STALE_SEC=5)"
    assert event.meta["source"] == "rest"
    with translation.override("ko"):
        assert event_text(event) == "시세를 REST 조회로 받습니다: 스트림이 6.2초 동안 조용합니다 (STREAM_STALE_SEC=5)"
