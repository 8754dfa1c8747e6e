"""The live client's own cost per call, over the sandbox on 127.0.0.1.

For the ticker (quotation, no auth) and the accounts (signed) endpoints it times N calls through
`UpbitClient` and N calls made with bare `requests` on an equally configured session (for accounts,
bare requests still signs each call with a fresh JWT, since the sandbox refuses unsigned or replayed
tokens), and prints the difference per call: what the client adds for throttling bookkeeping,
signing, Remaining-Req handling, error checks and typed parsing. The throttle's quotas are lifted
for the measurement (its deliberate waits are a rate cap, not overhead) and the sandbox runs without
rate limiting.

    .venv/bin/python bench/bench_client.py [--calls 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import django
import jwt
import requests
from requests.adapters import HTTPAdapter


def per_call_ms(function: Callable[[], object], calls: int) -> float:
    function()  # warm the connection pool
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) * 1000 / calls


def bare_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.trust_env = False
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    django.setup()
    from exchange.sandbox.server import SandboxServer

    from exchange.throttle import UPBIT_LIMITS, Throttle
    from exchange.upbit import UpbitClient

    server = SandboxServer(port=0, rate_limit=False)
    server.start()
    try:
        unlimited = Throttle(limits=dict.fromkeys(UPBIT_LIMITS, 1_000_000))
        client = UpbitClient(server.base_url, server.access_key, server.secret_key, throttle=unlimited)
        raw = bare_session()
        ticker_url = f"{server.base_url}/v1/ticker?markets=KRW-BTC"
        accounts_url = f"{server.base_url}/v1/accounts"

        def raw_ticker() -> object:
            response = raw.get(ticker_url, timeout=(3, 10))
            response.raise_for_status()
            return response.json()

        def raw_accounts() -> object:
            claims = {"access_key": server.access_key, "nonce": str(uuid.uuid4())}
            token = jwt.encode(claims, server.secret_key, algorithm="HS512")
            response = raw.get(accounts_url, headers={"Authorization": f"Bearer {token}"}, timeout=(3, 10))
            response.raise_for_status()
            return response.json()

        cases = [
            ("ticker", raw_ticker, lambda: client.get_ticker("KRW-BTC")),
            ("accounts", raw_accounts, client.get_accounts),
        ]
        print(f"{options.calls} calls x {options.rounds} rounds per case, sandbox at {server.base_url}")
        print(f"{'endpoint':<10} {'raw ms/call':>12} {'client ms/call':>15} {'overhead ms':>12} {'overhead %':>11}")
        for name, raw_call, client_call in cases:
            raw_times, client_times = [], []
            for _ in range(options.rounds):
                raw_times.append(per_call_ms(raw_call, options.calls))
                client_times.append(per_call_ms(client_call, options.calls))
            raw_ms = statistics.median(raw_times)
            client_ms = statistics.median(client_times)
            overhead = client_ms - raw_ms
            print(f"{name:<10} {raw_ms:>12.3f} {client_ms:>15.3f} {overhead:>12.3f} {overhead / raw_ms * 100:>10.1f}%")
        print(f"client stats: {client.stats}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
