"""`make demo` (`manage.py runall --demo`) as a new user runs it: a trade shows within a minute, Ctrl-C
stops the engine before the sandbox, and a killed launcher leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.waiting import wait_until as poll

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow
OWNER = "select owner from trading_enginestate"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition: Callable[[], bool], timeout: float, proc: subprocess.Popen[str]) -> None:
    """Poll `condition`; a launcher that exited in the meantime fails the test at once, with its output."""

    def holds() -> bool:
        if condition():
            return True
        if proc.poll() is not None:
            raise AssertionError(f"runall exited early ({proc.returncode}):\n{proc.stdout.read() if proc.stdout else ''}")
        return False

    poll(holds, timeout=timeout, interval=0.05, message="runall never got there")


def query(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []


def engine_account(db: Path) -> str | None:
    """The exchange account the running engine keeps its ledger under (its heartbeat's metrics)."""
    rows = query(db, "select metrics from trading_enginestate")
    metrics = json.loads(rows[0][0]) if rows and rows[0][0] else {}
    return metrics.get("account") if isinstance(metrics, dict) else None


def start_demo(db: Path, web: int, sandbox: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPBIT_", "PAPER_", "TELEGRAM_", "NOTIFY_", "STRATEGY"))}
    env.update(DATABASE_URL=f"sqlite:///{db}", LOG_LEVEL="INFO")
    command = [sys.executable, "manage.py", "runall", "--demo", "--addr", f"127.0.0.1:{web}", "--sandbox-port", str(sandbox)]
    return subprocess.Popen(
        [*command, "--demo-database", str(db)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # like a terminal: the launcher leads the foreground process group
    )


def test_the_demo_trades_within_a_minute_and_stops_cleanly(tmp_path):
    db = tmp_path / "demo.sqlite3"
    web, sandbox = free_port(), free_port()
    demo = start_demo(db, web, sandbox)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        wait_until(lambda: query(db, "select count(*) from trading_fill") not in ([], [(0,)]), 60, demo)
        assert time.monotonic() - started < 60
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=5) as answer:
            assert answer.status == 200
        # The launcher announces the dashboard once its demo set-up returns, which may be after the first fill.
        wait_until(lambda: any("dashboard at http://127.0.0.1:" in line for line in lines), 30, demo)

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole foreground group
        demo.wait(timeout=60)
        reader.join(timeout=10)
        out = "".join(lines)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    assert demo.returncode == 0, out
    assert "dashboard at http://127.0.0.1:" in out
    assert "autocoin: stopped" in out
    assert not listening(web)
    assert not listening(sandbox)
    assert query(db, "select state, owner from trading_enginestate") == [("IDLE", "")]
    moves = query(db, "select message from trading_engineevent where kind in ('state_changed', 'engine_released') order by id")
    assert moves[-3:][0][0].startswith("RUNNING → STOPPING by engine")
    assert moves[-1][0].endswith("exited: stopped on SIGTERM")
    # The engine finished while the sandbox was still up: no exchange error on the way out.
    assert not query(db, "select id from trading_engineevent where kind = 'exchange_error'")

    # A launcher killed outright takes its children with it (no engine left trading on its own).
    first_accounts = {account for (account,) in query(db, "select distinct account from trading_order")}
    again = start_demo(db, web, sandbox)
    try:
        wait_until(lambda: query(db, "select owner from trading_enginestate") not in ([], [("",)]), 60, again)
        # The restarted sandbox is a fresh exchange account, and the run's ledger is a fresh one too: the first
        # run's buys are not a position of this one.
        assert first_accounts
        wait_until(lambda: engine_account(db) not in (None, *first_accounts), 30, again)
        assert str(engine_account(db)).startswith(f"live:127.0.0.1:{sandbox}:")
        wait_until(lambda: listening(web), 30, again)
        os.kill(again.pid, signal.SIGKILL)
        again.communicate(timeout=10)
        poll(
            lambda: not listening(web) and not listening(sandbox) and query(db, OWNER) == [("",)],
            timeout=30,
            interval=0.05,
            message="the killed launcher's children kept running",
        )
    finally:
        if again.poll() is None:
            os.killpg(again.pid, signal.SIGKILL)
    assert not listening(web)
    assert not listening(sandbox)
    assert query(db, "select owner from trading_enginestate") == [("",)]
