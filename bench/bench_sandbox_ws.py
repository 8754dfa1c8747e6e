"""How fast the sandbox's WebSocket streams push on this machine (loopback only).

Starts a `SandboxServer` in-process with rate limiting off, opens `--clients` public connections
subscribed to ticker, trade and orderbook of KRW-BTC, then for `--seconds` moves the price through
the control endpoint as fast as it answers. Reports handshakes per second, price moves per second,
frames the server sent per second (its own count, `GET /_sandbox/state`) and the latency from a
price move to the ticker reaching the first client (median and 95th percentile).

    .venv/bin/python bench/bench_sandbox_ws.py [--clients 4] [--seconds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import requests
from websockets.sync.client import ClientConnection, connect


def drain(ws: ClientConnection, stop: threading.Event, arrivals: dict[float, float]) -> None:
    """Read every frame; note when each ticker price first arrived."""
    while not stop.is_set():
        try:
            frame = ws.recv(timeout=0.2)
        except TimeoutError:
            continue
        except Exception:  # noqa: BLE001 - the connection ended with the bench
            return
        message = json.loads(frame)
        if message.get("type") == "ticker":
            arrivals.setdefault(message["trade_price"], time.perf_counter())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    from exchange.sandbox.server import SandboxServer

    server = SandboxServer(port=0, rate_limit=False).start()
    control = requests.Session()
    control.trust_env = False
    control.post(server.base_url + "/_sandbox/price", json={"price": "100000000"}, timeout=10)
    request = json.dumps(
        [
            {"ticket": "bench"},
            *({"type": t, "codes": ["KRW-BTC"], "is_only_realtime": True} for t in ("ticker", "trade", "orderbook")),
        ]
    )
    started = time.perf_counter()
    opened = contextlib.ExitStack()
    connections = [opened.enter_context(connect(server.ws_url, open_timeout=10)) for _ in range(args.clients)]
    handshake_rate = args.clients / (time.perf_counter() - started)
    for ws in connections:
        ws.send(request)
        ws.send("PING")
        while json.loads(ws.recv(timeout=10)) != {"status": "UP"}:
            pass
    stop = threading.Event()
    arrivals: dict[float, float] = {}
    readers = [
        threading.Thread(target=drain, args=(ws, stop, arrivals if i == 0 else {}), daemon=True)
        for i, ws in enumerate(connections)
    ]
    for reader in readers:
        reader.start()
    sent_before = control.get(server.base_url + "/_sandbox/state", timeout=10).json()["websocket"]["messages_sent"]
    moves: dict[float, float] = {}
    price = 100_000_000
    begin = time.perf_counter()
    while time.perf_counter() - begin < args.seconds:
        price += 1000
        moves[float(price)] = time.perf_counter()
        control.post(server.base_url + "/_sandbox/price", json={"price": str(price)}, timeout=10)
    elapsed = time.perf_counter() - begin
    deadline = time.perf_counter() + 5
    while float(price) not in arrivals and time.perf_counter() < deadline:
        time.sleep(0.01)
    sent = control.get(server.base_url + "/_sandbox/state", timeout=10).json()["websocket"]["messages_sent"] - sent_before
    stop.set()
    opened.close()
    server.stop()
    latencies = sorted((arrivals[p] - t) * 1000 for p, t in moves.items() if p in arrivals)
    print(f"clients: {args.clients}, handshakes: {handshake_rate:.0f}/s")
    print(f"price moves: {len(moves) / elapsed:.0f}/s, frames sent: {sent / elapsed:.0f}/s ({sent} in {elapsed:.1f} s)")
    if latencies:
        p95 = latencies[int(len(latencies) * 0.95) - 1] if len(latencies) >= 20 else latencies[-1]
        median = statistics.median(latencies)
        print(f"move -> ticker latency: median {median:.2f} ms, p95 {p95:.2f} ms ({len(latencies)} moves seen)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
