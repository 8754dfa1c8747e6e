"""Upbit's request quotas: per group, per second, counted per IP (quotation) or per account (exchange).

Every answer carries `Remaining-Req: group=<g>; min=<n>; sec=<n>`; past the quota the answer is 429
with a plain-text body, and (only when `ban_after` is set) repeated 429s earn a 418 ban.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Requests per second per group (upbit-api.md §4). order-cancel-all is 1 per 2 s: a 0.5/s quota.
GROUP_LIMITS: dict[str, float] = {
    "market": 10,
    "candle": 10,
    "trade": 10,
    "ticker": 10,
    "orderbook": 10,
    "default": 30,
    "order": 8,
    "order-test": 8,
    "order-cancel-all": 0.5,
    "websocket": 5,  # WebSocket connects (websocket-connect); messages are limited per connection instead
}
QUOTATION_GROUPS = frozenset({"market", "candle", "trade", "ticker", "orderbook"})
TOO_MANY = "Too many API requests."


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    remaining: int
    banned_for: float = 0.0

    @property
    def status(self) -> int:
        if self.allowed:
            return 200
        return 418 if self.banned_for else 429


def remaining_req(group: str, remaining: int) -> str:
    limit = GROUP_LIMITS.get(group, GROUP_LIMITS["default"])
    # `min` is deprecated and fixed on Upbit; it is kept for clients that still parse it.
    return f"group={group}; min={int(limit * 60)}; sec={max(0, remaining)}"


class RateLimiter:
    def __init__(
        self,
        *,
        enabled: bool = True,
        ban_after: int | None = None,
        ban_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self._monotonic = monotonic
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}
        self._strikes: dict[str, list[float]] = {}
        self._banned_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, group: str, principal: str) -> Verdict:
        limit = GROUP_LIMITS.get(group, GROUP_LIMITS["default"])
        per_window = max(1, int(limit)) if limit >= 1 else 1
        window_seconds = 1 if limit >= 1 else round(1 / limit)
        if not self.enabled:
            return Verdict(True, per_window - 1)
        now = self._monotonic()
        with self._lock:
            banned_until = self._banned_until.get(principal, 0.0)
            if banned_until > now:
                return Verdict(False, 0, banned_for=banned_until - now)
            window = int(now // window_seconds)
            key = (group, principal)
            current_window, used = self._windows.get(key, (window, 0))
            if current_window != window:
                used = 0
            if used >= per_window:
                self._windows[key] = (window, used)
                return self._strike(principal, now)
            used += 1
            self._windows[key] = (window, used)
            return Verdict(True, per_window - used)

    def _strike(self, principal: str, now: float) -> Verdict:
        if self.ban_after:
            strikes = [t for t in self._strikes.get(principal, []) if now - t < 60] + [now]
            self._strikes[principal] = strikes
            if len(strikes) > self.ban_after:
                self._banned_until[principal] = now + self.ban_seconds
                self._strikes[principal] = []
                return Verdict(False, 0, banned_for=self.ban_seconds)
        return Verdict(False, 0)
