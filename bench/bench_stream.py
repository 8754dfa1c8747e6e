"""The market stream under load: latency from the sandbox sending a price to the engine deciding on it, the stream
thread's CPU per 1,000 messages, and the cost of the dashboard's 1-second live-quote poll.

    .venv/bin/python bench/bench_stream.py [--rate 1000] [--seconds 5] [--requests 300]

1. Starts a `SandboxServer` in-process on 127.0.0.1 and the engine's `MarketFeed` (the real WebSocket client)
   on its stream, with a protective watch armed (never crossed), so every ticker goes through the check that
   decides whether to wake the trading thread. A driver thread moves the price so that the sandbox sends about
   `--rate` messages a second (each move is a trade, a ticker and an orderbook frame). For each ticker the
   latency is from just before the driver's move (the sandbox builds and sends the frames synchronously) to
   the end of the feed's decision; CPU is the stream thread's own (time.thread_time), so the sandbox's work,
   in the same process, is not counted.
2. The wake-up itself: `--crossings` times, a price under the stop level, timed to the wake callback; then
   200 prices through the sandbox's own push path (pin → trade, ticker, orderbook), as a test's set_price.
3. The live-quote partial (`/panels/live-quote`, through the whole Django stack, in-process) full and unchanged
   (204), p50/p95, on a migrated database of its own (`--db`, default sqlite:////tmp/autocoin-bench-stream.sqlite3).

Budgets: p99 latency ≤ 50 ms, live-quote p95 ≤ 25 ms (bench_web's). Exit status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed import setup_django  # noqa: E402

LATENCY_P99_BUDGET_MS = 50.0
LIVE_P95_BUDGET_MS = 25.0
FRAMES_PER_MOVE = 3  # trade, ticker, orderbook
BASE_PRICE = 100_000_000
SANDBOX_PATH_MOVES = 200


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def ticker_frame(price: Decimal, at_ms: int) -> dict[str, Any]:
    return {
        "type": "ticker",
        "code": "KRW-BTC",
        "opening_price": BASE_PRICE,
        "high_price": BASE_PRICE * 1.05,
        "low_price": BASE_PRICE * 0.95,
        "trade_price": price,
        "prev_closing_price": BASE_PRICE,
        "change": "RISE",
        "trade_volume": 0.001,
        "acc_trade_volume_24h": 1234.5,
        "trade_timestamp": at_ms,
        "timestamp": at_ms,
        "stream_type": "REALTIME",
    }


def trade_frame(price: Decimal, at_ms: int) -> dict[str, Any]:
    return {
        "type": "trade",
        "code": "KRW-BTC",
        "trade_price": price,
        "trade_volume": 0.001,
        "ask_bid": "BID",
        "sequential_id": at_ms,
        "trade_timestamp": at_ms,
        "timestamp": at_ms,
        "stream_type": "REALTIME",
    }


def book_frame(price: Decimal, at_ms: int) -> dict[str, Any]:
    units = [
        {"ask_price": price + 1000 * (i + 1), "bid_price": price - 1000 * i, "ask_size": 0.5, "bid_size": 0.7} for i in range(30)
    ]
    return {
        "type": "orderbook",
        "code": "KRW-BTC",
        "total_ask_size": 15,
        "total_bid_size": 21,
        "orderbook_units": units,
        "timestamp": at_ms,
        "level": 0,
        "stream_type": "REALTIME",
    }


def stream_load(rate: int, seconds: float, crossings: int) -> dict[str, Any]:
    from exchange.sandbox.feed import seconds_of
    from exchange.sandbox.server import SandboxServer
    from exchange.sandbox.ws_messages import encode
    from trading.engine.stream import MarketFeed, Watch
    from trading.strategies.protective import ProtectiveRules

    server = SandboxServer(host="127.0.0.1", port=0, rate_limit=False).start()
    sent: dict[Decimal, float] = {}
    latencies: list[float] = []
    cpu: list[float] = []
    timed_frames = latencies
    woke = threading.Event()
    try:
        feed = MarketFeed(market="KRW-BTC", url=server.ws_url, stale_sec=5.0, wake=woke.set)
        original = feed.on_public

        def timed(message: Any) -> None:
            original(message)
            at = sent.get(getattr(message, "trade_price", None))  # type: ignore[arg-type]
            if at is not None and type(message).__name__ == "TickerMessage":
                timed_frames.append((time.perf_counter() - at) * 1000)
                cpu.append(time.thread_time())

        feed.public.on_message = timed
        feed.watch(
            Watch(ProtectiveRules(stop_loss_factor=0.5), avg_buy_price=float(BASE_PRICE), peak=float(BASE_PRICE), atr=None)
        )
        feed.start()
        deadline = time.monotonic() + 10
        while not feed.healthy() and time.monotonic() < deadline:
            time.sleep(0.01)

        with server.lock:  # pinned: the sandbox's own walk pushes nothing while the driver sends
            server.feeds["KRW-BTC"].pin(seconds_of(server.now()), Decimal(BASE_PRICE))
        (connection,) = list(server.ws.connections.values())

        def move(price: Decimal) -> None:
            # The frames the sandbox pushes on a price change (trade, ticker, full book), built here: the sandbox's
            # own ticker carries 24-hour aggregates that take it tens of ms to compute, far below 1,000 frames/s.
            at_ms = int(time.time() * 1000)
            sent[price] = time.perf_counter()
            connection.send(encode([trade_frame(price, at_ms)], "trade", "DEFAULT"))
            connection.send(encode([ticker_frame(price, at_ms)], "ticker", "DEFAULT"))
            connection.send(encode([book_frame(price, at_ms)], "orderbook", "DEFAULT"))

        moves = int(rate / FRAMES_PER_MOVE * seconds)
        interval = FRAMES_PER_MOVE / rate
        frames_before = feed.public.status().messages
        started = time.perf_counter()
        for index in range(moves):
            target = started + index * interval
            pause = target - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            move(Decimal(BASE_PRICE + 1000 * (index % 5000 + 1)))
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 5
        while len(latencies) < moves and time.monotonic() < deadline:
            time.sleep(0.01)
        frames = feed.public.status().messages - frames_before
        latencies = latencies[:moves]  # the wake-ups below are timed on their own

        wakes: list[float] = []
        for index in range(crossings):
            woke.clear()
            feed.watch(None)
            move(Decimal(BASE_PRICE + 1000 * (index + 1)))
            time.sleep(0.05)
            feed.watch(
                Watch(ProtectiveRules(stop_loss_factor=0.97), avg_buy_price=float(BASE_PRICE), peak=float(BASE_PRICE), atr=None)
            )
            began = time.perf_counter()
            sent.clear()
            move(Decimal(BASE_PRICE * 96 // 100 - index))
            if woke.wait(2):
                wakes.append((time.perf_counter() - began) * 1000)

        # The sandbox's own path: a pinned price becomes trade, ticker and orderbook pushes (as a test's set_price).
        own: list[float] = []
        timed_frames = own
        feed.watch(
            Watch(ProtectiveRules(stop_loss_factor=0.5), avg_buy_price=float(BASE_PRICE), peak=float(BASE_PRICE), atr=None)
        )
        for index in range(SANDBOX_PATH_MOVES):
            price = Decimal(BASE_PRICE + 1000 * (index + 1))
            sent[price] = time.perf_counter()
            with server.lock:
                server.feeds["KRW-BTC"].pin(seconds_of(server.now()), price)
            server.ws.price_changed()
            time.sleep(0.005)
        deadline = time.monotonic() + 5
        while len(own) < SANDBOX_PATH_MOVES and time.monotonic() < deadline:
            time.sleep(0.01)
        feed.stop()
    finally:
        server.stop()
    cpu_ms = (cpu[-1] - cpu[0]) * 1000 if len(cpu) > 1 else 0.0
    return {
        "moves": moves,
        "frames": frames,
        "frames_per_sec": frames / elapsed if elapsed else 0.0,
        "tickers_timed": len(latencies),
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "max_ms": max(latencies) if latencies else float("nan"),
        "cpu_ms_per_1000": cpu_ms / frames * 1000 if frames else float("nan"),
        "wakes": len(wakes),
        "wake_p50_ms": statistics.median(wakes) if wakes else float("nan"),
        "wake_max_ms": max(wakes) if wakes else float("nan"),
        "sandbox_path": len(own),
        "sandbox_p50_ms": statistics.median(own) if own else float("nan"),
        "sandbox_p99_ms": percentile(own, 0.99) if own else float("nan"),
    }


def live_quote_cost(requests: int) -> dict[str, Any]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import reset_queries
    from django.test import Client
    from django.utils import timezone

    from trading.models import EngineState

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = get_user_model().objects.get_or_create(username="bench-stream", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="Operators"))
    stream = {
        "state": "connected",
        "source": "stream",
        "reconnects": 0,
        "messages": 1000,
        "messages_per_sec": 1000.0,
        "last_message_age_seconds": 0.01,
        "price": {"value": "100250000", "at": timezone.now().isoformat()},
        "book": {"ask_price": "100260000", "ask_size": "0.5", "bid_price": "100240000", "bid_size": "1.25", "spread": "20000"},
    }
    EngineState.load()
    EngineState.objects.filter(pk=1).update(owner="bench:1", heartbeat_at=timezone.now(), metrics={"stream": stream})
    client = Client()
    client.force_login(user)
    rows = {}
    for kind in ("full", "unchanged"):
        headers = {"HX-Request": "true"}
        EngineState.objects.filter(pk=1).update(heartbeat_at=timezone.now())  # the engine writes one every 0.5 s
        if kind == "unchanged":
            headers["If-None-Match"] = client.get("/panels/live-quote", headers=headers)["ETag"]
        for _ in range(5):
            client.get("/panels/live-quote", headers=headers)
        timings, size, status = [], 0, 0
        for _ in range(requests):
            reset_queries()
            began = time.perf_counter()
            response = client.get("/panels/live-quote", headers=headers)
            timings.append((time.perf_counter() - began) * 1000)
            size, status = len(response.content), response.status_code
        rows[kind] = {
            "status": status,
            "bytes": size,
            "p50_ms": statistics.median(timings),
            "p95_ms": percentile(timings, 0.95),
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="messages per second the sandbox sends")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--crossings", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--db", default="sqlite:////tmp/autocoin-bench-stream.sqlite3")
    options = parser.parse_args(argv)
    setup_django(options.db)

    load = stream_load(options.rate, options.seconds, options.crossings)
    print(
        f"stream: {load['frames']:,} frames at {load['frames_per_sec']:,.0f}/s ({load['moves']:,} price moves), "
        f"{load['tickers_timed']:,} tickers timed"
    )
    print(f"  send → decision: p50 {load['p50_ms']:.2f} ms, p99 {load['p99_ms']:.2f} ms, max {load['max_ms']:.2f} ms")
    print(f"  stream thread CPU: {load['cpu_ms_per_1000']:.1f} ms per 1,000 messages")
    print(
        f"  stop level crossed → wake: {load['wakes']} of {options.crossings}, "
        f"p50 {load['wake_p50_ms']:.2f} ms, max {load['wake_max_ms']:.2f} ms"
    )
    print(
        f"  through the sandbox's own push ({load['sandbox_path']} of {SANDBOX_PATH_MOVES} price pins): "
        f"p50 {load['sandbox_p50_ms']:.2f} ms, p99 {load['sandbox_p99_ms']:.2f} ms"
    )
    quote = live_quote_cost(options.requests)
    for kind, row in quote.items():
        print(
            f"live quote ({kind}): HTTP {row['status']}, {row['bytes']} bytes, "
            f"p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms"
        )
    failed = []
    if not load["p99_ms"] <= LATENCY_P99_BUDGET_MS:
        failed.append(f"stream p99 {load['p99_ms']:.1f} ms > {LATENCY_P99_BUDGET_MS} ms")
    failed += [
        f"live quote {kind} p95 > {LIVE_P95_BUDGET_MS} ms" for kind, row in quote.items() if row["p95_ms"] > LIVE_P95_BUDGET_MS
    ]
    if failed:
        print("over budget: " + "; ".join(failed))
        return 1
    print(f"within budget (stream p99 ≤ {LATENCY_P99_BUDGET_MS} ms, live quote p95 ≤ {LIVE_P95_BUDGET_MS} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
