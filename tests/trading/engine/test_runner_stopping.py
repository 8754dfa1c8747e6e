"""STOPPING with the engine process gone, for real: Stop completes at once, and a new engine process
finishes a stop its predecessor left behind."""

from __future__ import annotations

import signal

import pytest

from tests.trading.engine.test_runner import (  # the engine-process fixtures, shared
    EngineProcess,
    _no_engine_outlives_its_test,  # noqa: F401 - imported to be active here: kills what a test left running
    engine_env,  # noqa: F401 - imported to be available here: the engine's environment against the sandbox
    iteration,
    wait_until,
)
from trading import control, selectors
from trading.models import EngineEvent, EngineState

State = EngineState.State
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def moves() -> list[tuple[str, str, str, str]]:
    rows = EngineEvent.objects.filter(kind=EngineEvent.Kind.STATE_CHANGED).order_by("id")
    return [(row.meta["from"], row.meta["to"], row.actor, row.meta["reason"]) for row in rows]


def killed_while_stopping(env: dict[str, str]) -> EngineProcess:
    """A running engine, killed outright just as the row says STOPPING: nobody is left to finish the stop."""
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=State.RUNNING)
    engine = EngineProcess(env)
    engine.wait_claimed()
    wait_until(lambda: iteration() >= 1, 15, engine.output_if_dead)
    engine.stop(signal.SIGKILL)
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=State.STOPPING)
    EngineEvent.objects.all().delete()
    return engine


def test_stop_completes_at_once_when_the_stopping_engine_was_killed(request):
    killed_while_stopping(request.getfixturevalue("engine_env"))
    state = EngineState.load()
    assert not selectors.engine_online(state)  # its heartbeat is still fresh: the dead process gives it away
    assert selectors.engine_status(state)["allowed_actions"]["stop"]

    done = control.engine_command(action="stop", actor="user:alice")

    assert done.completed_offline
    assert EngineState.load().state == State.IDLE
    assert moves() == [(State.STOPPING, State.IDLE, "user:alice", control.OFFLINE_STOP_REASON)]


def test_a_new_engine_finishes_the_stop_its_predecessor_left(request):
    env = request.getfixturevalue("engine_env")
    killed_while_stopping(env)
    engine = EngineProcess(env)
    engine.wait_claimed()
    wait_until(lambda: EngineState.load().state == State.IDLE, 10, engine.output_if_dead)
    assert moves() == [(State.STOPPING, State.IDLE, "engine", "no cycle was running")]
    code, out = engine.stop()
    assert code == 0, out
