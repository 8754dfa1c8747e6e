"""What one cycle reports to the runner, and the two ways a cycle ends early."""

from __future__ import annotations

from dataclasses import dataclass, field

from exchange.exceptions import RetryLater
from trading.models import Order
from trading.strategies.base import Decision


@dataclass
class CycleOutcome:
    ok: bool
    retry_in_sec: float | None = None
    """When set, the runner waits this long (backoff) instead of LOOP_INTERVAL_SEC."""
    error: str = ""
    stopped: bool = False
    """The engine went to ERROR (or the kill-switch tripped) during this cycle."""
    orders: list[Order] = field(default_factory=list)
    decision: Decision | None = None
    """The strategy's decision on a newly closed candle, or the protective exit that fired (None: neither)."""


class EngineStopped(Exception):
    """The engine left RUNNING during the cycle (kill-switch, StopTrading, error)."""


class StaleMarketData(RetryLater):
    """The exchange's last trade is older than TICKER_MAX_AGE_SEC: no new entries until it is fresh again.

    Counted like any failed API call, so a market that stays stale trips the kill-switch."""

    def __init__(self, message: str, *, age_sec: float) -> None:
        super().__init__(message)
        self.age_sec = age_sec
