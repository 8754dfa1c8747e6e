"""The sandbox's WebSocket streams: connections, their subscriptions, and the pushes.

Every price change (the walk, a pinned price, a clock move) is pushed as ticker, trade and orderbook
to the connections subscribed to that market, and candles at most once a second; every order event
and balance change of the ledger is pushed as myOrder and myAsset to the private connections. A
background thread, running while connections are open, watches the walk, sends `{"status":"UP"}`
every 10 s to clients that sent PING, flushes candles and closes idle connections.

Limits as Upbit states them: 5 connects a second (per IP, per account on the private endpoint;
the rate limiter's `websocket` group: HTTP 429, and 418 once its `ban_after` is passed), 5 messages
a second and 100 a minute per connection (answered with a TOO_MANY_REQUESTS error frame, the message
ignored). Faults for drills: drop, stall, malformed frame, refused handshake."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from io import BufferedIOBase
from typing import Any

from exchange.sandbox.auth import AuthError, Verifier
from exchange.sandbox.feed import seconds_of
from exchange.sandbox.prices import DAY_MINUTES
from exchange.sandbox.ws import PRIVATE_PATH, PUBLIC_PATH, WsConnection, open_connection
from exchange.sandbox.ws_messages import (
    CANDLE_UNITS,
    ERROR_MESSAGES,
    STATUS_UP,
    Subscription,
    WsRequestError,
    encode,
    error_frame,
    parse_request,
)
from exchange.sandbox.ws_streams import Exchange, candle, my_asset, my_order, orderbook, tape_volume, ticker, trade

MESSAGES_PER_SECOND = 5
MESSAGES_PER_MINUTE = 100
UP_INTERVAL = 10.0
IDLE_TIMEOUT = 120.0
logger = logging.getLogger("exchange.sandbox")
MALFORMED_FRAME = b'{"type":"ticker","code":"KRW-'


class WsHub:
    """All WebSocket connections of one sandbox and what is pushed to them."""

    def __init__(self, exchange: Exchange) -> None:
        self.x = exchange
        self.lock = threading.RLock()  # held while a push is built and sent, so pushes keep their order
        self.connections: dict[int, WsConnection] = {}
        self.counts: Counter[str] = Counter()
        self.refusals: list[list[int]] = []  # [status, remaining]
        self.last_price: dict[str, Decimal] = {}
        self.last_trade: dict[str, dict[str, Any]] = {}
        self.sequence = 0
        self.prev_closes: dict[tuple[str, int, int], Decimal] = {}
        self.second_bars: dict[str, tuple[int, list[Decimal]]] = {}
        self.candle_sent: dict[tuple[str, str], float] = {}
        self.candle_due: set[tuple[str, str]] = set()
        self.ledger_seen: tuple[dict[str, tuple[str, int]], dict[str, tuple[Decimal, Decimal]]] | None = None
        self.poll_interval = 0.1
        self.up_interval = UP_INTERVAL
        self.idle_timeout = IDLE_TIMEOUT
        self._thread: threading.Thread | None = None

    # --- connections ---------------------------------------------------------------------------------------
    def _refusal(self, path: str, authorization: str | None, client: str) -> tuple[tuple[int, str] | None, int]:
        """(HTTP status and text the handshake is refused with, or None; connects left this second)."""
        if path not in (PUBLIC_PATH, PRIVATE_PATH):
            return (404, f"Not found: {path}"), 0
        with self.lock:
            for refusal in self.refusals:
                if refusal[1] > 0:
                    refusal[1] -= 1
                    self.refusals = [r for r in self.refusals if r[1] > 0]
                    return (refusal[0], "sandbox: injected handshake refusal"), 0
        principal = client
        if path == PRIVATE_PATH:
            principal = Verifier.claimed_access_key(authorization) or client
        verdict = self.x.limiter.check("websocket", principal)
        if verdict.banned_for:
            return (418, f"Too many API requests. Blocked for {math.ceil(verdict.banned_for)} seconds."), 0
        if not verdict.allowed:
            return (429, "Too Many Requests"), 0
        return None, verdict.remaining

    def serve(self, sock: Any, rfile: BufferedIOBase, path: str, headers: list[tuple[str, str]], client: str) -> None:
        """Serve one upgrade request on the calling thread until the connection ends."""
        authorization = next((v for k, v in headers if k.lower() == "authorization"), None)
        refusal, remaining = self._refusal(path, authorization, client)
        connection = open_connection(sock, rfile, path, headers, client, refusal, remaining)
        if connection is None:
            with self.lock:
                self.counts["refused"] += 1
            return
        with self.lock:
            self.counts["connects"] += 1
        if connection.private:
            try:
                # Upbit's clients reuse one token on reconnects, so a repeated nonce is accepted here.
                self.x.verifier.verify(authorization, hash_strings=None, single_use_nonce=False)
            except AuthError:
                self._fail(connection, "INVALID_AUTH", ERROR_MESSAGES["INVALID_AUTH"])
                return
        with self.x.lock, self.lock:  # the ledger's lock first, as in ledger_changed
            self.connections[connection.id] = connection
            if connection.private and self.ledger_seen is None:
                self.ledger_seen = self._ledger_view()  # events from here on are pushed
            self._ensure_thread()
        try:
            connection.run(self.on_message)
        finally:
            with self.lock:
                self.connections.pop(connection.id, None)

    def _fail(self, connection: WsConnection, name: str, message: str) -> None:
        """Upbit's error frame, then a normal close."""
        self._count(connection.send([error_frame(name, message)], urgent=True))
        connection.close(1000)

    def _count(self, sent: int) -> None:
        with self.lock:
            self.counts["messages_sent"] += sent

    # --- requests ----------------------------------------------------------------------------------------
    def _over_limit(self, connection: WsConnection) -> bool:
        if not self.x.limiter.enabled:
            return False
        now = time.monotonic()
        times = connection.message_times
        while times and times[0] <= now - 60.0:
            times.popleft()
        last_second = sum(1 for t in times if t > now - 1.0)
        if last_second >= MESSAGES_PER_SECOND or len(times) >= MESSAGES_PER_MINUTE:
            return True
        times.append(now)
        return False

    def on_message(self, connection: WsConnection, payload: bytes) -> None:
        with self.lock:
            self.counts["messages_received"] += 1
        if self._over_limit(connection):
            self._count(connection.send([error_frame("TOO_MANY_REQUESTS", ERROR_MESSAGES["TOO_MANY_REQUESTS"])], urgent=True))
            return
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            self._fail(connection, "WRONG_FORMAT", ERROR_MESSAGES["WRONG_FORMAT"])
            return
        if text.strip() == "PING":
            connection.up_at = time.monotonic()
            self._count(connection.send([STATUS_UP], urgent=True))
            return
        try:
            request = parse_request(text, private=connection.private)
        except WsRequestError as error:
            self._fail(connection, error.name, error.message)
            return
        with self.lock:
            connection.format = request.format
            if request.method == "LIST_SUBSCRIPTIONS":
                reply = {
                    "method": "LIST_SUBSCRIPTIONS",
                    "result": [s.listing() for s in connection.subscriptions],
                    "ticket": request.ticket,
                }
                self._count(connection.send(encode([reply], "LIST_SUBSCRIPTIONS", connection.format), urgent=True))
                return
            connection.subscriptions = request.subscriptions
            seconds = seconds_of(self.x.now())
            for subscription in request.subscriptions:
                for market in subscription.codes:
                    if market in self.x.feeds and market not in self.last_price:
                        # The price a realtime push is measured from.
                        self.last_price[market] = self.x.current_price(market, seconds)
                if subscription.snapshot:
                    self._snapshot(connection, subscription)

    def _snapshot(self, connection: WsConnection, subscription: Subscription) -> None:
        now = self.x.now()
        messages: list[dict[str, Any]] = []
        for market in subscription.codes:
            if market not in self.x.feeds:
                continue  # unknown or lower-case codes get nothing, as on Upbit
            message = self._market_message(subscription, market, now, "SNAPSHOT", "BID")
            if message is not None:
                messages.append(message)
        self._count(connection.send(encode(messages, subscription.family, connection.format)))

    def _market_message(
        self, subscription: Subscription, market: str, now: datetime, stream_type: str, ask_bid: str
    ) -> dict[str, Any] | None:
        seconds = seconds_of(now)
        if subscription.type == "ticker":
            return ticker(self.x.ticker_row(market, now), market, ask_bid, stream_type)
        if subscription.type == "orderbook":
            if subscription.level != 0:
                return None  # the sandbox's book has no price grouping; Upbit sends nothing for an unsupported level
            return orderbook(market, self.x.book(market, seconds), subscription.depth.get(market, 30), now, stream_type)
        if subscription.type == "trade":
            last = self.last_trade.get(market)
            if stream_type == "SNAPSHOT" and last is not None:
                return {**last, "stream_type": "SNAPSHOT"}
            price = self.x.current_price(market, seconds)
            return self._trade(market, price, None, ask_bid, now, stream_type)
        if subscription.type in CANDLE_UNITS:
            return self._candle(subscription.type, market, now, stream_type)
        return None

    def _trade(
        self, market: str, price: Decimal, volume: Decimal | None, ask_bid: str, now: datetime, stream_type: str
    ) -> dict[str, Any]:
        self.sequence += 1
        seconds = seconds_of(now)
        sequential_id = int(seconds * 1000) * 1000 + self.sequence % 1000
        levels = self.x.book(market, seconds)
        return trade(
            market,
            price=price,
            volume=volume if volume is not None else tape_volume(self.x.seed, market, sequential_id),
            ask_bid=ask_bid,
            prev_close=self._prev_close(market, seconds, price),
            moment=now,
            sequential_id=sequential_id,
            top=levels[0] if levels else None,
            stream_type=stream_type,
        )

    def _prev_close(self, market: str, seconds: float, price: Decimal) -> Decimal:
        """Yesterday's close (UTC days, like the ticker's), remembered per day and price overrides."""
        feed = self.x.feeds[market]
        day = int(seconds // 60) // DAY_MINUTES
        key = (market, day, feed.version)
        if key not in self.prev_closes:
            yesterday = feed.bucket(DAY_MINUTES, day - 1, seconds)
            if len(self.prev_closes) > 64:
                self.prev_closes.clear()
            self.prev_closes[key] = yesterday.close if yesterday else price
        return self.prev_closes[key]

    def _candle(self, kind: str, market: str, now: datetime, stream_type: str) -> dict[str, Any] | None:
        seconds = seconds_of(now)
        unit = CANDLE_UNITS[kind]
        if unit == 0:
            held = self.second_bars.get(market)
            if held is None:  # no trade seen yet: the second now, at the current price
                price = self.x.current_price(market, seconds)
                zero = Decimal(0)
                return candle(kind, market, float(int(seconds)), (price, price, price, price), zero, zero, now, stream_type)
            o, h, low, c, volume, value = held[1]  # the latest second that had a trade
            return candle(kind, market, float(held[0]), (o, h, low, c), volume, value, now, stream_type)
        candles = self.x.feeds[market].candles(unit, count=1, to=None, now=seconds)
        if not candles:
            return None
        start, bar = candles[0]
        prices = (bar.open, bar.high, bar.low, bar.close)
        return candle(kind, market, start * 60.0, prices, bar.volume, bar.value, now, stream_type)

    # --- pushes ------------------------------------------------------------------------------------------
    def _subscribers(self, market: str) -> Iterable[tuple[WsConnection, Subscription]]:
        for connection in list(self.connections.values()):
            for subscription in connection.subscriptions:
                if subscription.realtime and market in subscription.codes:
                    yield connection, subscription

    def watched_markets(self) -> set[str]:
        with self.lock:
            return {
                code
                for c in self.connections.values()
                for s in c.subscriptions
                if not s.type.startswith("my")
                for code in s.codes
                if code in self.x.feeds
            }

    def price_changed(self, markets: Iterable[str] | None = None) -> None:
        """Push ticker, trade, orderbook and candles for each market whose price moved since the last push."""
        with self.lock:
            if not self.connections:
                return
            watched = self.watched_markets()
            for market in set(self.last_price) - watched:
                del self.last_price[market]  # a later subscriber starts from the price it subscribed at
            for market in markets if markets is not None else self.x.markets:
                if market not in watched:
                    continue
                now = self.x.now()
                price = self.x.current_price(market, seconds_of(now))
                last = self.last_price.get(market)
                self.last_price[market] = price
                if last is None or price == last:
                    continue
                self._push_trade(market, price, None, "BID" if price > last else "ASK", now)

    def _push_trade(self, market: str, price: Decimal, volume: Decimal | None, ask_bid: str, now: datetime) -> None:
        tape = self._trade(market, price, volume, ask_bid, now, "REALTIME")
        self.last_trade[market] = tape
        second = int(seconds_of(now))
        held = self.second_bars.get(market)
        if held is None or held[0] != second:
            self.second_bars[market] = (second, [price, price, price, price, tape["trade_volume"], price * tape["trade_volume"]])
        else:
            bar = held[1]
            bar[1], bar[2], bar[3] = max(bar[1], price), min(bar[2], price), price
            bar[4] += tape["trade_volume"]
            bar[5] += price * tape["trade_volume"]
        built: dict[tuple[str, int], dict[str, Any]] = {}
        for connection, subscription in list(self._subscribers(market)):
            if subscription.family == "candle":
                self.candle_due.add((subscription.type, market))
                continue
            key = (subscription.type, subscription.depth.get(market, 30))
            if key not in built:
                message = (
                    tape if subscription.type == "trade" else self._market_message(subscription, market, now, "REALTIME", ask_bid)
                )
                if message is None:
                    continue
                built[key] = message
            self._count(connection.send(encode([built[key]], subscription.family, connection.format)))
        self._flush_candles()

    def _flush_candles(self) -> None:
        """Candles go out at most once a second per type and market, the latest state when they do."""
        now_mono = time.monotonic()
        for kind, market in list(self.candle_due):
            if now_mono - self.candle_sent.get((kind, market), 0.0) < 1.0:
                continue
            self.candle_due.discard((kind, market))
            self.candle_sent[(kind, market)] = now_mono
            message = self._candle(kind, market, self.x.now(), "REALTIME")
            if message is None:
                continue
            for connection, subscription in list(self._subscribers(market)):
                if subscription.type == kind:
                    self._count(connection.send(encode([message], "candle", connection.format)))

    # --- the ledger --------------------------------------------------------------------------------------
    def _ledger_view(self) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[Decimal, Decimal]]]:
        ledger = self.x.ledger
        orders = {o.uuid: (o.state, len(o.fills)) for o in ledger.orders.values()}
        accounts = {c: (a.balance, a.locked) for c, a in ledger.accounts.items()}
        return orders, accounts

    def ledger_changed(self) -> None:
        """Push myOrder for every order placed, filled or ended and myAsset for every balance that changed
        since the last look (and a public trade for each fill)."""
        with self.x.lock, self.lock:
            if self.ledger_seen is None or not any(c.private for c in self.connections.values()):
                self.ledger_seen = None
                return
            seen_orders, seen_accounts = self.ledger_seen
            orders, accounts = self._ledger_view()
            self.ledger_seen = (orders, accounts)
            now = self.x.now()
            events: list[dict[str, Any]] = []
            for uid, (state, fills) in orders.items():
                before = seen_orders.get(uid)
                if before == (state, fills):
                    continue
                order = self.x.ledger.orders[uid]
                if before is None:
                    events.append(my_order(order, now, state="wait"))
                for fill in order.fills[before[1] if before else 0 :]:
                    events.append(my_order(order, now, fill=fill, state="trade"))
                    if order.market in self.x.feeds:
                        self._push_trade(order.market, fill.price, fill.volume, "BID" if order.side == "bid" else "ASK", now)
                if state != "wait" or (before is not None and before[0] != state):
                    events.append(my_order(order, now))
            changed = [(c, b, lk) for c, (b, lk) in sorted(accounts.items()) if seen_accounts.get(c) != (b, lk)]
            for connection in list(self.connections.values()):
                if not connection.private:
                    continue
                for subscription in connection.subscriptions:
                    if not subscription.realtime:
                        continue
                    if subscription.type == "myOrder":
                        mine = [e for e in events if not subscription.codes or e["code"] in subscription.codes]
                        self._count(connection.send(encode(mine, "myOrder", connection.format)))
                    elif subscription.type == "myAsset" and changed:
                        self._count(connection.send(encode([my_asset(changed, now)], "myAsset", connection.format)))

    # --- background: the walk, keep-alive, idle connections -------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sandbox-websocket", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.connections:
                    self._thread = None
                    return
                private = any(c.private for c in self.connections.values())
            try:
                self.price_changed()
                if private:
                    self.x.sweep()
                    self.ledger_changed()
                with self.lock:
                    self._flush_candles()
                self._keepalive()
            except Exception:  # a failed push must not end the streams
                logger.exception("sandbox: websocket push failed")
            time.sleep(self.poll_interval)

    def _keepalive(self) -> None:
        now = time.monotonic()
        for connection in self._targets(None):
            if connection.up_at is not None and now - connection.up_at >= self.up_interval:
                connection.up_at = now
                self._count(connection.send([STATUS_UP], urgent=True))
            if now - connection.last_activity >= self.idle_timeout:
                connection.abort()

    # --- faults and state ----------------------------------------------------------------------------------
    def _targets(self, connection_id: int | None) -> list[WsConnection]:
        with self.lock:
            if connection_id is None:
                return list(self.connections.values())
            found = self.connections.get(connection_id)
            return [found] if found else []

    def drop(self, connection_id: int | None = None) -> int:
        targets = self._targets(connection_id)
        for connection in targets:
            connection.abort()
        return len(targets)

    def stall(self, seconds: float, connection_id: int | None = None) -> int:
        targets = self._targets(connection_id)
        until = time.monotonic() + seconds
        for connection in targets:
            connection.stalled_until = until
        return len(targets)

    def malformed(self, connection_id: int | None = None) -> int:
        targets = self._targets(connection_id)
        for connection in targets:
            # A binary frame (FIN, opcode 2, unmasked) whose JSON is cut off mid-way.
            connection.send_raw(bytes([0x82, len(MALFORMED_FRAME)]) + MALFORMED_FRAME)
        return len(targets)

    def refuse(self, status: int, count: int) -> None:
        with self.lock:
            self.refusals.append([status, count])

    def reset(self) -> None:
        with self.lock:
            self.refusals.clear()
        for connection in self._targets(None):
            connection.stalled_until = 0.0

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return {
                "connections": len(self.connections),
                "connects": self.counts["connects"],
                "refused": self.counts["refused"],
                "messages_sent": self.counts["messages_sent"],
                "messages_received": self.counts["messages_received"],
                "open": [
                    {
                        "id": c.id,
                        "path": c.path,
                        "private": c.private,
                        "format": c.format,
                        "sent": c.sent,
                        "subscriptions": [s.listing() for s in c.subscriptions],
                    }
                    for c in self.connections.values()
                ],
                "refusals": [{"status": s, "remaining": n} for s, n in self.refusals],
            }

    def stop(self) -> None:
        for connection in self._targets(None):
            with contextlib.suppress(OSError):
                connection.abort()
