"""A stop that no engine process is left to finish: STOPPING (or RUNNING) with the engine dead or silent
completes at once, one event per transition, and the buttons say so."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.web.conftest import engine_heartbeat
from trading import control, selectors, services
from trading.liveness import owner_is_dead
from trading.models import EngineEvent, EngineState

State = EngineState.State
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def dead_owner() -> str:
    """The claim of a process on this machine that has exited (its pid is not reused while the test runs)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return f"{socket.gethostname()}:{process.pid}"


def moves() -> list[tuple[str, str, str]]:
    rows = EngineEvent.objects.filter(kind=EngineEvent.Kind.STATE_CHANGED).order_by("id")
    return [(row.meta["from"], row.meta["to"], row.actor) for row in rows]


def test_a_process_that_exited_is_dead_and_this_one_is_not(dead_owner):
    assert owner_is_dead(dead_owner)
    assert not owner_is_dead(f"{socket.gethostname()}:{__import__('os').getpid()}")
    assert not owner_is_dead("another-machine:1")  # only its heartbeat can tell
    assert not owner_is_dead("")


def test_stopping_with_a_dead_owner_and_a_fresh_heartbeat_stops_at_once(dead_owner):
    engine_heartbeat(state=State.STOPPING, owner=dead_owner)
    assert not selectors.engine_online(EngineState.load())  # dead before its heartbeat goes stale

    done = control.engine_command(action="stop", actor="user:alice")

    assert (done.transition.old, done.transition.new) == (State.STOPPING, State.IDLE)
    assert done.completed_offline
    assert EngineState.load().state == State.IDLE
    assert moves() == [(State.STOPPING, State.IDLE, "user:alice")]
    assert EngineEvent.objects.get(kind=EngineEvent.Kind.STATE_CHANGED).meta["reason"] == control.OFFLINE_STOP_REASON


def test_stopping_with_a_stale_heartbeat_stops_at_once(settings):
    engine_heartbeat(state=State.STOPPING, heartbeat_at=timezone.now() - timedelta(seconds=settings.ENGINE_STALE_AFTER_SEC + 1))
    done = control.engine_command(action="stop", actor="api-token")
    assert done.transition.new == State.IDLE
    assert moves() == [(State.STOPPING, State.IDLE, "api-token")]


def test_running_with_a_dead_owner_stops_in_two_recorded_steps(dead_owner):
    engine_heartbeat(state=State.RUNNING, owner=dead_owner)
    done = control.engine_command(action="stop", actor="user:alice")
    assert done.transition.new == State.IDLE
    assert moves() == [(State.RUNNING, State.STOPPING, "user:alice"), (State.STOPPING, State.IDLE, "user:alice")]


def test_stopping_with_a_live_engine_waits_for_it():
    engine_heartbeat(state=State.STOPPING)
    with pytest.raises(services.TransitionNotAllowed) as refusal:
        control.engine_command(action="stop", actor="user:alice")
    assert refusal.value.code == "stop_not_allowed"
    assert control.engine_stopping_settle(actor="web").state == State.STOPPING
    assert moves() == []


def test_idle_with_no_engine_still_refuses_stop():
    EngineState.load()
    with pytest.raises(services.TransitionNotAllowed) as refusal:
        control.engine_command(action="stop", actor="user:alice")
    assert (refusal.value.code, refusal.value.current) == ("stop_not_allowed", State.IDLE)


def test_start_on_a_stale_stopping_settles_it_then_asks_for_the_engine(dead_owner):
    engine_heartbeat(state=State.STOPPING, owner=dead_owner)
    with pytest.raises(services.EngineOffline):
        control.engine_command(action="start", actor="user:alice")
    assert EngineState.load().state == State.IDLE
    assert moves() == [(State.STOPPING, State.IDLE, "user:alice")]


def test_settling_happens_once_however_often_it_is_asked(dead_owner):
    engine_heartbeat(state=State.STOPPING, owner=dead_owner)
    assert control.engine_stopping_settle(actor="web").state == State.IDLE
    assert control.engine_stopping_settle(actor="web").state == State.IDLE
    assert moves() == [(State.STOPPING, State.IDLE, "web")]


@pytest.mark.parametrize(
    ("state", "online", "expected"),
    [
        (State.STOPPING, False, {"start": False, "stop": True, "reset": False}),
        (State.STOPPING, True, {"start": False, "stop": False, "reset": False}),
        (State.RUNNING, False, {"start": False, "stop": True, "reset": False}),
        (State.IDLE, False, {"start": True, "stop": False, "reset": False}),
        (State.ERROR, False, {"start": False, "stop": False, "reset": True}),
    ],
)
def test_stop_is_offered_wherever_it_would_complete(state, online, expected):
    assert selectors.allowed_actions(state, engine_online=online) == expected
