"""`enginectl pause|resume` and what `enginectl status` says about paused entries."""

from __future__ import annotations

import getpass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from trading.models import EngineEvent, EngineState
from trading.schedule_models import PauseWindow

pytestmark = pytest.mark.django_db


def run(*args: str, capsys) -> str:
    call_command("enginectl", *args)
    return capsys.readouterr().out


def test_pause_and_resume_from_the_terminal(capsys):
    paused = run("pause", "--reason", "FOMC tonight", capsys=capsys)

    assert "new entries paused" in paused
    assert f"entries paused (by cli:{getpass.getuser()}: FOMC tonight)" in paused
    state = EngineState.load()
    assert state.entries_paused
    assert state.entries_paused_by == f"cli:{getpass.getuser()}"
    assert "new entries were already paused" in run("pause", capsys=capsys)
    assert EngineEvent.objects.filter(meta__what="entries_pause").count() == 1

    resumed = run("resume", capsys=capsys)
    assert "new entries resumed" in resumed
    assert "entries paused" not in resumed.splitlines()[-1]
    assert not EngineState.load().entries_paused
    assert "new entries were not paused" in run("resume", capsys=capsys)


def test_status_names_the_schedule_window_in_force(capsys):
    now = timezone.now()
    PauseWindow.objects.create(label="Upbit maintenance", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1))

    assert "entries paused (schedule window 'Upbit maintenance' until" in run("status", capsys=capsys)
