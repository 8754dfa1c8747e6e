"""The Upbit-like server's fixtures (`upbit`, and a live `client` pointed at it) for the exchange tests."""

from __future__ import annotations

from tests.exchange.upbit_like import client, upbit

__all__ = ["client", "upbit"]
