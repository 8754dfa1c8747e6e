"""The engine state machine: every allowed and forbidden transition, one event each, a clear refusal."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, connections, transaction

from trading import services
from trading.models import EngineEvent, EngineState

State = EngineState.State

TRANSITIONS = {
    "start": (services.engine_start, {"actor": "user:alice"}),
    "stop": (services.engine_stop, {"actor": "user:alice"}),
    "stop_complete": (services.engine_stop_complete, {"actor": "engine"}),
    "fail": (services.engine_fail, {"actor": "engine", "error": "exchange said no"}),
    "reset": (services.engine_reset, {"actor": "user:alice"}),
}

ALLOWED = {
    ("start", State.IDLE): State.RUNNING,
    ("stop", State.RUNNING): State.STOPPING,
    ("stop_complete", State.STOPPING): State.IDLE,
    ("fail", State.RUNNING): State.ERROR,
    ("fail", State.STOPPING): State.ERROR,
    ("reset", State.ERROR): State.IDLE,
}


def put_engine_in(state: str) -> None:
    EngineState.objects.filter(pk=1).update(state=state)


@pytest.mark.django_db(transaction=True)
def test_the_migration_creates_the_state_row():
    call_command("migrate", "trading", "0001", verbosity=0)
    EngineState.objects.all().delete()
    call_command("migrate", "trading", verbosity=0)
    assert EngineState.objects.get(pk=1).state == State.IDLE


@pytest.mark.django_db
def test_a_second_state_row_is_refused_by_the_database():
    EngineState.load()
    with pytest.raises(IntegrityError), transaction.atomic():
        EngineState.objects.create(id=2)


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "start_state"), [(a, s) for a in TRANSITIONS for s in State.values])
def test_every_transition_from_every_state(action, start_state):
    put_engine_in(start_state)
    events_before = EngineEvent.objects.count()
    function, kwargs = TRANSITIONS[action]
    expected = ALLOWED.get((action, start_state))
    if expected is None:
        with pytest.raises(services.TransitionNotAllowed) as refusal:
            function(**kwargs)
        assert refusal.value.current == start_state
        assert f"the engine is {start_state}" in refusal.value.message
        assert EngineState.load().state == start_state
        assert EngineEvent.objects.count() == events_before
    else:
        transition = function(**kwargs)
        assert (transition.old, transition.new) == (start_state, expected)
        row = EngineState.load()
        assert row.state == expected
        assert row.state_changed_by == kwargs["actor"]
        event = EngineEvent.objects.latest("id")
        assert EngineEvent.objects.count() == events_before + 1
        assert event.kind == EngineEvent.Kind.STATE_CHANGED
        assert event.actor == kwargs["actor"]
        assert event.meta == {"from": start_state, "to": expected, "reason": row.state_reason}
        assert event.state == expected


@pytest.mark.django_db
def test_reset_refusal_reads_like_a_sentence():
    put_engine_in(State.RUNNING)
    with pytest.raises(services.TransitionNotAllowed) as refusal:
        services.engine_reset(actor="user:alice")
    assert str(refusal.value).startswith("Reset is only possible from ERROR; the engine is RUNNING")


@pytest.mark.django_db
def test_kill_switch_is_persisted_until_reset():
    services.engine_start(actor="user:alice")
    services.engine_fail(actor="engine", error="daily loss 60,000 KRW exceeds 50,000 KRW", kill_switch=True)
    row = EngineState.load()
    assert row.state == State.ERROR
    assert row.kill_switch is True
    assert "daily loss" in row.kill_switch_reason
    assert row.last_error.startswith("daily loss")
    with pytest.raises(services.TransitionNotAllowed, match="press Reset first"):
        services.engine_start(actor="user:alice")
    services.engine_reset(actor="user:alice")
    row = EngineState.load()
    assert (row.state, row.kill_switch, row.kill_switch_reason) == (State.IDLE, False, "")


@pytest.mark.django_db
def test_live_mode_without_keys_refuses_to_start(settings):
    settings.PAPER_MODE = False
    settings.UPBIT_ACCESS_KEY = ""
    settings.UPBIT_SECRET_KEY = "s3cret"
    with pytest.raises(services.TransitionNotAllowed) as refusal:
        services.engine_start(actor="user:alice")
    assert "UPBIT_ACCESS_KEY" in refusal.value.message
    assert "PAPER_MODE=true" in refusal.value.message
    assert EngineState.load().state == State.IDLE


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_starts_make_exactly_one_transition_and_one_event():
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def press_start(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            services.engine_start(actor=f"user:clicker{number}")
            result = "started"
        except services.TransitionNotAllowed:
            result = "refused"
        except Exception as error:  # noqa: BLE001 - any other failure is what this test looks for
            result = f"error: {error!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=press_start, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["refused"] * 19 + ["started"], outcomes
    assert EngineState.load().state == State.RUNNING
    assert EngineEvent.objects.filter(kind=EngineEvent.Kind.STATE_CHANGED).count() == 1
    assert connection.vendor in ("sqlite", "postgresql")
