"""An Upbit-compatible exchange on 127.0.0.1: Upbit's REST dialect, no money at risk.

`SandboxServer` serves `/v1/...` like api.upbit.com (JWT auth, Remaining-Req, rate limits, Upbit's
error names, JSON numbers for quotation and decimal strings for exchange data), Upbit's WebSocket
streams on the same port (`/websocket/v1` and `/websocket/v1/private`) and a small control endpoint
under `/_sandbox/...` (loopback only) for tests and drills. The standard library's HTTP server, plus
the `websockets` library's sans-I/O protocol for the streams.

    server = SandboxServer(port=0)
    server.start()          # serves in a daemon thread
    ... requests.get(server.base_url + "/v1/ticker", params={"markets": "KRW-BTC"}) ...
    server.stop()

Modules: `state` (markets, clock, ledger, book), `http` (handler, routes, JSON), `quotation`,
`orders` and `control` (the endpoints), `ws_hub`, `ws`, `ws_messages` and `ws_streams` (the
WebSocket side); this module puts them together. See docs/SANDBOX.md for every endpoint, control call
and `runsandbox` flag.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any

from exchange.sandbox.auth import AuthError, Verifier
from exchange.sandbox.control import ControlEndpoints
from exchange.sandbox.http import Answer, HttpError, Request, dumps, error_body, http_server, read_params, route
from exchange.sandbox.ledger import Rejected
from exchange.sandbox.orders import OrderEndpoints
from exchange.sandbox.quotation import QuotationEndpoints
from exchange.sandbox.ratelimit import QUOTATION_GROUPS, TOO_MANY
from exchange.sandbox.state import SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY
from exchange.sandbox.ws_hub import WsHub

__all__ = ["SANDBOX_ACCESS_KEY", "SANDBOX_SECRET_KEY", "Answer", "Request", "SandboxServer", "dumps"]


class SandboxServer(QuotationEndpoints, OrderEndpoints, ControlEndpoints):
    """The sandbox exchange, usable in-process (`start()` serves in a daemon thread) or from `runsandbox`.

    The constructor's arguments are `SandboxState`'s. Each request goes through `handle`: the control
    endpoint, or Upbit's route, rate limit, armed faults, signature check and the endpoint's answer."""

    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ws = WsHub(self)

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        httpd = http_server(self, self.host, self.requested_port)
        self._httpd = httpd
        # A short poll interval makes stop() quick: tests start and stop a server per test.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-exchange", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the management command)."""
        self._httpd = http_server(self, self.host, self.requested_port)
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        self.ws.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """Like https://api.upbit.com: without /v1."""
        host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"  # noqa: S104 - a comparison, not a bind
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Like wss://api.upbit.com/websocket/v1 (add /private for the private stream)."""
        return "ws://" + self.base_url.removeprefix("http://") + "/websocket/v1"

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- dispatch ---------------------------------------------------------------------------------------
    def upgrade(self, sock: socket.socket, rfile: BufferedIOBase, path: str, headers: list[tuple[str, str]], client: str) -> None:
        self.ws.serve(sock, rfile, path, headers, client)

    def handle(self, request: Request) -> Answer:
        answer = self._answer(request)
        if request.method != "GET" or request.path.startswith("/v1/order") or request.path == "/v1/accounts":
            # What the call changed (a pinned price, an order, a fill, a balance) is pushed to the streams at once.
            self.ws.price_changed()
            if self.ws.connections:
                self.sweep()
            self.ws.ledger_changed()
        return answer

    def _answer(self, request: Request) -> Answer:
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        found, exists = route(request.method, request.path)
        if found is None:
            if exists:
                return Answer(405, error_body(405, f"{request.method} is not allowed on {request.path}"))
            return Answer(404, error_body(404, f"Not found: {request.path}"))
        with self.lock:
            self.received[f"{request.method} {request.path}"] += 1
        principal = request.client
        if found.group not in QUOTATION_GROUPS:
            principal = Verifier.claimed_access_key(request.headers.get("authorization")) or request.client
        verdict = self.limiter.check(found.group, principal)
        if not verdict.allowed:
            if verdict.banned_for:
                seconds = math.ceil(verdict.banned_for)
                text = f"Too many API requests. Blocked for {seconds} seconds."
                return Answer(418, text, found.group, 0, "text/plain; charset=utf-8")
            return Answer(429, TOO_MANY, found.group, 0, "text/plain; charset=utf-8")
        fail = self.faults.take("fail", request.method, request.path)
        if fail is not None:
            body = fail.body if fail.body is not None else error_body(fail.name, fail.message)
            kind = "application/json; charset=utf-8" if fail.body is None else "text/plain; charset=utf-8"
            return Answer(fail.status, body, found.group, verdict.remaining, kind)
        stall = self.faults.take("stall", request.method, request.path)
        if stall is not None and not stall.after:
            time.sleep(stall.seconds)
        try:
            read_params(request, found)
            if found.private:
                self.verifier.verify(request.headers.get("authorization"), hash_strings=request.hash_strings)
            status, payload = getattr(self, "h_" + found.handler)(request)
            answer = Answer(status, dumps(payload), found.group, verdict.remaining)
        except (AuthError, Rejected, HttpError) as error:
            answer = Answer(error.status, error_body(error.name, error.message), found.group, verdict.remaining)
        if stall is not None and stall.after:
            answer.stall_after = stall.seconds
        if self.faults.take("drop", request.method, request.path) is not None:
            answer.drop = True
        return answer
