"""The engine process: the claim on the singleton row, the control loop and the trading thread.

Threads:

- **main (control)**: installs nothing itself (the command installs the signal handlers, which only
  set `shutdown`), claims the engine, and every POLL_SEC refreshes the heartbeat (with the counters)
  and reads the state row; a change wakes the trading thread at once. On shutdown it asks for a
  graceful stop (RUNNING → STOPPING), waits for the trading thread, and releases the claim.
- **engine (trading)**: runs `TradingEngine.run_cycle()` every LOOP_INTERVAL_SEC while RUNNING (or
  after the backoff delay a failed cycle asks for), finishes STOPPING → IDLE after its cycle, and
  waits on a `threading.Event`, so Start/Stop/shutdown never wait for a sleep to end. The market stream
  (stream.py) sets the same event, with "run a cycle now", when a live price crosses a protective level or
  an order of ours traded; a cycle that failed keeps its backoff delay whatever the stream says.
- **public-ws / private-ws** (MARKET_STREAM=on): Upbit's WebSocket; the control loop publishes its state and
  last top of book with each heartbeat and records each switch between the stream and REST polling.

Start-up's own database work (the claim, building the engine, the start-up reconcile) rides out a database
that does not answer the same way the loops do (`_patiently`).

Exit codes: 0 after a graceful stop; 1 when refused (another engine alive, live mode without keys),
when the claim was taken over by another process, when the trading thread died, or when stopped while
start-up still waited for the database.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.utils import timezone

from exchange.base import Exchange
from exchange.exceptions import ExchangeError
from exchange.factory import build_exchange
from trading import events, selectors, services
from trading.engine.cycle import TradingEngine
from trading.engine.metrics import Metrics
from trading.engine.notify import Notifier
from trading.engine.outage import DATABASE_ERRORS, DatabaseOutage
from trading.engine.stream import MarketFeed, SourceSwitch, feed_from_settings, off_snapshot
from trading.files import database_folder_problem
from trading.liveness import owner_is_dead as owner_is_dead  # the claim's takeover test, kept importable here
from trading.models import EngineState

logger = logging.getLogger("autocoin.engine")

State = EngineState.State
POLL_SEC = 0.5
ENGINE_ACTOR = "engine"
T = TypeVar("T")


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


ENGINE_CONN_MAX_AGE_SEC = 600
KEEP_POOLED_CONNECTIONS = "autocoin-engine-keeps-pooled-connections"


def keep_engine_connections() -> None:
    """Let the engine process keep its database connections between cycles.

    `close_old_connections()` still runs at the start and end of every cycle, and still drops a
    connection that errored or grew older than this; it just no longer reconnects every few seconds
    (with CONN_MAX_AGE=0 a SQLite reconnect costs more than the cycle's own work). A pooled connection
    (PostgreSQL) is kept the same way instead of going back to the pool after each cycle and each
    heartbeat: the pool checks a connection with a round trip each time it hands one out, which cost
    every cycle more than its own read. A connection killed while kept fails its next query, and the
    engine rides that out like any outage (outage.py): the connection is dropped and the query retried."""
    for alias in connections:
        settings_dict = connections[alias].settings_dict
        if "pool" in settings_dict.get("OPTIONS", {}):
            continue  # Django refuses CONN_MAX_AGE with a pool; `_keep_pooled_connection` keeps these
        if not settings_dict.get("CONN_MAX_AGE"):
            settings_dict["CONN_MAX_AGE"] = ENGINE_CONN_MAX_AGE_SEC
    connection_created.connect(_keep_pooled_connection, dispatch_uid=KEEP_POOLED_CONNECTIONS)


def _keep_pooled_connection(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    """Sent as a connection opens: a pooled one would be closed (handed back) at the next
    `close_old_connections()`, as CONN_MAX_AGE is 0 with a pool; keep it as long as an unpooled one."""
    if "pool" in connection.settings_dict.get("OPTIONS", {}):
        connection.close_at = time.monotonic() + ENGINE_CONN_MAX_AGE_SEC


def settle_engine_process() -> None:
    """Keep what the process has built so far (Django, the strategies, the engine) out of the garbage collector's
    full passes: with some hundred thousand objects alive after start-up, each full pass would stall whichever
    cycle it fell in by tens of milliseconds. Objects made later are collected as usual."""
    gc.collect()
    gc.freeze()


def _build_exchange() -> Exchange:
    return build_exchange()


class StartAbandoned(Exception):
    """The process was asked to stop while start-up still waited for the database."""


@dataclass
class RunResult:
    exit_code: int
    message: str = ""


class EngineRunner:
    """Owns one engine process's lifetime. `run()` must be called from the main thread."""

    def __init__(
        self,
        *,
        exchange_factory: Callable[[], Exchange] = _build_exchange,
        notifier: Notifier | None = None,
        owner: str | None = None,
        poll_sec: float = POLL_SEC,
        out: Callable[[str], None] | None = None,
    ) -> None:
        self.exchange_factory = exchange_factory
        self.notifier = notifier if notifier is not None else Notifier()
        self.owner = owner or default_owner()
        self.poll_sec = poll_sec
        self.out = out or (lambda text: logger.info("%s", text))
        self.metrics = Metrics()
        self.metrics.extra["owner"] = self.owner
        self.shutdown = threading.Event()
        self.shutdown_reason = ""
        self._wake = threading.Event()
        self._thread_exit = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._busy = threading.Event()
        self._stream_due = threading.Event()
        self._stream_switch: SourceSwitch | None = None
        self._stream_recorded: str | None = None
        self.feed: MarketFeed | None = None
        self.engine: TradingEngine | None = None
        self.database = DatabaseOutage(max_sec=float(settings.DB_OUTAGE_MAX_SEC))
        self.restart_note = ""
        """Set by the launcher's restart: recorded as an event once this process holds the claim."""

    # --- called from signal handlers (main thread) -----------------------------------------------
    def request_shutdown(self, reason: str) -> None:
        if self.shutdown.is_set():
            logger.warning("%s received again: already stopping after the current cycle", reason)
            return
        self.shutdown_reason = reason
        self.shutdown.set()
        self._wake.set()

    # --- the process -----------------------------------------------------------------------------
    def run(self, *, once: bool = False) -> RunResult:
        problem = services.live_mode_problem() or database_folder_problem(connection.settings_dict)
        if problem:
            return RunResult(1, problem)
        keep_engine_connections()
        try:
            claim = self._patiently(
                "claiming the engine", lambda: services.engine_claim(owner=self.owner, owner_is_dead=owner_is_dead)
            )
        except StartAbandoned as abandoned:
            return RunResult(1, str(abandoned))
        if not claim.claimed:
            age = "no heartbeat" if claim.heartbeat_age_sec is None else f"last heartbeat {claim.heartbeat_age_sec:.1f} s ago"
            return RunResult(
                1,
                f"Another engine is already running ({claim.previous_owner}, {age}); stop it first. "
                f"It is taken over automatically once its heartbeat is older than {settings.ENGINE_STALE_AFTER_SEC} s.",
            )
        reason = "stopped"
        try:
            exchange = self.exchange_factory()
            self.engine = self._patiently(
                "building the engine",
                lambda: TradingEngine(exchange, notifier=self.notifier, metrics=self.metrics, owner=self.owner),
            )
            self.notifier.start()
            if not once:
                self.feed = self.engine.feed = feed_from_settings(self.engine, wake=self._stream_wake)
                if self.feed is not None:
                    self.feed.start()
            self._patiently("reconciling open orders at start", self._startup_reconcile)
            settle_engine_process()
            if once:
                return self._run_once()
            result = self._control_loop()
        except StartAbandoned as abandoned:
            reason = str(abandoned)
            return RunResult(1, reason)
        else:
            reason = result.message or reason
            return result
        finally:
            self._thread_exit.set()
            self._wake.set()
            if self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=30)
            if self.feed is not None:
                self.feed.stop()
            try:
                if not self.database.away():  # else each write could wait out the busy timeout again
                    services.engine_heartbeat(owner=self.owner, metrics=self.metrics.snapshot())
                    services.engine_release(owner=self.owner, reason=reason)
            except Exception:
                logger.exception("could not release the engine claim")
            self.notifier.close(timeout=3)
            close_exchange = getattr(self.engine.exchange if self.engine else None, "close", None)
            if callable(close_exchange):
                close_exchange()
            connection.close()

    def _patiently(self, step: str, work: Callable[[], T]) -> T:
        """Start-up's database work, retried the way the loops retry theirs: a connection killed, SQLite locked or
        PostgreSQL restarting while the process starts is ridden out like one in a cycle. The control loop records
        the outage once the database answers, and one longer than DB_OUTAGE_MAX_SEC ends in ERROR before any
        cycle runs, as in the loops. Gives up, with StartAbandoned, only when a stop is asked for meanwhile."""
        while True:
            try:
                return work()
            except DATABASE_ERRORS as error:
                delay = self.database.failed(error)
                if self.shutdown.wait(delay):
                    raise StartAbandoned(
                        f"stopped on {self.shutdown_reason} while {step}: the database did not answer (state unchanged)"
                    ) from error

    def _built_engine(self) -> TradingEngine:
        """The engine `run` built; every step below runs after it."""
        if self.engine is None:
            raise RuntimeError("the engine is built in run() before any step uses it")
        return self.engine

    def _startup_reconcile(self) -> None:
        engine = self._built_engine()
        try:
            engine.startup_reconcile()
        except ExchangeError as error:
            # The first cycle retries it before anything else; nothing is traded until it succeeds.
            events.exchange_error(error=error, step="reconciling open orders at start", failures=0, retry_in_sec=None)

    def _run_once(self) -> RunResult:
        """`--once`: one full cycle whatever the state; it never trades in ERROR or with the kill-switch
        tripped, and it changes the state only the way a cycle would while RUNNING."""
        engine = self._built_engine()
        state = EngineState.load()
        outcome = engine.run_cycle(may_trade=state.state != State.ERROR)
        services.engine_heartbeat(owner=self.owner, metrics=self.metrics.snapshot())
        if not outcome.ok:
            return RunResult(1, f"cycle failed: {outcome.error}")
        return RunResult(0, "one cycle done")

    def _control_loop(self) -> RunResult:
        thread = self._thread = threading.Thread(target=self._trading_loop, name="engine", daemon=True)
        thread.start()
        while True:
            try:
                return self._control_until_exit(thread)
            except DATABASE_ERRORS as error:
                delay = self.database.failed(error)
                if self.shutdown.is_set():
                    if not self._busy.is_set():
                        reason = f"stopped on {self.shutdown_reason} while the database did not answer (state unchanged)"
                        return RunResult(1, reason)
                    time.sleep(delay)  # the cycle in progress ends first
                else:
                    self.shutdown.wait(delay)

    def _control_until_exit(self, thread: threading.Thread) -> RunResult:
        """The control loop proper; a database error leaves it (and `_control_loop` comes back in)."""
        last_state = ""
        stop_requested = False
        if self.restart_note:
            events.engine_restarted(owner=self.owner, note=self.restart_note)
            self.restart_note = ""
        while True:
            self._publish_stream()
            if not services.engine_heartbeat(owner=self.owner, metrics=self.metrics.snapshot()):
                self._thread_exit.set()
                self._wake.set()
                current = EngineState.load()
                message = f"Another engine process ({current.owner or 'unknown'}) took over this engine; this one stops now"
                events.engine_error(message=message, meta={"owner": self.owner}, level=events.Level.WARNING)
                return RunResult(1, message)
            self._record_stream_switch()
            self._record_outage_end()
            state = selectors.engine_state_get().state
            if state != last_state:
                last_state = state
                self._wake.set()
            if self.shutdown.is_set():
                if state == State.RUNNING and not stop_requested:
                    stop_requested = True
                    try:
                        services.engine_stop(actor=ENGINE_ACTOR, reason=f"engine process received {self.shutdown_reason}")
                    except services.TransitionNotAllowed:
                        pass
                    self._wake.set()
                elif state in (State.IDLE, State.ERROR) and not self._busy.is_set():
                    return RunResult(0, f"stopped on {self.shutdown_reason}")
            if not thread.is_alive():
                error = self._thread_error
                message = f"the trading thread stopped unexpectedly: {type(error).__name__ if error else 'unknown'}: {error}"
                events.engine_error(message=message, meta={"owner": self.owner})
                return RunResult(1, message)
            if self.shutdown.is_set():
                time.sleep(self.poll_sec / 5)
            else:
                self.shutdown.wait(self.poll_sec)

    def _stream_wake(self) -> None:
        """Called on the stream thread: run a cycle now (a protective level crossed, or an order of ours traded)."""
        self._stream_due.set()
        self._wake.set()

    def _publish_stream(self) -> None:
        """The stream's state and top of book for the next heartbeat. A switch of the price source is decided
        first, so the snapshot never predates it, and is kept until `_record_stream_switch` writes it."""
        feed = self.feed
        if feed is None:
            self.metrics.extra["stream"] = off_snapshot()
            return
        switch = feed.source_changed()
        if switch is not None:
            # Switched back to the source last recorded before a waiting switch was written: nothing to record.
            self._stream_switch = None if switch.source == self._stream_recorded else switch
        self.metrics.extra["stream"] = feed.snapshot()

    def _record_stream_switch(self) -> None:
        """After the heartbeat, so whoever reads the event finds the metrics agree; kept if the database fails."""
        switch, feed = self._stream_switch, self.feed
        if switch is not None and feed is not None:
            events.market_data_source_changed(source=switch.source, code=switch.code, params=switch.params, market=feed.market)
            self._stream_switch = None
            self._stream_recorded = switch.source

    def _trading_loop(self) -> None:
        while not self._thread_exit.is_set():
            try:
                self._trading_until_exit()
            except DATABASE_ERRORS as error:
                delay = self.database.failed(error)
                self._wake.clear()
                self._wake.wait(delay)
            else:
                return

    def _trading_until_exit(self) -> None:
        """The trading loop proper; a database error leaves it (and `_trading_loop` comes back in)."""
        engine = self._built_engine()
        next_due = 0.0
        backing_off = False
        try:
            while not self._thread_exit.is_set():
                self._wake.clear()
                if self.database.blocks_trading():
                    self._wake.wait(self.poll_sec)  # the control thread records ERROR first
                    continue
                close_old_connections()
                state, owner, generation = EngineState.objects.values_list("state", "owner", "claim_generation").get(
                    pk=EngineState.SINGLETON_PK
                )
                if owner != self.owner or (engine.claim is not None and generation != engine.claim.generation):
                    # Frozen past the stale limit and taken over: the control loop exits; never start a cycle.
                    logger.warning("the engine claim belongs to %s now: the trading thread stops", owner or "nobody")
                    return
                # After a shutdown request no new cycle starts; the control loop moves RUNNING → STOPPING.
                if state == State.RUNNING and not self.shutdown.is_set():
                    now = time.monotonic()
                    if now >= next_due or (self._stream_due.is_set() and not backing_off):
                        self._stream_due.clear()
                        self._busy.set()
                        try:
                            outcome = engine.run_cycle()
                        finally:
                            self._busy.clear()
                        backing_off = outcome.retry_in_sec is not None
                        delay = outcome.retry_in_sec if outcome.retry_in_sec is not None else float(settings.LOOP_INTERVAL_SEC)
                        next_due = time.monotonic() + delay
                        continue
                    timeout = next_due - now
                elif state == State.STOPPING:
                    # next_due is 0 until this process has run a cycle: a stop left unfinished by a dead engine.
                    finished = "the current cycle finished" if next_due else "no cycle was running"
                    try:
                        services.engine_stop_complete(actor=ENGINE_ACTOR, reason=finished)
                    except services.TransitionNotAllowed:
                        pass
                    next_due = 0.0
                    continue
                else:
                    next_due = 0.0  # a Start runs the first cycle at once
                    timeout = self.poll_sec
                self._wake.wait(timeout)
        except DATABASE_ERRORS:
            raise  # not a death: `_trading_loop` waits for the database and comes back in
        except BaseException as error:
            self._thread_error = error
            logger.exception("the trading thread died")
            raise
        finally:
            connection.close()

    # --- a database that stopped answering -------------------------------------------------------
    def _record_outage_end(self) -> None:
        """After the control thread's first successful write: how the outage went, once. Past DB_OUTAGE_MAX_SEC
        it is ERROR (RUNNING/STOPPING → ERROR, or the event alone when nothing was trading)."""
        outage = self.database.answered()
        if outage is None:
            return
        message = outage.describe(self.database.max_sec)
        meta = {"outage_sec": outage.seconds, "failed_queries": outage.failures, "error": outage.error}
        if outage.too_long:
            events.engine_error(message=message, meta={**meta, "db_outage_max_sec": self.database.max_sec})
            try:
                services.engine_fail(actor=ENGINE_ACTOR, error=message)
            except services.TransitionNotAllowed:
                pass  # IDLE or ERROR already: nothing was trading, the event is the record
            self.notifier.send(f"autocoin ERROR: {message}")
        else:
            events.engine_error(message=message, meta=meta, level=events.Level.WARNING)
        self.database.recorded(outage)
        self._wake.set()


def status_line(state: EngineState) -> str:
    age = selectors.heartbeat_age_sec(state)
    return f"engine {state.state} owner={state.owner or '-'} heartbeat_age={age} at {timezone.now().isoformat()}"


def run_engine(*, once: bool = False, **kwargs: Any) -> RunResult:
    return EngineRunner(**kwargs).run(once=once)
