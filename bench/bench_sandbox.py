"""Requests per second the sandbox exchange answers on this machine (loopback only).

Starts a `SandboxServer` in-process on 127.0.0.1 with rate limiting off, then for a bounded time
hammers it from a few client threads (one keep-alive session each): the quotation ticker (no auth)
and the signed accounts call (a fresh HS512 JWT per request, as Upbit requires). Clients and server
share the machine's cores, so the figure is a floor for what a single engine process would see.

    .venv/bin/python bench/bench_sandbox.py [--threads 4] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import jwt
import requests


def hammer(url: str, headers_for, seconds: float, threads: int, params: dict[str, str] | None) -> tuple[int, int, float]:
    """(ok answers, other answers, elapsed seconds) over `threads` clients for `seconds`."""
    counts = [[0, 0] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def worker(slot: int) -> None:
        session = requests.Session()
        session.trust_env = False
        session.get(url, params=params, headers=headers_for(), timeout=10)  # open the connection
        start.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            response = session.get(url, params=params, headers=headers_for(), timeout=10)
            counts[slot][0 if response.status_code == 200 else 1] += 1
        session.close()

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - began
    return sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    options = parser.parse_args()
    if not 1 <= options.threads <= 64 or not 0.5 <= options.seconds <= 120:
        parser.error("use 1-64 threads and 0.5-120 seconds")

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    import django

    django.setup()
    from exchange.sandbox.server import SandboxServer

    server = SandboxServer(host="127.0.0.1", port=0, rate_limit=False).start()
    try:

        def no_auth() -> dict[str, str]:
            return {}

        def signed() -> dict[str, str]:
            payload = {"access_key": server.access_key, "nonce": str(uuid.uuid4())}
            return {"Authorization": f"Bearer {jwt.encode(payload, server.secret_key, algorithm='HS512')}"}

        print(
            f"sandbox on {server.base_url}; {options.threads} client threads, {options.seconds:g} s each, {os.cpu_count()} CPUs"
        )
        for name, path, headers_for, params in (
            ("GET /v1/ticker (quotation)", "/v1/ticker", no_auth, {"markets": "KRW-BTC"}),
            ("GET /v1/accounts (signed JWT)", "/v1/accounts", signed, None),
        ):
            ok, other, elapsed = hammer(server.base_url + path, headers_for, options.seconds, options.threads, params)
            rate = ok / elapsed if elapsed else 0.0
            print(
                f"{name:32s} {rate:8.0f} req/s  ({ok} ok, {other} other, {elapsed:.1f} s, "
                f"{1000 / rate if rate else 0:.2f} ms/req)"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
