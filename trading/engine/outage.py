"""Riding out a database that stops answering: SQLite locked past its busy timeout, PostgreSQL restarting,
a connection killed under the engine.

Both engine threads report what their queries met. A failed query closes that thread's connection (Django
opens a new one on the next query) and asks for a retry after a short backoff; nothing is traded while the
database is known to be away, and no order is ever sent without its row committed first (see orders.py).
The control thread, whose heartbeat is the first write to succeed again, records how the outage ended: a
warning when it was short, ERROR (with the reason) when it lasted longer than DB_OUTAGE_MAX_SEC.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger("autocoin.engine")

DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
"""What a database that does not answer raises; anything else from the database is a bug, not an outage."""

RETRY_FIRST_SEC = 0.25
RETRY_CAP_SEC = 5.0
SETTLE_SEC = 1.0
"""An outage ends once no query has failed for this long: the pool's other dead connections, each failing
once as it is handed out after a restart, belong to the same outage."""


@dataclass(frozen=True)
class Outage:
    """One stretch without the database, as the control thread records it once the database answers."""

    seconds: float
    failures: int
    error: str
    too_long: bool

    def describe(self, max_sec: float) -> str:
        if self.too_long:
            return (
                f"The database did not answer for {self.seconds:.1f} s (longer than DB_OUTAGE_MAX_SEC={max_sec:g}; "
                f"last error: {self.error}); no order was sent meanwhile. Check the database, then press Reset"
            )
        return f"The database did not answer for {self.seconds:.1f} s (last error: {self.error}); the engine carried on"


class DatabaseOutage:
    """Shared by the control and the trading thread of one engine process (all access under a lock)."""

    def __init__(self, *, max_sec: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sec = max_sec
        self.clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._last_failure = 0.0
        self._failures = 0
        self._error = ""
        self._too_long = False
        self._said_too_long = False

    def failed(self, error: BaseException) -> float:
        """A query of this thread met `error`: close the broken connection and return how long to wait."""
        now = self.clock()
        with self._lock:
            if self._since is None:
                self._since = now
                logger.warning("the database does not answer (%s: %s); retrying", type(error).__name__, error)
            self._last_failure = now
            self._failures += 1
            self._error = f"{type(error).__name__}: {error}"[:500]
            failures, away = self._failures, now - self._since
            if away > self.max_sec:
                self._too_long = True
                if not self._said_too_long:
                    self._said_too_long = True
                    logger.error(
                        "the database has not answered for %.1f s (DB_OUTAGE_MAX_SEC=%g): no new orders; "
                        "ERROR is recorded once it answers",
                        away,
                        self.max_sec,
                    )
        _close_broken_connection()
        delay: float = min(RETRY_CAP_SEC, RETRY_FIRST_SEC * 2 ** (failures - 1))
        return delay

    def blocks_trading(self) -> bool:
        """True while the engine has been without the database longer than DB_OUTAGE_MAX_SEC and has not yet
        recorded ERROR: a cycle that found the database again must not trade before that is written."""
        with self._lock:
            return self._too_long or (self._since is not None and self.clock() - self._since > self.max_sec)

    def away(self) -> bool:
        """A query failed and no outage end has been recorded since."""
        with self._lock:
            return self._since is not None

    def answered(self) -> Outage | None:
        """The control thread's write succeeded: the outage that ended, if there was one and no query has
        failed for SETTLE_SEC (still open until `recorded`, so a failure while recording it loses nothing)."""
        with self._lock:
            now = self.clock()
            if self._since is None or now - self._last_failure < SETTLE_SEC:
                return None
            seconds = now - self._since
            too_long = self._too_long or seconds > self.max_sec
            return Outage(seconds=round(seconds, 3), failures=self._failures, error=self._error, too_long=too_long)

    def recorded(self, outage: Outage) -> None:
        with self._lock:
            if self._failures != outage.failures:
                # The other thread failed again meanwhile: a new outage starts from that failure.
                self._since, self._failures, self._too_long, self._said_too_long = self._last_failure, 1, False, False
                return
            self._since, self._failures, self._error, self._too_long, self._said_too_long = None, 0, "", False, False


def _close_broken_connection() -> None:
    """Drop this thread's connection so the next query opens a fresh one (never inside a transaction,
    which `atomic` has already rolled back on its way out)."""
    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except DATABASE_ERRORS:
        logger.debug("closing the broken database connection failed", exc_info=True)
