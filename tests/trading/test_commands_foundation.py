"""The set-up commands a person runs: ensureadmin and backup."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command
from django.db import connection, connections

from tests.factories import EngineEventFactory
from trading.models import EngineEvent, EngineState

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_ensureadmin_generates_and_prints_a_password_once(monkeypatch, capsys):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "operator")
    call_command("ensureadmin")
    printed = capsys.readouterr().out
    user = get_user_model().objects.get(username="operator")
    password = printed.split("with password ")[1].split()[0]
    assert user.is_superuser
    assert user.check_password(password)
    validate_password(password, user=user)  # a generated password meets the same rules as a given one
    call_command("ensureadmin")
    assert capsys.readouterr().out == ""
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_ensureadmin_uses_the_given_password(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct horse battery")
    call_command("ensureadmin")
    assert get_user_model().objects.get(username="boss").check_password("correct horse battery")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short", "This password is too short. It must contain at least 8 characters."),
        ("password", "This password is too common."),
        ("84736251940", "This password is entirely numeric."),
        ("bossbossboss", "The password is too similar to the username."),
    ],
)
def test_ensureadmin_applies_the_password_validators(monkeypatch, password, says):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "bossbossboss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD is refused: ") as refused:
        call_command("ensureadmin")
    assert says in str(refused.value)
    assert not get_user_model().objects.exists()


def test_ensureadmin_with_a_weak_password_exits_non_zero(tmp_path):
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_PASSWORD="password",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, capture_output=True, timeout=120)

    result = subprocess.run([*manage, "ensureadmin"], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "DJANGO_SUPERUSER_PASSWORD is refused: This password is too common." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_backup_is_consistent_while_another_thread_keeps_writing(tmp_path):
    if connection.vendor != "sqlite":
        with pytest.raises(CommandError, match="pg_dump"):
            call_command("backup", str(tmp_path / "copy.sqlite3"))
        return
    EngineState.load()
    EngineEventFactory.create_batch(500)
    stop = threading.Event()

    def keep_writing() -> None:
        try:
            while not stop.is_set():
                EngineEventFactory.create_batch(20)
                time.sleep(0.001)
        finally:
            connections.close_all()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        target = tmp_path / "copy.sqlite3"
        call_command("backup", str(target))
    finally:
        stop.set()
        writer.join()
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = copy.execute("SELECT COUNT(*) FROM trading_engineevent").fetchone()[0]
        assert copy.execute("SELECT state FROM trading_enginestate WHERE id = 1").fetchone()[0] == "IDLE"
    finally:
        copy.close()
    assert 500 <= copied <= EngineEvent.objects.count()
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", str(target))
