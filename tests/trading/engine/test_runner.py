"""The engine process for real: `manage.py runengine` subprocesses against the sandbox over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import ManualOrderRequestFactory
from tests.trading.engine.conftest import HOLDING_PARAMS, HOLDING_STRATEGY
from tests.waiting import wait_until as poll
from trading import services
from trading.models import EngineEvent, EngineState, Fill, ManualOrderRequest, Order, StrategyConfig

ROOT = Path(__file__).resolve().parents[3]
D = Decimal
LOOP_INTERVAL_SEC = 1
STALE_AFTER_SEC = 3
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    return f"postgres://{settings.get('USER') or 'postgres'}@{host}:{port}/{settings['NAME']}"


STARTED: list[EngineProcess] = []
"""Engine processes this test started, killed at its end whatever happened (a leftover would hold the claim)."""


@pytest.fixture(autouse=True)
def _no_engine_outlives_its_test(transactional_db):
    # Depends on the database fixture, so it runs before the tables are emptied behind the process's back.
    yield
    while STARTED:
        process = STARTED.pop().proc
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


class EngineProcess:
    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runengine", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.owner = f"{socket.gethostname()}:{self.proc.pid}"
        STARTED.append(self)

    def wait_claimed(self, timeout: float = 20) -> None:
        """Until the claim is taken and its event recorded (two writes: the test may look between them)."""
        wait_until(
            lambda: (
                EngineState.load().owner == self.owner
                and EngineEvent.objects.filter(kind="engine_claimed", meta__owner=self.owner).exists()
            ),
            timeout,
            self.output_if_dead,
        )

    def output_if_dead(self) -> str:
        if self.proc.poll() is not None:
            return self.proc.stdout.read() if self.proc.stdout else ""
        return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out


def wait_until(condition: Callable[[], bool], timeout: float, why: Callable[[], str] = lambda: "") -> None:
    """Poll `condition`; an engine process that exited in the meantime fails the test at once, with its output."""

    def holds() -> bool:
        if condition():
            return True
        detail = why()
        if detail:
            raise AssertionError(f"the engine process exited early:\n{detail}")
        return False

    poll(holds, timeout=timeout, interval=0.05, message="the engine never got there")


def heartbeat_at():
    return EngineState.load().heartbeat_at


def wait_heartbeats_past(moment, seconds: float, why: Callable[[], str]) -> None:
    """Wait until the running engine has written heartbeats for `seconds` after `moment` (by its own clock): long
    enough for anything it was going to do in that time to have happened."""
    wait_until(lambda: (beat := heartbeat_at()) is not None and beat >= moment + timedelta(seconds=seconds), 15, why)


@pytest.fixture
def engine_env(sandbox, db) -> dict[str, str]:
    StrategyConfig.objects.update_or_create(strategy=HOLDING_STRATEGY, defaults={"params": HOLDING_PARAMS})
    EngineState.load()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPBIT_", "PAPER_", "TELEGRAM_", "NOTIFY_"))}
    env.update(
        DATABASE_URL=database_url(),
        PAPER_MODE="false",
        UPBIT_API_BASE=sandbox.base_url,
        UPBIT_ACCESS_KEY=sandbox.access_key,
        UPBIT_SECRET_KEY=sandbox.secret_key,
        UPBIT_READ_TIMEOUT_SEC="2",
        UPBIT_CONNECT_TIMEOUT_SEC="1",
        TRADING_MARKET="KRW-BTC",
        STRATEGY=HOLDING_STRATEGY,
        LOOP_INTERVAL_SEC=str(LOOP_INTERVAL_SEC),
        ENGINE_STALE_AFTER_SEC=str(STALE_AFTER_SEC),
        ORDER_COOLDOWN_SEC="0",
        MAX_ORDER_KRW="10000",
        LOG_LEVEL="INFO",
        MARKET_STREAM="off",  # these drills are about REST; the stream's own: test_stream_engine.py
    )
    return env


def iteration() -> int:
    return EngineState.load().iteration


def test_start_trade_stop_and_sigterm_in_live_mode(engine_env, sandbox):
    sandbox.set_price("100000000")
    engine = EngineProcess(engine_env, "--log-format", "json")
    engine.wait_claimed()
    assert EngineState.load().state == "IDLE"
    assert EngineEvent.objects.filter(kind="engine_claimed").exists()

    services.engine_start(actor="user:alice")
    request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    wait_until(
        lambda: ManualOrderRequest.objects.get(pk=request.pk).status not in ("PENDING", "PROCESSING"), 15, engine.output_if_dead
    )
    request.refresh_from_db()
    assert request.status == "DONE", request.result
    order = Order.objects.get()
    assert order.status == Order.Status.DONE
    assert order.mode == "live"
    assert Fill.objects.filter(order=order).exists()

    started = time.monotonic()
    services.engine_stop(actor="user:alice")
    wait_until(lambda: EngineState.load().state == "IDLE", 5, engine.output_if_dead)
    assert time.monotonic() - started < 3
    stopped_at = iteration()
    # The engine stays alive and would have cycled by now (one loop interval and a half) if it still traded.
    wait_heartbeats_past(heartbeat_at(), 1.5 * LOOP_INTERVAL_SEC, engine.output_if_dead)
    assert iteration() == stopped_at  # no cycle while IDLE

    services.engine_start(actor="user:alice")
    wait_until(lambda: iteration() > stopped_at, 5, engine.output_if_dead)
    code, out = engine.stop(signal.SIGTERM)

    assert code == 0, out
    state = EngineState.load()
    assert state.state == "IDLE"
    assert state.owner == ""
    assert state.heartbeat_at is None
    moves = list(EngineEvent.objects.filter(kind="state_changed").order_by("ts", "id").values_list("meta__to", "actor"))
    assert moves[-2:] == [("STOPPING", "engine"), ("IDLE", "engine")]
    assert EngineEvent.objects.filter(kind="engine_released").exists()
    metrics = state.metrics
    assert metrics["orders_placed_total"] == 1
    assert metrics["cycles_total"] >= 2
    # JSON log lines with thread names, and no secret anywhere in the output
    assert '"thread": "engine"' in out
    assert '"thread": "MainThread"' in out
    assert sandbox.secret_key not in out
    assert sandbox.access_key not in out


def test_a_second_engine_refuses_then_takes_over_a_frozen_one(engine_env):
    first = EngineProcess(engine_env)
    first.wait_claimed()

    second = subprocess.run(
        [sys.executable, "manage.py", "runengine"], cwd=ROOT, env=engine_env, capture_output=True, text=True, timeout=30
    )
    assert second.returncode == 1
    last_line = second.stderr.strip().splitlines()[-1]
    assert last_line.startswith("CommandError: Another engine is already running")
    assert first.owner in last_line
    assert EngineEvent.objects.filter(kind="engine_refused").exists()
    assert EngineState.load().owner == first.owner

    first.proc.send_signal(signal.SIGSTOP)  # alive but frozen: only its stale heartbeat gives it away
    try:
        last_beat = heartbeat_at()
        poll(
            lambda: timezone.now() - last_beat > timedelta(seconds=STALE_AFTER_SEC),
            timeout=STALE_AFTER_SEC + 5,
            message="the frozen engine's heartbeat never went stale",
        )
        assert heartbeat_at() == last_beat  # frozen indeed
        third = EngineProcess(engine_env)
        third.wait_claimed(timeout=20)
        claimed = EngineEvent.objects.filter(kind="engine_claimed").latest("ts")
        assert "took over" in claimed.message
        assert first.owner in claimed.message
    finally:
        first.proc.send_signal(signal.SIGCONT)
    # the frozen one wakes up, finds its claim gone, and stops without touching anything
    code, out = first.stop(signal.SIGCONT)
    assert code == 1
    assert "took over this engine" in out
    assert EngineState.load().owner == third.owner
    code, out = third.stop(signal.SIGINT)
    assert code == 0, out


def test_an_engine_killed_on_this_machine_is_taken_over_at_once(engine_env):
    first = EngineProcess(engine_env)
    first.wait_claimed()
    first.stop(signal.SIGKILL)  # the claim and a fresh heartbeat are left behind
    # A heartbeat that cannot go stale while the test runs: only the missing process can give the claim away.
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(heartbeat_at=timezone.now() + timedelta(hours=1))
    second = EngineProcess(engine_env)
    second.wait_claimed()
    code, out = second.stop()
    assert code == 0, out


def test_sigkill_during_an_order_then_restart_adopts_it_without_a_duplicate(engine_env, sandbox):
    sandbox.set_price("100000000")
    # The exchange places the order, then holds the answer for longer than the test takes: the engine is killed
    # once the order is placed, while it waits.
    sandbox.control("POST", "stall", {"path": "/v1/orders", "method": "POST", "seconds": 60, "after": True})
    EngineState.objects.filter(pk=1).update(state="RUNNING")
    request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    engine = EngineProcess(engine_env)
    wait_until(lambda: sandbox.state()["orders"], 20, engine.output_if_dead)
    engine.stop(signal.SIGKILL)

    order = Order.objects.get()
    assert order.status == Order.Status.NEW  # written before the call, never updated
    assert [o["identifier"] for o in sandbox.state()["orders"]] == [order.identifier]

    restarted = EngineProcess(engine_env)
    restarted.wait_claimed(timeout=20)
    wait_until(lambda: Order.objects.get(pk=order.pk).status == "DONE", 15, restarted.output_if_dead)
    wait_until(lambda: ManualOrderRequest.objects.get(pk=request.pk).status == "DONE", 10, restarted.output_if_dead)
    start = iteration()
    wait_until(lambda: iteration() >= start + 2, 10, restarted.output_if_dead)
    code, out = restarted.stop()

    assert code == 0, out
    assert Order.objects.count() == 1
    assert len(sandbox.state()["orders"]) == 1
    order.refresh_from_db()
    assert Fill.objects.filter(order=order).exists()
    assert sum(f.volume for f in Fill.objects.filter(order=order)) == order.executed_volume
    assert EngineEvent.objects.filter(kind="order_reconciled", message__contains="adopted").exists()


def test_live_mode_without_keys_refuses_to_start(engine_env):
    engine_env["UPBIT_ACCESS_KEY"] = ""
    result = subprocess.run(
        [sys.executable, "manage.py", "runengine"], cwd=ROOT, env=engine_env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "UPBIT_ACCESS_KEY" in result.stderr
    assert "PAPER_MODE=true" in result.stderr
    assert EngineState.load().owner == ""


def test_a_sqlite_file_in_a_missing_folder_refuses_to_start_with_the_fix(engine_env, tmp_path):
    """A setting to fix, not an outage to wait out: the engine says so at once."""
    engine_env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'no-such-folder' / 'db.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "manage.py", "runengine"], cwd=ROOT, env=engine_env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "the folder" in result.stderr
    assert "no-such-folder does not exist; create it or fix DATABASE_URL" in result.stderr


def test_once_runs_one_cycle_in_paper_mode_and_exits(engine_env):
    engine_env["PAPER_MODE"] = "true"
    result = subprocess.run(
        [sys.executable, "manage.py", "runengine", "--once"], cwd=ROOT, env=engine_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    state = EngineState.load()
    assert state.iteration == 1
    assert state.state == "IDLE"
    assert state.owner == ""
    assert state.metrics["mode"] == "paper"


def test_a_tripped_kill_switch_survives_a_restart(engine_env):
    EngineState.objects.filter(pk=1).update(state="RUNNING")
    services.engine_kill_switch_trip(reason="daily loss limit reached")
    engine = EngineProcess(engine_env)
    engine.wait_claimed()
    # Alive for two loop intervals: a cycle would have run by now if the tripped switch did not hold it back.
    wait_heartbeats_past(heartbeat_at(), 2 * LOOP_INTERVAL_SEC, engine.output_if_dead)
    state = EngineState.load()
    assert state.state == "ERROR"
    assert state.kill_switch
    assert state.iteration == 0
    with pytest.raises(services.TransitionNotAllowed, match="Reset"):
        services.engine_start(actor="user:alice")
    code, _ = engine.stop()
    assert code == 0


def test_stop_works_at_once_while_waiting_out_an_upbit_ban(engine_env, sandbox):
    """After a 418 the engine makes no call until the ban ends; a Reset and Start in the meantime leave it
    waiting on its wake-up event, not asleep inside the HTTP client, so Stop still takes effect at once."""
    engine = EngineProcess(engine_env)
    engine.wait_claimed()
    services.engine_start(actor="user:alice")
    wait_until(lambda: iteration() >= 1, 15, engine.output_if_dead)
    sandbox.fail_next("/v1/ticker", status=418, body="Too many API requests. Blocked for 60 seconds.")
    wait_until(lambda: EngineState.load().state == "ERROR", 10, engine.output_if_dead)
    error = EngineEvent.objects.filter(kind="error").latest("id")
    assert "banned" in error.message
    assert error.meta["banned_until"]

    services.engine_reset(actor="user:alice")
    services.engine_start(actor="user:alice")
    wait_until(lambda: EngineEvent.objects.filter(message__startswith="Waiting").exists(), 5, engine.output_if_dead)
    started = time.monotonic()
    services.engine_stop(actor="user:alice")
    wait_until(lambda: EngineState.load().state == "IDLE", 5, engine.output_if_dead)
    assert time.monotonic() - started < 2

    code, out = engine.stop(signal.SIGTERM)
    assert code == 0, out
