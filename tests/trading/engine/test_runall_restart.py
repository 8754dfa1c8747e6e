"""`make run`'s launcher (`manage.py runall`) for real: an engine process that dies is started again after a
backoff while the web server keeps answering, and the new engine records the restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.trading.engine.test_runall_demo import free_port, listening
from tests.trading.engine.test_runner import (  # the engine-process fixtures, shared
    ROOT,
    engine_env,  # noqa: F401 - imported to be available here: the engine's environment against the sandbox
)
from tests.waiting import wait_until
from trading.management.commands.runall import RestartBackoff
from trading.models import EngineEvent, EngineState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def owner_pid() -> int | None:
    owner = EngineState.load().owner
    return int(owner.rpartition(":")[2]) if owner else None


def healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        return answer.status


def test_a_killed_engine_is_restarted_and_the_web_server_stays_up(request, tmp_path):
    env = request.getfixturevalue("engine_env")
    port = free_port()
    log = tmp_path / "runall.log"
    with log.open("w") as out:
        launcher = subprocess.Popen(
            [sys.executable, "manage.py", "runall", "--addr", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:

        def alive(condition):
            def holds():
                assert launcher.poll() is None, f"runall exited early:\n{log.read_text()}"
                return condition()

            return holds

        first = wait_until(alive(owner_pid), timeout=20, message=lambda: f"no engine claimed:\n{log.read_text()}")
        wait_until(alive(lambda: listening(port)), timeout=20, message="the web server never listened")

        os.kill(first, signal.SIGKILL)
        second = wait_until(
            alive(lambda: (pid := owner_pid()) not in (None, first) and pid),
            timeout=20,
            message=lambda: f"the engine was not restarted:\n{log.read_text()}",
        )
        assert healthz(port) == 200  # the web server never went away
        restarted = wait_until(
            alive(lambda: EngineEvent.objects.filter(actor="launcher").first()), timeout=10, message="no restart event"
        )
        assert restarted.level == "WARNING"
        assert "restart 1; the previous one was killed by SIGKILL" in restarted.message
        assert str(second) in restarted.message
        output = log.read_text()
        assert "autocoin: the engine process was killed by SIGKILL; starting it again in 1 s" in output
        assert f"engine process started again (pid {second}" in output

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0, log.read_text()
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(timeout=10)
    assert "autocoin: stopped" in log.read_text()
    assert not listening(port)
    assert EngineState.load().owner == ""  # the restarted engine stopped cleanly and gave its claim back


def test_restarts_back_off_to_a_minute_and_start_over_after_a_healthy_run():
    backoff = RestartBackoff()
    assert [backoff.next_delay(0.5) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.next_delay(61) == 1  # it had run a minute: not a crash loop
    assert backoff.next_delay(3) == 2
    assert backoff.restarts == 10
