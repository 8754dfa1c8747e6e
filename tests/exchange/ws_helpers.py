"""Helpers for the sandbox WebSocket tests: URLs, Upbit requests and reading binary JSON frames."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection

BTC = "KRW-BTC"


def ws_url(sandbox: Any, private: bool = False) -> str:
    return f"ws://127.0.0.1:{sandbox.server.port}/websocket/v1" + ("/private" if private else "")


def request(*types: dict[str, Any], fmt: str | None = None, ticket: str = "test") -> str:
    body: list[dict[str, Any]] = [{"ticket": ticket}, *types]
    if fmt:
        body.append({"format": fmt})
    return json.dumps(body)


def receive(ws: ClientConnection, timeout: float = 2) -> Any:
    frame = ws.recv(timeout=timeout)
    assert isinstance(frame, bytes), f"Upbit sends binary frames; got text {frame!r}"
    return json.loads(frame.decode("utf-8"))


def receive_until(ws: ClientConnection, wanted: Callable[[Any], bool], *, limit: int = 50) -> Any:
    """The first message `wanted` accepts (others, e.g. pushes of another type, are skipped)."""
    for _ in range(limit):
        message = receive(ws)
        if wanted(message):
            return message
    raise AssertionError("the wanted message never came")


def subscribe(ws: ClientConnection, *types: dict[str, Any], fmt: str | None = None) -> None:
    """Send a request that has no snapshot and return once the server has taken it: PING's answer comes
    after the request is handled."""
    ws.send(request(*types, fmt=fmt))
    ws.send("PING")
    assert receive(ws) == {"status": "UP"}
