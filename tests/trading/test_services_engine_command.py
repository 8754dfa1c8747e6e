"""Start, Stop and Reset as a person presses them (dashboard, API, admin): the rules about the engine
process, and refusals that carry a code and read the same in English as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from tests.web.conftest import engine_heartbeat
from trading import control, services
from trading.labels import code_label
from trading.models import EngineEvent, EngineState

State = EngineState.State
pytestmark = pytest.mark.django_db


def test_start_is_refused_while_the_engine_process_is_offline():
    with pytest.raises(services.EngineOffline) as refusal:
        control.engine_command(action="start", actor="user:alice")
    assert refusal.value.code == "engine_offline"
    assert refusal.value.current == State.IDLE
    assert refusal.value.message == (
        "Start refused: the engine process is offline; start it with `python manage.py runengine` (or `make run`), "
        "then press Start again"
    )
    assert EngineState.load().state == State.IDLE
    assert not EngineEvent.objects.filter(kind=EngineEvent.Kind.STATE_CHANGED).exists()


def test_a_stale_heartbeat_counts_as_offline(settings):
    engine_heartbeat(heartbeat_at=timezone.now() - timedelta(seconds=settings.ENGINE_STALE_AFTER_SEC + 5))
    with pytest.raises(services.EngineOffline):
        control.engine_command(action="start", actor="user:alice")


def test_start_with_the_engine_process_online_runs():
    engine_heartbeat()
    done = control.engine_command(action="start", actor="user:alice", reason="morning")
    assert (done.transition.old, done.transition.new) == (State.IDLE, State.RUNNING)
    assert done.note == ""
    assert EngineState.load().state_reason == "morning"


def test_live_mode_without_keys_names_the_missing_key_rather_than_the_offline_engine(settings):
    settings.PAPER_MODE = False
    settings.UPBIT_ACCESS_KEY = "a"
    settings.UPBIT_SECRET_KEY = ""
    with pytest.raises(services.TransitionNotAllowed) as refusal:
        control.engine_command(action="start", actor="user:alice")
    assert not isinstance(refusal.value, services.EngineOffline)
    assert refusal.value.code == "live_keys_missing"
    assert refusal.value.params["missing"] == "UPBIT_SECRET_KEY"
    assert "needs UPBIT_SECRET_KEY; set them in .env" in refusal.value.message


def test_stop_with_the_engine_process_online_waits_for_the_cycle():
    engine_heartbeat(state=State.RUNNING)
    done = control.engine_command(action="stop", actor="user:alice")
    assert done.transition.new == State.STOPPING
    assert done.note == ""
    assert EngineState.load().state == State.STOPPING


def test_stop_with_the_engine_process_offline_completes_at_once():
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state=State.RUNNING)
    done = control.engine_command(action="stop", actor="user:alice")
    assert (done.transition.old, done.transition.new) == (State.STOPPING, State.IDLE)
    assert done.completed_offline
    assert done.note == "The engine process is offline, so the stop completed at once."
    moves = list(
        EngineEvent.objects.filter(kind=EngineEvent.Kind.STATE_CHANGED).order_by("id").values_list("meta__to", flat=True)
    )
    assert moves == [State.STOPPING, State.IDLE]


def test_reset_works_without_the_engine_process():
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state=State.ERROR, kill_switch=True)
    done = control.engine_command(action="reset", actor="admin:root")
    assert done.transition.new == State.IDLE
    assert EngineState.load().kill_switch is False


def test_an_unknown_command_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown engine action 'launch'"):
        control.engine_command(action="launch", actor="user:alice")


@pytest.mark.parametrize(
    ("state", "action", "code", "sentence"),
    [
        (State.RUNNING, "start", "start_not_allowed", "Start is only possible from IDLE; the engine is RUNNING"),
        (State.ERROR, "start", "start_after_error", "Start is only possible from IDLE; the engine is ERROR (press Reset first)"),
        (State.IDLE, "stop", "stop_not_allowed", "Stop is only possible from RUNNING; the engine is IDLE"),
        (
            State.RUNNING,
            "reset",
            "reset_while_running",
            "Reset is only possible from ERROR; the engine is RUNNING (Reset is for clearing an error; use Stop)",
        ),
        (State.STOPPING, "reset", "reset_not_allowed", "Reset is only possible from ERROR; the engine is STOPPING"),
    ],
)
def test_a_refused_command_has_a_code_and_says_why(state, action, code, sentence):
    engine_heartbeat(state=state)
    with pytest.raises(services.TransitionNotAllowed) as refusal:
        control.engine_command(action=action, actor="user:alice")
    assert (refusal.value.code, refusal.value.current) == (code, state)
    assert refusal.value.message == sentence == str(refusal.value)
    # The Korean sentence names the same state, by its Korean name as the badge shows it; the English one stays
    # the message (logs, the API).
    with translation.override("ko"):
        korean = refusal.value.text()
        state_name = code_label(state, "state")
    assert korean != sentence
    assert state_name != state
    assert state_name in korean
    assert any("\uac00" <= char <= "\ud7a3" for char in korean)
    assert EngineState.load().state == state
