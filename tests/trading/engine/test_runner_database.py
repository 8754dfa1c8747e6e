"""The engine process for real while its database stops answering: SQLite locked past the busy timeout,
PostgreSQL connections killed under it. It must carry on when the database answers, and go to ERROR
(without trading meanwhile) when the database was away longer than DB_OUTAGE_MAX_SEC."""

from __future__ import annotations

import signal
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.autocoin.test_database_pool import admin_connection
from tests.trading.engine.test_runner import (  # the engine-process fixtures, shared
    EngineProcess,
    _no_engine_outlives_its_test,  # noqa: F401 - imported to be active here: kills what a test left running
    engine_env,  # noqa: F401 - imported to be available here: the engine's environment against the sandbox
    heartbeat_at,
    iteration,
    wait_until,
)
from trading.models import EngineEvent, EngineState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
BUSY_TIMEOUT_SEC = 1
ENGINE_APP_NAME = "autocoin-engine-under-test"


def outage_events() -> list[EngineEvent]:
    return list(EngineEvent.objects.filter(kind=EngineEvent.Kind.ERROR, message__startswith="The database did not answer"))


def running_engine(env: dict[str, str]) -> EngineProcess:
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state="RUNNING")
    engine = EngineProcess(env)
    engine.wait_claimed()
    wait_until(lambda: iteration() >= 1, 15, engine.output_if_dead)
    return engine


@contextmanager
def sqlite_write_locked() -> Iterator[None]:
    """SQLite's write lock, held by another connection for the block (as another writer would)."""
    locker = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


def hold_the_write_lock_until(silent_for_sec: float, engine: EngineProcess) -> None:
    """Hold SQLite's write lock from another connection until the engine has written no heartbeat for
    `silent_for_sec` (longer than its busy timeout: its writes have failed, not just waited)."""
    with sqlite_write_locked():
        wait_until(lambda: timezone.now() - heartbeat_at() > timedelta(seconds=silent_for_sec), 15, engine.output_if_dead)


class WatchedEngine(EngineProcess):
    """An engine process whose output is read as it comes, so a test can wait for what it says."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def output_if_dead(self) -> str:
        if self.proc.poll() is None:
            return ""
        self.reader.join(5)
        return "".join(self.lines) or "(no output)"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.reader.join(5)
        return code, "".join(self.lines)


@pytest.fixture
def env(request) -> dict[str, str]:
    return request.getfixturevalue("engine_env")


@pytest.fixture
def sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("holds SQLite's write lock")


@pytest.mark.usefixtures("sqlite_only")
def test_sqlite_locked_past_the_busy_timeout_is_ridden_out(env):
    env.update(SQLITE_BUSY_TIMEOUT_SEC=str(BUSY_TIMEOUT_SEC), DB_OUTAGE_MAX_SEC="60")
    engine = running_engine(env)

    hold_the_write_lock_until(BUSY_TIMEOUT_SEC + 1.5, engine)
    released = timezone.now()
    before = iteration()

    wait_until(lambda: heartbeat_at() > released and iteration() > before, 10, engine.output_if_dead)
    wait_until(lambda: outage_events(), 5, engine.output_if_dead)
    (event,) = outage_events()
    assert event.level == "WARNING"
    assert "the engine carried on" in event.message
    assert "database is locked" in event.meta["error"]
    assert EngineState.load().state == "RUNNING"
    code, out = engine.stop()
    assert code == 0, out
    assert "the database does not answer (OperationalError: database is locked); retrying" in out


@pytest.mark.usefixtures("sqlite_only")
def test_a_database_away_longer_than_the_limit_ends_in_error_once_it_answers(env):
    env.update(SQLITE_BUSY_TIMEOUT_SEC=str(BUSY_TIMEOUT_SEC), DB_OUTAGE_MAX_SEC="1")
    engine = running_engine(env)

    hold_the_write_lock_until(BUSY_TIMEOUT_SEC + 2.5, engine)
    released = timezone.now()

    wait_until(lambda: EngineState.load().state == "ERROR", 10, engine.output_if_dead)
    state = EngineState.load()
    assert "longer than DB_OUTAGE_MAX_SEC=1" in state.state_reason
    assert state.state_changed_by == "engine"
    (event,) = outage_events()
    assert event.level == "ERROR"
    assert event.meta["outage_sec"] > 1
    # Still alive and watching (heartbeats), but no cycle trades in ERROR.
    stopped_at = iteration()
    wait_until(lambda: heartbeat_at() > released + timedelta(seconds=1.5), 10, engine.output_if_dead)
    assert iteration() == stopped_at
    code, out = engine.stop()
    assert code == 0, out
    assert "no new orders; ERROR is recorded once it answers" in out


def test_postgresql_connections_killed_under_the_engine(env):
    if connection.vendor != "postgresql":
        pytest.skip("kills PostgreSQL backends")
    env["PGAPPNAME"] = ENGINE_APP_NAME  # libpq names the engine's connections, so only they are ended
    engine = running_engine(env)
    before = iteration()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s",
            [ENGINE_APP_NAME],
        )
        (killed,) = cursor.fetchone()
    assert killed >= 1
    killed_at = timezone.now()

    wait_until(lambda: heartbeat_at() > killed_at + timedelta(seconds=1) and iteration() > before + 1, 10, engine.output_if_dead)
    assert EngineState.load().state == "RUNNING"
    (event,) = outage_events()
    assert "the engine carried on" in event.message
    code, out = engine.stop()
    assert code == 0, out
    assert "the database does not answer" in out
    assert "terminating connection" in out


@pytest.mark.usefixtures("sqlite_only")
def test_sigterm_while_the_database_is_away_exits_without_waiting_for_it(env):
    env.update(SQLITE_BUSY_TIMEOUT_SEC=str(BUSY_TIMEOUT_SEC))
    engine = EngineProcess(env)
    engine.wait_claimed()
    with sqlite_write_locked():
        wait_until(lambda: timezone.now() - heartbeat_at() > timedelta(seconds=BUSY_TIMEOUT_SEC + 1), 15, engine.output_if_dead)
        code, out = engine.stop(timeout=15)  # while the lock is still held
    assert code == 1, out
    assert "stopped on SIGTERM while the database did not answer (state unchanged)" in out
    assert EngineState.load().state == "IDLE"


@pytest.mark.usefixtures("sqlite_only")
def test_a_database_locked_while_the_engine_starts_is_ridden_out(env):
    """A restarted engine meets the fault before its loops begin: the claim's write gives up on the lock."""
    env.update(SQLITE_BUSY_TIMEOUT_SEC=str(BUSY_TIMEOUT_SEC), DB_OUTAGE_MAX_SEC="60")
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state="RUNNING")
    with sqlite_write_locked():
        engine = WatchedEngine(env)
        wait_until(lambda: engine.said("the database does not answer"), 30, engine.output_if_dead)
        assert EngineState.load().owner != engine.owner  # still waiting to claim

    engine.wait_claimed()
    wait_until(lambda: iteration() >= 1 and outage_events(), 15, engine.output_if_dead)
    (event,) = outage_events()
    assert event.level == "WARNING"
    assert "database is locked" in event.meta["error"]
    assert EngineState.load().state == "RUNNING"
    code, out = engine.stop()
    assert code == 0, out


@pytest.mark.usefixtures("sqlite_only")
def test_sigterm_while_the_engine_waits_for_the_database_to_start_gives_up_cleanly(env):
    env.update(SQLITE_BUSY_TIMEOUT_SEC=str(BUSY_TIMEOUT_SEC))
    with sqlite_write_locked():
        engine = WatchedEngine(env)
        wait_until(lambda: engine.said("the database does not answer"), 30, engine.output_if_dead)
        code, out = engine.stop(timeout=15)  # while the lock is still held
    assert code == 1, out
    assert "stopped on SIGTERM while claiming the engine: the database did not answer (state unchanged)" in out
    assert EngineState.load().owner == ""


def test_postgresql_connection_killed_while_the_engine_claims(env):
    """A restarted engine's connection is ended in the middle of its claim (held up by a row lock, so the kill
    lands there and nowhere else); it must claim on a new connection and trade as if nothing happened."""
    if connection.vendor != "postgresql":
        pytest.skip("kills PostgreSQL backends")
    env["PGAPPNAME"] = ENGINE_APP_NAME
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state="RUNNING")
    locker = admin_connection(connection.settings_dict["NAME"], autocommit=False)  # holds the row lock below
    try:
        locker.execute("SELECT id FROM trading_enginestate WHERE id = %s FOR UPDATE", [EngineState.SINGLETON_PK])
        engine = WatchedEngine(env)

        def claim_waiting_on_the_lock() -> list[int]:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s "
                    "AND wait_event_type = 'Lock'",
                    [ENGINE_APP_NAME],
                )
                return [pid for (pid,) in cursor.fetchall()]

        wait_until(claim_waiting_on_the_lock, 30, engine.output_if_dead)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", claim_waiting_on_the_lock()[:1])
        wait_until(lambda: engine.said("the database does not answer"), 15, engine.output_if_dead)
    finally:
        locker.rollback()
        locker.close()

    engine.wait_claimed()
    wait_until(lambda: iteration() >= 1 and outage_events(), 15, engine.output_if_dead)
    assert EngineState.load().state == "RUNNING"
    assert "the engine carried on" in outage_events()[0].message
    code, out = engine.stop()
    assert code == 0, out
    assert "terminating connection due to administrator command" in out


@pytest.mark.usefixtures("sqlite_only")
def test_a_database_away_longer_than_the_limit_at_start_up_ends_in_error_before_any_cycle(env):
    """A restarted engine that waited longer than DB_OUTAGE_MAX_SEC to claim treats it like any long outage: ERROR,
    with the reason, before it trades, so the person looks first."""
    env.update(SQLITE_BUSY_TIMEOUT_SEC=str(BUSY_TIMEOUT_SEC), DB_OUTAGE_MAX_SEC="1")
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state="RUNNING")
    with sqlite_write_locked():
        engine = WatchedEngine(env)
        wait_until(lambda: engine.said("the database has not answered for"), 30, engine.output_if_dead)

    engine.wait_claimed()
    wait_until(lambda: EngineState.load().state == "ERROR", 15, engine.output_if_dead)
    state = EngineState.load()
    assert "longer than DB_OUTAGE_MAX_SEC=1" in state.state_reason
    assert iteration() == 0  # no cycle ran
    (event,) = outage_events()
    assert event.level == "ERROR"
    code, out = engine.stop()
    assert code == 0, out
