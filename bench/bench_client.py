"""The live client's own cost per call, over the sandbox on 127.0.0.1.

For the ticker (quotation, no auth) and the accounts (signed) endpoints it times N calls through
`UpbitClient` and N calls made with bare `requests` on an equally configured session (for accounts,
bare requests still signs each call with a fresh JWT, since the sandbox refuses unsigned or replayed
tokens), and prints the difference per call: what the client adds for throttling bookkeeping,
signing, Remaining-Req handling, error checks and typed parsing. The throttle's quotas are lifted
for the measurement (its deliberate waits are a rate cap, not overhead) and the sandbox runs without
rate limiting, in its own process (`runsandbox`) so that it does not compete with the client for the
interpreter lock. Raw and client rounds alternate; the medians are compared.

    .venv/bin/python bench/bench_client.py [--calls 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import django
import jwt
import requests
from requests.adapters import HTTPAdapter


def per_call_ms(function: Callable[[], object], calls: int) -> tuple[float, float]:
    """(wall ms, this process's CPU ms) per call. CPU time is the steadier figure on a busy machine:
    the sandbox runs in another process, so it counts only what happens on the caller's side."""
    function()  # warm the connection pool
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        function()
    return (time.perf_counter() - wall) * 1000 / calls, (time.process_time() - cpu) * 1000 / calls


def bare_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.trust_env = False
    return session


ROOT = Path(__file__).resolve().parent.parent


def start_sandbox(access_key: str, secret_key: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, str(ROOT / "manage.py"), "runsandbox", "--port", "0", "--no-rate-limit"]
    command += ["--access-key", access_key, "--secret-key", secret_key]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"on (http://\S+?) ", line)
    if match is None:
        process.terminate()
        raise SystemExit(f"the sandbox did not start: {line!r}")
    return process, match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    django.setup()
    from exchange.throttle import UPBIT_LIMITS, Throttle
    from exchange.upbit import UpbitClient

    access_key, secret_key = f"bench-{secrets.token_hex(16)}", secrets.token_hex(32)
    process, base_url = start_sandbox(access_key, secret_key)
    try:
        unlimited = Throttle(limits=dict.fromkeys(UPBIT_LIMITS, 1_000_000))
        client = UpbitClient(base_url, access_key, secret_key, throttle=unlimited)
        raw = bare_session()
        ticker_url = f"{base_url}/v1/ticker?markets=KRW-BTC"
        accounts_url = f"{base_url}/v1/accounts"

        def raw_ticker() -> object:
            response = raw.get(ticker_url, timeout=(3, 10))
            response.raise_for_status()
            return response.json()

        def raw_accounts() -> object:
            claims = {"access_key": access_key, "nonce": str(uuid.uuid4())}
            token = jwt.encode(claims, secret_key, algorithm="HS512")
            response = raw.get(accounts_url, headers={"Authorization": f"Bearer {token}"}, timeout=(3, 10))
            response.raise_for_status()
            return response.json()

        cases = [
            ("ticker", raw_ticker, lambda: client.get_ticker("KRW-BTC")),
            ("accounts", raw_accounts, client.get_accounts),
        ]
        print(f"{options.calls} calls x {options.rounds} rounds per case, sandbox process at {base_url}")
        print(f"{'endpoint':<10} {'':<5} {'raw ms/call':>12} {'client ms/call':>15} {'overhead ms':>12} {'overhead %':>11}")
        for name, raw_call, client_call in cases:
            raw_times, client_times = [], []
            for _ in range(options.rounds):
                raw_times.append(per_call_ms(raw_call, options.calls))
                client_times.append(per_call_ms(client_call, options.calls))
            for index, label in ((0, "wall"), (1, "cpu")):
                raw_ms = statistics.median(times[index] for times in raw_times)
                client_ms = statistics.median(times[index] for times in client_times)
                overhead = client_ms - raw_ms
                share = overhead / raw_ms * 100
                print(f"{name:<10} {label:<5} {raw_ms:>12.3f} {client_ms:>15.3f} {overhead:>12.3f} {share:>10.1f}%")
        print(f"client stats: {client.stats}")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
