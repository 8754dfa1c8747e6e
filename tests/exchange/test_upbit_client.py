"""The live client over real HTTP against the sandbox exchange on 127.0.0.1 (no mocked requests)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from exchange.exceptions import (
    InvalidRequest,
    IpBanned,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    RetryLater,
    StopTrading,
)
from exchange.rules import is_on_tick
from exchange.throttle import parse_remaining_req
from exchange.types import OrderRequest
from exchange.upbit import UpbitClient, make_token
from tests.waiting import wait_until

MARKET = "KRW-BTC"


def new_id() -> str:
    return f"test-{uuid.uuid4()}"


def client_for(sandbox, **options) -> UpbitClient:
    options.setdefault("backoff_base_sec", 0.05)
    return UpbitClient(sandbox.base_url, sandbox.access_key, sandbox.secret_key, **options)


def limit_buy(price: str = "90000000", volume: str = "0.001", identifier: str | None = None) -> OrderRequest:
    return OrderRequest(
        market=MARKET,
        side="buy",
        ord_type="limit",
        identifier=identifier or new_id(),
        price=Decimal(price),
        volume=Decimal(volume),
    )


def sandbox_orders(sandbox) -> list[dict]:
    return sandbox.state()["orders"]


@pytest.fixture
def client(sandbox):
    sandbox.set_price("100000000")
    client = client_for(sandbox)
    yield client
    client.close()


# --- signing --------------------------------------------------------------------------------------


def test_signed_calls_with_and_without_parameters_are_accepted(sandbox, client):
    balances = {balance.currency: balance for balance in client.get_accounts()}
    chance = client.get_order_chance(MARKET)
    open_orders = client.get_open_orders(MARKET)  # states[] array parameters in the signed query
    by_identifier = client.get_orders_by_identifiers(["never-used-1", "never-used-2"])

    assert balances["KRW"].balance == Decimal("1000000")
    assert isinstance(balances["KRW"].balance, Decimal)
    assert chance.bid_fee == Decimal("0.0005")
    assert chance.min_total == Decimal("5000")
    assert open_orders == []
    assert by_identifier == []


def test_wrong_secret_stops_trading_with_a_fix_to_apply(sandbox):
    client = UpbitClient(sandbox.base_url, sandbox.access_key, "not-the-right-secret-key-0123456789")

    with pytest.raises(StopTrading) as caught:
        client.get_accounts()

    assert caught.value.name == "jwt_verification"
    assert caught.value.status == 401
    assert "UPBIT_SECRET_KEY" in str(caught.value)
    assert sandbox.secret_key not in str(caught.value)


def test_unknown_access_key_stops_trading(sandbox):
    client = UpbitClient(sandbox.base_url, "unknown-access-key-000000000", sandbox.secret_key)

    with pytest.raises(StopTrading) as caught:
        client.get_accounts()

    assert caught.value.name == "invalid_access_key"
    assert "UPBIT_ACCESS_KEY" in str(caught.value)


def test_keys_rejected_by_the_exchange_stop_trading(sandbox, client):
    sandbox.reject_keys(True)

    with pytest.raises(StopTrading) as caught:
        client.get_accounts()

    assert caught.value.name == "invalid_access_key"


def test_reused_nonce_is_refused_and_reported_as_retry_later(sandbox):
    token = make_token(sandbox.access_key, sandbox.secret_key, nonce=str(uuid.uuid4()))
    headers = {"Authorization": f"Bearer {token}"}
    first = requests.get(f"{sandbox.base_url}/v1/accounts", headers=headers, timeout=5)
    replay = requests.get(f"{sandbox.base_url}/v1/accounts", headers=headers, timeout=5)

    assert first.status_code == 200
    assert replay.status_code == 401
    assert replay.json()["error"]["name"] == "nonce_used"

    fixed_nonce = str(uuid.uuid4())
    client = client_for(sandbox, nonce_factory=lambda: fixed_nonce)
    client.get_accounts()
    with pytest.raises(RetryLater) as caught:
        client.get_accounts()
    assert caught.value.name == "nonce_used"


# --- market data ----------------------------------------------------------------------------------


def test_quotation_calls_work_without_keys_and_return_exact_decimals(sandbox):
    sandbox.set_price("100000000")
    client = UpbitClient(sandbox.base_url)

    ticker = client.get_ticker(MARKET)
    book = client.get_orderbook(MARKET)

    assert ticker.market == MARKET
    assert ticker.trade_price == Decimal("100000000")
    assert isinstance(ticker.trade_price, Decimal)
    assert ticker.timestamp.tzinfo is not None
    assert book.levels
    assert book.best_ask > book.best_bid
    assert all(isinstance(level.ask_size, Decimal) for level in book.levels)


def test_candles_come_back_oldest_first_and_end_before_to(sandbox):
    client = UpbitClient(sandbox.base_url)
    to = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)

    minutes = client.get_minute_candles(MARKET, unit=5, count=12, to=to)
    days = client.get_day_candles(MARKET, count=3)

    assert 0 < len(minutes) <= 12
    starts = [candle.start for candle in minutes]
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)
    assert starts[-1] < to
    assert all(candle.unit == 5 and candle.low <= candle.open <= candle.high for candle in minutes)
    assert [candle.start for candle in days] == sorted(candle.start for candle in days)
    assert all(candle.unit == 1440 for candle in days)


def test_unknown_market_is_an_invalid_request(sandbox, client):
    with pytest.raises(InvalidRequest):
        client.get_ticker("KRW-NOPE")
    with pytest.raises(InvalidRequest) as caught:
        client.get_order_chance("KRW-NOPE")
    assert caught.value.name == "notfoundmarket"


def test_remaining_req_is_recorded_per_group(sandbox, client):
    client.get_ticker(MARKET)
    client.get_accounts()

    status = client.rate_limit_status()

    assert set(status) >= {"ticker", "default"}
    assert 0 <= status["ticker"]["sec"] < 10
    assert 0 <= status["default"]["sec"] < 30
    assert client.stats["calls"] == 2
    assert client.stats["errors"] == {}


# --- orders ---------------------------------------------------------------------------------------


def test_off_tick_limit_price_is_corrected_and_accepted(sandbox, client):
    order = client.place_order(limit_buy(price="90000450"))

    assert order.price == Decimal("90000000")
    assert is_on_tick(order.price)
    assert order.side == "buy"
    assert order.state == "wait"
    assert order.created_at.tzinfo is not None
    assert order.created_at.utcoffset() == timedelta(0)
    assert [o["uuid"] for o in sandbox_orders(sandbox)] == [order.uuid]


def test_order_lifecycle_open_list_lookup_and_cancel(sandbox, client):
    request = limit_buy()
    placed = client.place_order(request)

    open_orders = client.get_open_orders(MARKET)
    found = client.get_order(identifier=request.identifier)
    by_ids = client.get_orders_by_identifiers([request.identifier, "never-used"])
    cancelled = client.cancel_order(uuid=placed.uuid)

    assert [order.uuid for order in open_orders] == [placed.uuid]
    assert found.uuid == placed.uuid
    assert found.identifier == request.identifier
    assert [order.uuid for order in by_ids] == [placed.uuid]
    assert cancelled.uuid == placed.uuid
    assert sandbox.secret_key not in str(found.raw)
    assert sandbox.access_key not in str(found.raw)


def test_market_buy_fills_and_counts_as_filled(sandbox, client):
    order = client.place_order(
        OrderRequest(market=MARKET, side="buy", ord_type="price", identifier=new_id(), price=Decimal("10000"))
    )

    # the order's answer carries no trades; the lookup does
    final = wait_until(
        lambda: (looked_up := client.get_order(uuid=order.uuid)).is_final and looked_up,
        timeout=5,
        interval=0.05,
        message="the market buy never became final",
    )

    assert final.is_filled
    assert final.executed_volume > 0
    assert final.trades
    assert final.filled_funds <= Decimal("10000")


def test_natural_order_rejections_keep_upbit_names(sandbox, client):
    request = limit_buy()
    client.place_order(request)

    cases = {
        "duplicated_identifier": limit_buy(identifier=request.identifier),
        "insufficient_funds_bid": limit_buy(price="100000000", volume="1"),
        "under_min_total_bid": limit_buy(price="1000000", volume="0.001"),
    }
    for name, order in cases.items():
        with pytest.raises(OrderRejected) as caught:
            client.place_order(order)
        assert caught.value.name == name, name


def test_unknown_order_is_order_not_found(sandbox, client):
    with pytest.raises(OrderNotFound):
        client.get_order(uuid=str(uuid.uuid4()))
    with pytest.raises(OrderNotFound):
        client.cancel_order(identifier="never-placed")


# --- rate limits ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_burst_of_100_calls_from_four_threads_gets_no_429(sandbox):
    client = client_for(sandbox)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                client.get_ticker(MARKET)
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert client.stats["http_429"] == 0
    assert client.stats["calls"] == 100
    assert time.monotonic() - started >= 9  # 100 calls at no more than 10 per second


@pytest.mark.slow
def test_burst_of_100_signed_calls_gets_no_429(sandbox):
    client = client_for(sandbox)

    for _ in range(100):
        client.get_accounts()

    assert client.stats["http_429"] == 0
    assert client.stats["calls"] == 100


def test_429_backs_off_and_then_succeeds(sandbox, client):
    sandbox.fail_next("/v1/ticker", status=429, name="", body="Too many API requests.", count=2)

    ticker = client.get_ticker(MARKET)

    assert ticker.trade_price == Decimal("100000000")
    assert client.stats["http_429"] == 2
    assert client.stats["retries"] == 2
    assert client.stats["errors"] == {}


def test_429_that_persists_raises_rate_limited(sandbox):
    client = client_for(sandbox, max_retries=2)
    sandbox.fail_next("/v1/accounts", status=429, name="", body="Too many API requests.", count=5)

    with pytest.raises(RateLimited):
        client.get_accounts()

    assert client.stats["calls"] == 3
    assert client.stats["errors"] == {"RateLimited": 1}


def test_429_on_an_order_is_retried_and_places_exactly_one_order(sandbox, client):
    sandbox.fail_next("/v1/orders", method="POST", status=429, name="", body="Too many API requests.", count=1)

    order = client.place_order(limit_buy())

    assert [o["uuid"] for o in sandbox_orders(sandbox)] == [order.uuid]
    assert client.stats["http_429"] == 1


def test_429_retry_that_finds_the_identifier_taken_returns_the_order_already_placed(sandbox, client):
    # From the client's side this is "an earlier attempt did land": the retry answers duplicated_identifier.
    request = limit_buy()
    landed = client_for(sandbox).place_order(request)
    sandbox.fail_next("/v1/orders", method="POST", status=429, name="", body="Too many API requests.", count=1)

    order = client.place_order(request)

    assert order.uuid == landed.uuid
    assert order.identifier == request.identifier
    assert len(sandbox_orders(sandbox)) == 1
    assert client.stats["errors"] == {}


def test_server_saying_the_second_is_spent_pauses_the_group(sandbox, client):
    # Another program on this IP spends the quota; the client must wait instead of drawing a 429.
    other = requests.Session()
    url = f"{sandbox.base_url}/v1/ticker?markets={MARKET}"
    for _ in range(5):
        while parse_remaining_req(other.get(url, timeout=5).headers.get("Remaining-Req")).sec != 1:
            pass
        client.get_ticker(MARKET)
        if client.rate_limit_status()["ticker"]["sec"] == 0:
            break
    status = client.rate_limit_status()["ticker"]
    assert status["sec"] == 0
    assert status["paused_sec"] > 0.5

    started = time.monotonic()
    client.get_ticker(MARKET)

    assert time.monotonic() - started >= 0.5
    assert client.stats["http_429"] == 0


def test_a_real_ban_after_repeated_429s_is_ip_banned(sandbox_factory):
    sandbox = sandbox_factory(ban_after=3, ban_seconds=30)
    sandbox.hold_quota_clock()
    hammer = requests.Session()
    url = f"{sandbox.base_url}/v1/ticker?markets={MARKET}"
    statuses = [hammer.get(url, timeout=5).status_code for _ in range(20)]
    assert 418 in statuses
    client = client_for(sandbox)

    with pytest.raises(IpBanned) as caught:
        client.get_ticker(MARKET)

    assert 25 <= caught.value.ban_seconds <= 30
    assert "banned" in str(caught.value)
    assert f"{caught.value.ban_seconds} seconds" in str(caught.value)
    assert client.stats["calls"] == 1
    assert client.stats["http_418"] == 1
    assert client.rate_limit_status()["ticker"]["paused_sec"] > 20


def test_418_is_an_ip_ban_and_is_not_retried(sandbox, client):
    sandbox.fail_next("/v1/accounts", status=418, name="", body="Your IP is banned for 30 seconds.", count=1)

    with pytest.raises(IpBanned) as caught:
        client.get_accounts()

    assert isinstance(caught.value, StopTrading)
    assert caught.value.ban_seconds == 30
    assert "30 seconds" in str(caught.value)
    assert client.stats["calls"] == 1


# --- network failures and unknown outcomes --------------------------------------------------------


def test_a_stalled_read_times_out_as_retry_later(sandbox):
    client = client_for(sandbox, read_timeout=0.3)
    sandbox.stall("/v1/ticker", seconds=1.5)

    with pytest.raises(RetryLater) as caught:
        client.get_ticker(MARKET)

    assert not isinstance(caught.value, RateLimited)
    assert "ReadTimeout" in caught.value.name


def test_connection_refused_is_retry_later_even_for_orders(sandbox):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = UpbitClient(f"http://127.0.0.1:{port}", sandbox.access_key, sandbox.secret_key)

    with pytest.raises(RetryLater) as reading:
        client.get_accounts()
    with pytest.raises(RetryLater) as placing:
        client.place_order(limit_buy())

    assert "nothing was sent" in str(reading.value)
    assert not isinstance(placing.value, OutcomeUnknown)


def test_accepted_then_dropped_order_is_outcome_unknown_and_found_by_identifier(sandbox, client):
    request = limit_buy()
    sandbox.drop_after_accept("/v1/orders", method="POST")

    with pytest.raises(OutcomeUnknown) as caught:
        client.place_order(request)

    assert caught.value.identifier == request.identifier
    found = client.get_order(identifier=caught.value.identifier)
    assert found.identifier == request.identifier
    assert found.price == Decimal("90000000")
    assert len(sandbox_orders(sandbox)) == 1


def test_stalled_order_is_outcome_unknown_and_lands_later(sandbox):
    client = client_for(sandbox, read_timeout=0.3)
    sandbox.set_price("100000000")
    request = limit_buy()
    sandbox.stall("/v1/orders", method="POST", seconds=1.0)

    with pytest.raises(OutcomeUnknown) as caught:
        client.place_order(request)

    assert caught.value.identifier == request.identifier

    def lookup():
        try:
            return client.get_order(identifier=request.identifier)
        except OrderNotFound:
            return None

    found = wait_until(lookup, timeout=5, interval=0.05, message="the stalled order never appeared")
    assert found.identifier == request.identifier


def test_order_taken_but_answer_late_is_outcome_unknown_and_found_at_once(sandbox):
    client = client_for(sandbox, read_timeout=0.3)
    sandbox.set_price("100000000")
    request = limit_buy()
    # The sandbox places the order first and holds only the answer: a read timeout after the order landed.
    sandbox.control("POST", "stall", {"path": "/v1/orders", "method": "POST", "seconds": 1.0, "count": 1, "after": True})

    with pytest.raises(OutcomeUnknown) as caught:
        client.place_order(request)

    found = client.get_order(identifier=caught.value.identifier)
    assert found.identifier == request.identifier
    assert found.state == "wait"
    assert "ReadTimeout" in caught.value.name


def test_5xx_on_an_order_is_outcome_unknown(sandbox, client):
    request = limit_buy()
    sandbox.fail_next("/v1/orders", method="POST", status=500, name="server_error", count=1)

    with pytest.raises(OutcomeUnknown) as caught:
        client.place_order(request)

    assert caught.value.identifier == request.identifier
    assert caught.value.status == 500
    # The lookup the engine makes next settles it: this 500 came before the order was taken.
    with pytest.raises(OrderNotFound):
        client.get_order(identifier=request.identifier)


def test_5xx_on_a_read_is_retry_later(sandbox, client):
    sandbox.fail_next("/v1/accounts", status=503, name="", body="<html>maintenance</html>", count=1)

    with pytest.raises(RetryLater) as caught:
        client.get_accounts()

    assert caught.value.status == 503
    assert not isinstance(caught.value, OutcomeUnknown)
