"""Fixtures that start the Upbit-compatible sandbox exchange on 127.0.0.1 (a pytest plugin).

Use them wherever a test needs "Upbit": the live client, the engine and the paper parity tests all
talk to a real HTTP server this way, never to mocked `requests`.

    def test_buy(sandbox):
        client = UpbitClient(base_url=sandbox.base_url, access_key=sandbox.access_key, secret_key=sandbox.secret_key)
        sandbox.set_price("100000000")                     # pin KRW-BTC at 100,000,000
        sandbox.fail_next("/v1/orders", method="POST", status=500, name="server_error", count=1)
        ...
        assert sandbox.state()["balances"]["KRW"]["balance"] == "..."

Fixtures
- ``sandbox``: a fresh server per test (port 0, KRW-BTC, 1,000,000 KRW, seed 1, real-time clock,
  rate limits on), stopped after the test.
- ``sandbox_factory``: call it with any ``SandboxServer`` keyword arguments to start a differently
  configured server (``markets=``, ``krw=``, ``seed=``, ``prices=``, ``clock=``, ``rate_limit=``,
  ``ban_after=``...); every server it started is stopped after the test.
- ``live_sandbox``: ``sandbox`` configured as a live installation's Upbit (settings: its address and keys,
  ``PAPER_MODE`` off, ``TRADING_MARKET`` KRW-BTC, pinned at 100,000,000).
- ``sandbox_session``: one server shared by a whole test session, for read-only quotation tests.
  Do not place orders or set faults on it (other tests would see them); its rate limiting is off.

Each handle (``SandboxHandle``) exposes ``base_url`` (``http://127.0.0.1:<port>``, without ``/v1``),
``access_key``, ``secret_key``, ``server`` (the in-process ``SandboxServer``) and helpers that drive
the control endpoint over HTTP as JSON, with the server's control token when it has one (documented
in docs/SANDBOX.md):

- ``fail_next(path, *, method=None, status=500, name="server_error", message=..., count=1, body=None)``
- ``stall(path, *, seconds, method=None, count=1)``: hold the request, then answer normally.
- ``drop_after_accept(path="/v1/orders", *, method="POST", count=1)``: process the request (an order
  IS placed), then close the connection without answering.
- ``reject_keys(on=True, *, name="invalid_access_key")``: every authenticated call answers 401 with that
  error name (``jwt_verification``, ``expired_access_key``, ``no_authorization_ip``, ``out_of_scope``) until cleared.
- ``set_tick_size(tick_size, *, market=None)``: the pair's tick as ``/v1/orderbook/instruments`` states it and
  orders are checked against (None: the KRW table's again); ``set_key_expiry(iso)``: the key's ``expire_at``.
- ``reset_faults()``
- ``set_price(price, *, market=None)`` pins the price (the walk pauses); ``resume_price(market=None)``
  lets it walk again from where it was pinned; ``price(market=None)`` reads it as a Decimal.
- ``advance(seconds)``: move the sandbox clock forward (candles and resting orders follow).
- ``set_balance(currency, balance, *, avg_buy_price=None)``.
- ``state()``: balances (decimal strings), orders, faults, clock, for assertions.
- ``received(method, path)``: how many such calls reached the sandbox (429s and faulted ones included).
- ``hold_quota_clock()``: stop the rate limiter's clock (every call then lands in one one-second window).
- ``ws_url`` (``ws://127.0.0.1:<port>/websocket/v1``), ``ws_state()``, and the WebSocket faults
  ``ws_drop(connection=None)``, ``ws_stall(seconds, connection=None)``, ``ws_malformed(connection=None)``,
  ``ws_refuse(status=503, count=1)``.

``call(method, path, *, params=None, body=None, ...)`` sends a request signed the way Upbit's docs
sign it (HS512, query_hash over the unquoted query string or the JSON body in order), for tests that
speak HTTP directly; ``token(...)`` builds just the Authorization header.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import jwt
import pytest
import requests

from tests.waiting import ManualClock


class SandboxHandle:
    """A running sandbox plus helpers that call its control endpoint (`/_sandbox/...`) over HTTP."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.base_url: str = server.base_url
        self.access_key: str = server.access_key
        self.secret_key: str = server.secret_key
        self._http = requests.Session()
        if server.control_token:
            self._http.headers["X-Sandbox-Token"] = server.control_token

    # --- plumbing -----------------------------------------------------------------------------------
    def control(self, method: str, action: str, payload: dict[str, Any] | None = None) -> Any:
        # A POST always goes as JSON (an empty object when there is nothing to say): the endpoint refuses anything else.
        body = payload if payload is not None or method == "GET" else {}
        response = self._http.request(method, f"{self.base_url}/_sandbox/{action}", json=body, timeout=10)
        if response.status_code >= 400:
            raise AssertionError(f"sandbox control {method} {action} failed: {response.status_code} {response.text}")
        return response.json()

    def close(self) -> None:
        self._http.close()

    # --- signed Upbit calls -----------------------------------------------------------------------------
    def token(
        self,
        hashed: str | None = None,
        *,
        algorithm: str = "HS512",
        access_key: str | None = None,
        secret_key: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        """The Authorization header for a request whose hashed parameter string is `hashed`."""
        payload: dict[str, Any] = {"access_key": access_key or self.access_key, "nonce": nonce or str(uuid.uuid4())}
        if hashed:
            payload["query_hash"] = hashlib.sha512(hashed.encode("utf-8")).hexdigest()
            payload["query_hash_alg"] = "SHA512"
        return {"Authorization": f"Bearer {jwt.encode(payload, secret_key or self.secret_key, algorithm=algorithm)}"}

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
        algorithm: str = "HS512",
        timeout: float = 10,
        **token_options: Any,
    ) -> requests.Response:
        """A signed request to `path` (e.g. "/v1/accounts"); GET/DELETE send `params` in the query string."""
        if body is not None:
            hashed = "&".join(f"{k}={v}" for k, v in body.items())
            headers = self.token(hashed, algorithm=algorithm, **token_options)
            return self._http.request(method, f"{self.base_url}{path}", json=body, headers=headers, timeout=timeout)
        hashed = unquote(urlencode(params, doseq=True)) if params else None
        headers = self.token(hashed, algorithm=algorithm, **token_options)
        return self._http.request(method, f"{self.base_url}{path}", params=params, headers=headers, timeout=timeout)

    def public(self, path: str, **params: Any) -> requests.Response:
        return self._http.get(f"{self.base_url}{path}", params=params, timeout=10)

    # --- faults -------------------------------------------------------------------------------------
    def fail_next(
        self,
        path: str,
        *,
        method: str | None = None,
        status: int = 500,
        name: str = "server_error",
        message: str = "sandbox: injected failure",
        count: int = 1,
        body: str | None = None,
    ) -> Any:
        return self.control(
            "POST",
            "fail",
            {"path": path, "method": method, "status": status, "name": name, "message": message, "count": count, "body": body},
        )

    def stall(self, path: str, *, seconds: float, method: str | None = None, count: int = 1) -> Any:
        return self.control("POST", "stall", {"path": path, "method": method, "seconds": seconds, "count": count})

    def drop_after_accept(self, path: str = "/v1/orders", *, method: str | None = "POST", count: int = 1) -> Any:
        return self.control("POST", "drop", {"path": path, "method": method, "count": count})

    def reject_keys(self, on: bool = True, *, name: str = "invalid_access_key") -> Any:
        return self.control("POST", "reject_keys", {"on": on, "name": name})

    def set_tick_size(self, tick_size: Decimal | str | None, *, market: str | None = None) -> Any:
        return self.control("POST", "instrument", {"market": market, "tick_size": None if tick_size is None else str(tick_size)})

    def set_key_expiry(self, expire_at: str) -> Any:
        return self.control("POST", "api_key", {"expire_at": expire_at})

    def reset_faults(self) -> Any:
        return self.control("POST", "reset_faults", {})

    # --- market -------------------------------------------------------------------------------------
    def set_price(self, price: Decimal | str | int, *, market: str | None = None) -> Any:
        return self.control("POST", "price", {"market": market, "price": str(price)})

    def resume_price(self, *, market: str | None = None) -> Any:
        return self.control("POST", "price", {"market": market, "price": None})

    def price(self, market: str | None = None) -> Decimal:
        query = f"?market={market}" if market else ""
        return Decimal(self.control("GET", f"price{query}")["price"])

    def advance(self, seconds: float) -> Any:
        return self.control("POST", "clock", {"advance_seconds": seconds})

    # --- account ------------------------------------------------------------------------------------
    def set_balance(self, currency: str, balance: Decimal | str | int, *, avg_buy_price: Decimal | str | None = None) -> Any:
        payload: dict[str, Any] = {"currency": currency, "balance": str(balance)}
        if avg_buy_price is not None:
            payload["avg_buy_price"] = str(avg_buy_price)
        return self.control("POST", "balance", payload)

    def state(self) -> dict[str, Any]:
        return self.control("GET", "state")

    def received(self, method: str, path: str) -> int:
        """How many `method path` calls reached the sandbox, however they were answered (429s and faults too)."""
        return int(self.state()["received"].get(f"{method} {path}", 0))

    # --- WebSocket ----------------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        """`ws://127.0.0.1:<port>/websocket/v1`; add `/private` for myOrder and myAsset."""
        return str(self.server.ws_url)

    def ws_state(self) -> dict[str, Any]:
        """Open connections (ids, subscriptions) and the counts of connects, refusals and messages."""
        return dict(self.state()["websocket"])

    def ws_drop(self, connection: int | None = None) -> Any:
        """Cut one connection (or all) without a close frame."""
        return self.control("POST", "ws_drop", {"connection": connection})

    def ws_stall(self, seconds: float, connection: int | None = None) -> Any:
        """No data pushes for `seconds` while the connection stays up (0 ends a stall)."""
        return self.control("POST", "ws_stall", {"seconds": seconds, "connection": connection})

    def ws_malformed(self, connection: int | None = None) -> Any:
        return self.control("POST", "ws_malformed", {"connection": connection})

    def ws_refuse(self, status: int = 503, count: int = 1) -> Any:
        """The next `count` WebSocket handshakes are answered with HTTP `status`."""
        return self.control("POST", "ws_refuse", {"status": status, "count": count})

    # --- quotas -------------------------------------------------------------------------------------
    def hold_quota_clock(self) -> ManualClock:
        """Stop the clock the rate limiter counts its one-second windows by, so every call the test makes lands in
        one window however slow the machine is (a real clock lets a burst straddle two windows and pass).
        `advance(seconds)` on the returned clock moves it."""
        from exchange.sandbox.ratelimit import RateLimiter

        clock = ManualClock()
        held = self.server.limiter
        self.server.limiter = RateLimiter(
            enabled=held.enabled, ban_after=held.ban_after, ban_seconds=held.ban_seconds, monotonic=clock
        )
        return clock


@contextlib.contextmanager
def runsandbox_process(*flags: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`manage.py runsandbox --port 0 FLAGS` in a child process: yields (base URL, process), then stops it
    with SIGTERM; the process's output is left in `process.stdout_text` for assertions."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runsandbox", "--port", "0", *flags],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        yield match.group(1), process
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
        process.stdout_text = line + out  # type: ignore[attr-defined]


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxHandle]]:
    from exchange.sandbox.server import SandboxServer

    handles: list[SandboxHandle] = []

    def start(**options: Any) -> SandboxHandle:
        options.setdefault("port", 0)
        server = SandboxServer(**options)
        server.start()
        handle = SandboxHandle(server)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.close()
        handle.server.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., SandboxHandle]) -> SandboxHandle:
    return sandbox_factory()


@pytest.fixture
def live_sandbox(sandbox: SandboxHandle, settings: Any) -> SandboxHandle:
    """The sandbox as the configured Upbit of a live installation (its address and keys in settings, PAPER_MODE off,
    TRADING_MARKET KRW-BTC pinned at 100,000,000): what `checklive` and the dashboard's pre-flight talk to."""
    settings.PAPER_MODE = False
    settings.TRADING_MARKET = "KRW-BTC"
    settings.UPBIT_API_BASE = sandbox.base_url
    settings.UPBIT_ACCESS_KEY = sandbox.access_key
    settings.UPBIT_SECRET_KEY = sandbox.secret_key
    settings.UPBIT_READ_TIMEOUT_SEC = 2
    sandbox.set_price("100000000")
    return sandbox


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[SandboxHandle]:
    from exchange.sandbox.server import SandboxServer

    server = SandboxServer(port=0, rate_limit=False)
    server.start()
    handle = SandboxHandle(server)
    yield handle
    handle.close()
    server.stop()
