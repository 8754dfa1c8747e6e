"""WebSocket clients we did not write, unchanged, against the sandbox's stream: pyupbit's
`WebSocketManager` (its hard-coded URL redirected, nothing else) and ccxt pro's `upbit` (its `ws`
address overridden): tickers, order books, trades, and the private orders and balance streams."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import types
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import pytest
import websockets

from tests.exchange.ws_helpers import BTC, ws_url
from tests.waiting import wait_until

ccxtpro = pytest.importorskip("ccxt.pro")
pyupbit_websocket = pytest.importorskip("pyupbit.websocket_api")

SYMBOL = "BTC/KRW"


@pytest.fixture
def pinned(sandbox: Any) -> Any:
    sandbox.set_price("100000000")
    return sandbox


def subscribed(sandbox: Any, kind: str) -> bool:
    return any(s["type"] == kind for c in sandbox.state()["websocket"]["open"] for s in c["subscriptions"])


# --- pyupbit ---------------------------------------------------------------------------------------------


@pytest.fixture
def pyupbit_to_sandbox(pinned: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """pyupbit dials wss://api.upbit.com/websocket/v1 through its module's `websockets`: only that address changes."""
    url = ws_url(pinned)
    redirected = types.SimpleNamespace(
        connect=lambda _uri, **options: websockets.connect(url, **options), ConnectionClosed=websockets.ConnectionClosed
    )
    monkeypatch.setattr(pyupbit_websocket, "websockets", redirected)
    return pinned


def pyupbit_get(manager: Any, timeout: float = 3) -> Any:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(manager.get).result(timeout=timeout)


@pytest.mark.parametrize("kind", ["ticker", "trade", "orderbook"])
def test_pyupbit_websocket_manager_streams_realtime_pushes(pyupbit_to_sandbox: Any, kind: str) -> None:
    manager = pyupbit_websocket.WebSocketManager(kind, [BTC])
    try:
        manager.alive = True
        manager.start()
        # pyupbit asks for realtime only (camelCase isOnlyRealtime): nothing comes until the price moves.
        wait_until(lambda: subscribed(pyupbit_to_sandbox, kind), timeout=3)
        pyupbit_to_sandbox.set_price("101000000")
        message = pyupbit_get(manager)
        assert (message["type"], message["code"], message["stream_type"]) == (kind, BTC, "REALTIME")
        if kind == "orderbook":
            assert message["orderbook_units"][0]["ask_price"] > 101000000.0
        else:
            assert message["trade_price"] == 101000000.0
    finally:
        manager.terminate()
        manager.join(timeout=2)


# --- ccxt pro ------------------------------------------------------------------------------------------


def ccxt_upbit(sandbox: Any) -> Any:
    exchange = ccxtpro.upbit({"apiKey": sandbox.access_key, "secret": sandbox.secret_key, "timeout": 5000})
    exchange.urls["api"]["public"] = sandbox.base_url
    exchange.urls["api"]["private"] = sandbox.base_url
    exchange.urls["api"]["ws"] = ws_url(sandbox)
    return exchange


def run_with(sandbox: Any, scenario: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        exchange = ccxt_upbit(sandbox)
        try:
            await asyncio.wait_for(scenario(exchange), timeout=5)
        finally:
            await exchange.close()

    # A loop of its own on a thread of its own: an earlier test in this worker (the browser's sync API) may
    # have left an event loop running on the main thread, where asyncio.run() refuses to start.
    failures: list[BaseException] = []

    def own_loop() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread below, re-raised there
            failures.append(error)

    runner = threading.Thread(target=own_loop, name="ccxt-scenario")
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "the ccxt scenario did not end"
    if failures:
        raise failures[0]


async def until(condition: Callable[[], bool]) -> None:
    """ccxt keeps what arrives in its caches (`tickers`, `orderbooks`) even while no watch is pending."""
    while not condition():
        await asyncio.sleep(0.01)


async def until_subscribed(sandbox: Any, kind: str) -> None:
    await asyncio.to_thread(wait_until, lambda: subscribed(sandbox, kind), timeout=3)


def test_ccxt_watch_ticker_snapshot_then_realtime(pinned: Any) -> None:
    async def scenario(upbit: Any) -> None:
        first = await upbit.watch_ticker(SYMBOL)
        assert Decimal(str(first["last"])) == Decimal("100000000")
        await asyncio.to_thread(pinned.set_price, "102000000")
        await until(lambda: upbit.tickers[SYMBOL]["last"] == 102000000)

    run_with(pinned, scenario)


def test_ccxt_watch_order_book_and_trades_on_one_connection(pinned: Any) -> None:
    async def scenario(upbit: Any) -> None:
        book = await upbit.watch_order_book(SYMBOL)
        assert book["bids"][0][0] <= 100000000 < book["asks"][0][0]
        trades = await upbit.watch_trades(SYMBOL)  # the resent list keeps the order book subscribed
        assert trades[-1]["price"] == 100000000
        await asyncio.to_thread(pinned.set_price, "99000000")
        await until(lambda: upbit.orderbooks[SYMBOL]["bids"][0][0] <= 99000000 < upbit.orderbooks[SYMBOL]["asks"][0][0])

    run_with(pinned, scenario)


def test_ccxt_watch_orders_sees_an_order_placed_over_rest(pinned: Any) -> None:
    async def scenario(upbit: Any) -> None:
        watching = asyncio.ensure_future(upbit.watch_orders(SYMBOL))
        await until_subscribed(pinned, "myOrder")
        body = {"market": BTC, "side": "bid", "volume": "0.001", "price": "99000000", "ord_type": "limit"}
        placed = (await asyncio.to_thread(pinned.call, "POST", "/v1/orders", body=body)).json()
        orders = await watching
        assert (orders[-1]["id"], orders[-1]["status"], orders[-1]["side"]) == (placed["uuid"], "open", "buy")
        await asyncio.to_thread(pinned.set_price, "98000000")
        await until(lambda: upbit.orders[-1]["status"] == "closed")
        assert upbit.orders[-1]["filled"] == 0.001

    run_with(pinned, scenario)


def test_ccxt_watch_balance_sees_a_balance_change(pinned: Any) -> None:
    async def scenario(upbit: Any) -> None:
        watching = asyncio.ensure_future(upbit.watch_balance())
        await until_subscribed(pinned, "myAsset")
        await asyncio.to_thread(pinned.set_balance, "KRW", "750000")
        balance = await watching
        assert (balance["KRW"]["free"], balance["KRW"]["used"]) == (750000.0, 0.0)

    run_with(pinned, scenario)
