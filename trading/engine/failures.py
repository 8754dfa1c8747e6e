"""What the engine does when something fails: back off, wait out a ban, stop in ERROR, or trip the kill-switch.

Failures are classified by the exchange exception hierarchy: RetryLater/RateLimited (and stale market
data) back off and trip the kill-switch after MAX_CONSECUTIVE_FAILURES in a row, StopTrading and
InvalidRequest go to ERROR at once, OrderRejected is counted per order, anything unexpected goes to ERROR
with the traceback (secrets masked).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from exchange.base import Exchange
from exchange.exceptions import ExchangeError, InvalidRequest, OrderRejected, RateLimited
from exchange.redact import mask_configured_secrets as masked
from trading import events, pause_services, services
from trading.engine import orders as order_ops
from trading.engine.metrics import Metrics
from trading.engine.notify import Notifier
from trading.engine.outcome import CycleOutcome, EngineStopped, StaleMarketData
from trading.models import EngineEvent, Order

logger = logging.getLogger("autocoin.engine.cycle")

BACKOFF_CAP_SEC = 60.0


class FailurePolicy:
    """Counts failures, decides between backing off and stopping, and remembers Upbit's ban across restarts."""

    def __init__(
        self, exchange: Exchange, *, account: str, notifier: Notifier, metrics: Metrics, jitter: Callable[[], float]
    ) -> None:
        self.exchange = exchange
        self.account = account
        self.notifier = notifier
        self.metrics = metrics
        self.jitter = jitter
        self.banned_until: datetime | None = None
        self.ban_loaded = False
        self.ban_announced = False

    # --- Upbit's ban ---------------------------------------------------------------------------------
    def ban_remaining(self) -> float:
        """Seconds left of the last 418 ban Upbit announced (0 when none): recorded with the error event, so
        a new process waits too instead of earning a longer ban."""
        if not self.ban_loaded:
            self.ban_loaded = True
            until = (
                EngineEvent.objects.filter(kind=EngineEvent.Kind.ERROR, meta__banned_until__isnull=False)
                .order_by("-ts", "-id")
                .values_list("meta__banned_until", flat=True)
                .first()
            )
            try:
                self.banned_until = datetime.fromisoformat(until) if isinstance(until, str) else None
            except ValueError:
                self.banned_until = None
        if self.banned_until is None:
            return 0.0
        remaining = (self.banned_until - timezone.now()).total_seconds()
        if remaining <= 0:
            self.banned_until = None
            return 0.0
        if not self.ban_announced:
            self.ban_announced = True
            events.engine_error(
                message=(
                    f"Waiting {remaining:.0f} s for Upbit's ban to end "
                    f"(until {timezone.localtime(self.banned_until):%H:%M:%S}); no call is made to Upbit until then"
                ),
                meta={"waiting_for_ban_until": self.banned_until.isoformat()},
                level=events.Level.WARNING,
            )
        return remaining

    # --- the kinds of failure ------------------------------------------------------------------------
    def temporary(self, error: ExchangeError) -> CycleOutcome:
        self.metrics.count_error(error)
        if getattr(error, "name", "") == "market_offline":
            # Upbit's maintenance: said as such on the dashboard, and no new entry until it is over (fail closed).
            pause_services.market_offline_record(error=error, step="market", now=timezone.now())
        failures = services.engine_failures_increment()
        step = "checking the market data" if isinstance(error, StaleMarketData) else "running a cycle"
        if failures >= settings.MAX_CONSECUTIVE_FAILURES:
            events.exchange_error(error=error, step=step, failures=failures, retry_in_sec=None)
            self.trip(
                f"{failures} exchange calls in a row failed (last: {type(error).__name__}: {error}); "
                "check the network and Upbit's status, then press Reset",
                meta={"consecutive_failures": failures, "error_class": type(error).__name__},
            )
            return CycleOutcome(ok=False, error=str(error), stopped=True)
        delay = self.backoff_delay(failures)
        events.exchange_error(error=error, step=step, failures=failures, retry_in_sec=delay)
        return CycleOutcome(ok=False, retry_in_sec=delay, error=str(error))

    def backoff_delay(self, failures: int) -> float:
        """Exponential backoff with jitter and a cap: base × 2^(n-1), then a random 50-100 % of it."""
        base = float(settings.LOOP_INTERVAL_SEC)
        ceiling = min(BACKOFF_CAP_SEC, base * (2 ** max(0, failures - 1)))
        delay: float = round(ceiling * (0.5 + 0.5 * self.jitter()), 3)
        return delay

    def stop_trading(self, error: ExchangeError, *, market: str) -> CycleOutcome:
        self.metrics.count_error(error)
        extra: dict[str, Any] = {}
        if isinstance(error, InvalidRequest):
            advice = f"check TRADING_MARKET ({market}) and the settings, then press Reset"
        elif getattr(error, "status", None) == 418:
            ban = getattr(error, "ban_seconds", None)
            if ban:
                until = timezone.now() + timedelta(seconds=ban)
                self.banned_until, self.ban_loaded, self.ban_announced = until, True, False
                extra["banned_until"] = until.isoformat()
                advice = (
                    f"Press Reset when you are ready; the engine makes no call to Upbit before "
                    f"{timezone.localtime(until):%H:%M:%S}"
                )
            else:
                advice = "Wait a few minutes, then press Reset"
        else:
            advice = (
                "check UPBIT_ACCESS_KEY/UPBIT_SECRET_KEY, the key's permissions and its allowed IP addresses, then press Reset"
            )
        message = f"The exchange refused to continue: {error}. {advice}"
        self.fail(message, meta={"error_class": type(error).__name__, "error_name": getattr(error, "name", ""), **extra})
        return CycleOutcome(ok=False, error=message, stopped=True)

    def unexpected(self, error: BaseException) -> CycleOutcome:
        logger.exception("unexpected error in the trading cycle")
        trace = masked(traceback.format_exc())
        message = masked(f"Unexpected error in the trading cycle: {type(error).__name__}: {error}")
        self.fail(message, meta={"error_class": type(error).__name__, "traceback": trace})
        return CycleOutcome(ok=False, error=message, stopped=True)

    def order_rejected(self, order: Order, error: OrderRejected) -> None:
        """Count a rejected order; MAX_CONSECUTIVE_FAILURES in a row trip the kill-switch (raises EngineStopped)."""
        failures = services.engine_failures_increment(orders=True)
        if failures >= settings.MAX_CONSECUTIVE_FAILURES:
            self.trip(
                f"{failures} orders in a row were rejected by the exchange (last: {error}); "
                "check the balance and the order settings, then press Reset",
                meta={"consecutive_order_failures": failures},
            )
            raise EngineStopped("kill-switch: consecutive order rejections")

    def order_rate_limited(self, error: RateLimited) -> None:
        """Count an order Upbit refused for its rate limit (nothing was placed) with the failed orders;
        MAX_CONSECUTIVE_FAILURES in a row trip the kill-switch (raises EngineStopped), so a burst of 429s
        costs a bounded number of POSTs instead of one order after another until Upbit bans the key."""
        failures = services.engine_failures_increment(orders=True)
        if failures >= settings.MAX_CONSECUTIVE_FAILURES:
            self.metrics.count_error(error)
            self.trip(
                f"{failures} orders in a row were refused by Upbit's rate limit (HTTP 429), so none was placed; "
                "another program may be using this API key or IP address: stop it, then press Reset",
                meta={"consecutive_order_failures": failures, "error_class": type(error).__name__},
            )
            raise EngineStopped("kill-switch: consecutive rate-limited orders")

    # --- stopping --------------------------------------------------------------------------------------
    def fail(self, message: str, *, meta: dict[str, Any]) -> None:
        events.engine_error(message=message, meta=meta)
        try:
            services.engine_fail(actor="engine", error=message)
        except services.TransitionNotAllowed:
            pass  # not RUNNING (e.g. `runengine --once`): the event above is the record
        self.notifier.send(f"autocoin ERROR: {message}")

    def trip(self, reason: str, *, meta: dict[str, Any] | None = None) -> None:
        services.engine_kill_switch_trip(reason=reason, meta=meta)
        problems: list[str] = []
        try:
            problems = order_ops.orders_cancel_open(self.exchange, account=self.account, reason="kill-switch")
        except Exception as error:  # noqa: BLE001 - the switch stays tripped even if cancelling fails
            problems = [f"{type(error).__name__}: {error}"]
        if problems:
            events.engine_error(message="Some open orders could not be cancelled: " + "; ".join(problems), meta={})
        self.notifier.send(f"autocoin KILL-SWITCH: {reason}")
