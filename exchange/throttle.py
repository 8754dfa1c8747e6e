"""Client-side rate limiting for Upbit's per-group quotas.

Upbit counts requests per group (`market`, `candle`, `trade`, `ticker`, `orderbook` per IP; `default`
and `order` per account) and answers 429 over the quota, then 418 (a ban that grows with every
repeat) if the caller keeps going. So the client must never rely on 429s to find the limit: it keeps
each group below its quota with a sliding window that is both narrower (fewer calls) and wider
(longer than one second) than Upbit's, and it also obeys what the server says is left
(`Remaining-Req: ...; sec=0` means this second is spent, possibly by another program on the same
IP or account).

Thread-safe: a call reserves its slot under a lock, then sleeps outside it, so threads are served in
the order they asked.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

QUOTATION_GROUPS: tuple[str, ...] = ("market", "candle", "trade", "ticker", "orderbook")

# Upbit's published quotas (requests per second).
UPBIT_LIMITS: dict[str, int] = {
    **dict.fromkeys(QUOTATION_GROUPS, 10),
    "default": 30,
    "order": 8,
    "order-test": 8,
}
# Batch cancel is 1 per 2 s, which a per-second window cannot express; it gets its own window below.
SLOW_GROUPS: dict[str, tuple[int, float]] = {"order-cancel-all": (1, 2.0)}

# Keep ~10% of each quota (at least one call) in reserve, and make the window longer than one second,
# so that network jitter between our clock and the server's cannot push two bursts into one server second.
WINDOW_SEC = 1.0
WINDOW_MARGIN_SEC = 0.1
# After the server says a second is spent, wait a full second plus this margin.
BOUNDARY_MARGIN_SEC = 0.05
# After a 429 the group waits at least this long: Upbit counts per second on its own clock, so only a full
# window (plus the margin) is sure to start a fresh one; another call inside the spent window is what earns a 418.
REFUSED_PAUSE_SEC = WINDOW_SEC + BOUNDARY_MARGIN_SEC

_REMAINING_REQ = re.compile(r"group=(?P<group>[A-Za-z0-9_\-]+)\s*;\s*(?:min=(?P<min>\d+)\s*;\s*)?sec=(?P<sec>\d+)")


@dataclass(frozen=True, slots=True)
class RemainingReq:
    """One parsed `Remaining-Req` header: calls left in the group for the current second."""

    group: str
    sec: int
    min: int | None = None


def parse_remaining_req(value: str | None) -> RemainingReq | None:
    """`group=default; min=1800; sec=29` → RemainingReq; None when missing or unreadable."""
    if not value:
        return None
    match = _REMAINING_REQ.search(value)
    if match is None:
        return None
    minute = match.group("min")
    return RemainingReq(group=match.group("group"), sec=int(match.group("sec")), min=int(minute) if minute else None)


def safe_capacity(limit: int) -> int:
    """How many calls per window the client allows itself for a published per-second `limit`."""
    return max(1, limit - max(1, limit // 10))


class Throttle:
    """Per-group sliding windows plus server-imposed pauses.

    `clock` must be monotonic seconds; it and `sleep` can be replaced in tests.
    """

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        window_sec: float = WINDOW_SEC + WINDOW_MARGIN_SEC,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._windows: dict[str, tuple[int, float]] = {
            group: (safe_capacity(limit), window_sec) for group, limit in (limits or UPBIT_LIMITS).items()
        }
        for group, (capacity, seconds) in SLOW_GROUPS.items():
            self._windows.setdefault(group, (capacity, seconds + WINDOW_MARGIN_SEC))
        self._default_window = self._windows.get("default", (safe_capacity(30), window_sec))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._waited_sec = 0.0

    def capacity(self, group: str) -> int:
        return self._windows.get(group, self._default_window)[0]

    def reserve(self, group: str) -> float:
        """Book the earliest allowed send time for one call in `group`; return how long to wait for it."""
        capacity, window = self._windows.get(group, self._default_window)
        with self._lock:
            now = self._clock()
            slots = self._slots.setdefault(group, deque())
            while slots and slots[0] <= now - window:
                slots.popleft()
            at = now if len(slots) < capacity else slots[-capacity] + window
            if slots:
                # First come, first served: never jump ahead of a call that is already waiting.
                at = max(at, slots[-1])
            at = max(at, self._blocked_until.get(group, 0.0))
            slots.append(at)
            wait = max(0.0, at - now)
            self._waited_sec += wait
            return wait

    def acquire(self, group: str) -> float:
        """Block until a call in `group` may be sent; return the seconds waited."""
        wait = self.reserve(group)
        if wait > 0:
            self._sleep(wait)
        return wait

    def observe(self, remaining: RemainingReq) -> None:
        """Obey the server: when it says no calls are left this second, hold the group until the next one.

        The server's second boundary is on its clock, not ours, so only a full second (plus a margin)
        is sure to reach it."""
        if remaining.sec > 0:
            return
        self.block(remaining.group, WINDOW_SEC + BOUNDARY_MARGIN_SEC)

    def block(self, group: str, seconds: float) -> None:
        """Hold every call in `group` for `seconds` from now (after a 429, or a spent second)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._blocked_until.get(group, 0.0):
                self._blocked_until[group] = until

    def blocked_for(self, group: str) -> float:
        with self._lock:
            return max(0.0, self._blocked_until.get(group, 0.0) - self._clock())

    @property
    def waited_sec(self) -> float:
        """Total time callers have been asked to wait, for metrics."""
        with self._lock:
            return self._waited_sec
