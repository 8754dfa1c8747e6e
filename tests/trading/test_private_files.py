"""The database, its -wal/-shm, backups and .env are readable by their owner only: created 0600, and
tightened (with one warning naming the file and its old mode) when a process first opens the database."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from trading.files import private_file_tighten, private_files_forget, private_files_tighten

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_loose_database_wal_shm_and_env_are_tightened_at_start_with_one_warning_each(tmp_path):
    database = tmp_path / "db.sqlite3"
    env_file = tmp_path / "dot.env"
    env_file.write_text("# settings come from the environment in this test\n")
    # Another process (the engine) has the database open in WAL mode, so -wal and -shm exist.
    holder = sqlite3.connect(database)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("CREATE TABLE t (x)")
        holder.execute("INSERT INTO t VALUES (1)")
        holder.commit()
        files = [database, database.with_name("db.sqlite3-wal"), database.with_name("db.sqlite3-shm"), env_file]
        for path in files:
            path.chmod(0o644)

        result = run_manage(
            "showmigrations", "trading", env={"DATABASE_URL": f"sqlite:///{database}", "AUTOCOIN_ENV_FILE": str(env_file)}
        )

        assert result.returncode == 0, result.stderr
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
        warnings = [line for line in result.stderr.splitlines() if "readable by others" in line]
        assert len(warnings) == len(files), result.stderr
        for path in files:
            assert any(line.endswith(f"{path} was readable by others (mode 0644); changed to 0600") for line in warnings)
    finally:
        holder.close()


@pytest.mark.slow
def test_a_new_database_is_0600_and_so_are_the_wal_and_shm_sqlite_creates_later(tmp_path):
    database = tmp_path / "new.sqlite3"

    result = run_manage("migrate", "--no-input", "-v", "0", env={"DATABASE_URL": f"sqlite:///{database}"})

    assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600
    assert "readable by others" not in result.stderr
    # A writer in a process without the umask (this one): SQLite gives -wal and -shm the database's mode.
    writer = sqlite3.connect(database)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE later (x)")
        writer.commit()
        assert mode(database.with_name("new.sqlite3-wal")) == 0o600
        assert mode(database.with_name("new.sqlite3-shm")) == 0o600
    finally:
        writer.close()


@pytest.mark.django_db(transaction=True)
def test_a_backup_is_0600_even_in_a_process_with_an_open_umask(tmp_path, settings):
    if connection.vendor != "sqlite":
        pytest.skip("backup copies SQLite databases only")
    previous = os.umask(0o022)
    try:
        settings.BACKUP_DIR = tmp_path / "backups"
        call_command("backup")
    finally:
        os.umask(previous)
    (copy,) = (tmp_path / "backups").iterdir()
    assert mode(copy) == 0o600
    assert mode(tmp_path / "backups") == 0o700


def test_bootstrap_writes_a_new_env_0600_and_tightens_one_it_rewrites(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import bootstrap
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    example = tmp_path / "example"
    example.write_text("DJANGO_SECRET_KEY=\nPAPER_MODE=true\n")
    previous = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.env"
        assert bootstrap.write_env(fresh, example)
        loose = tmp_path / "loose.env"
        loose.write_text("DJANGO_SECRET_KEY=\n")
        loose.chmod(0o644)
        assert bootstrap.write_env(loose, example)
    finally:
        os.umask(previous)
    assert (mode(fresh), mode(loose)) == (0o600, 0o600)
    assert "DJANGO_SECRET_KEY=\n" not in loose.read_text()


def test_backups_and_env_are_tightened_once_per_process_at_the_first_connection(tmp_path, settings, caplog):
    backups = tmp_path / "backups"
    backups.mkdir()
    old_copy = backups / "autocoin-20260101T000000Z.sqlite3"
    old_copy.write_bytes(b"")
    env_file = tmp_path / ".env"
    env_file.write_text("X=1\n")
    for path in (old_copy, env_file):
        path.chmod(0o640)
    settings.BACKUP_DIR = backups
    settings.ENV_FILE_PATH = env_file
    private_files_forget()
    try:
        with caplog.at_level(logging.WARNING, logger="trading.files"):
            private_files_tighten({"ENGINE": "django.db.backends.postgresql", "NAME": "autocoin"})
            env_file.chmod(0o644)
            private_files_tighten({"ENGINE": "django.db.backends.postgresql", "NAME": "autocoin"})
    finally:
        private_files_forget()
    assert mode(old_copy) == 0o600
    assert mode(env_file) == 0o644  # the second call in the same process did not look again
    assert [record.getMessage() for record in caplog.records] == [
        f"{env_file} was readable by others (mode 0640); changed to 0600",
        f"{old_copy} was readable by others (mode 0640); changed to 0600",
    ]


def test_a_private_file_is_left_alone_and_a_missing_one_is_no_error(tmp_path, caplog):
    private = tmp_path / "private"
    private.write_text("")
    private.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="trading.files"):
        assert private_file_tighten(private) is False
        assert private_file_tighten(tmp_path / "missing") is False
    assert caplog.records == []
