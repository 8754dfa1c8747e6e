"""Where Optuna keeps a study, chosen by the project's database.

- PostgreSQL: Optuna's RDB storage in the same database (its own tables: `studies`, `trials`, …), reached
  with the connection settings Django uses. Any number of machines pointed at that database with the
  same `--study` join one study; a heartbeat marks the trials of a machine that died as failed.
- SQLite: Optuna's journal file next to the database file (`<database>.optuna-journal`), which several
  processes on this machine can append to safely (a lock file guards each append).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import optuna
import psycopg
from django.db import connection
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

TABLES_LOCK = 0x6F707475  # a PostgreSQL advisory lock key of our own ("optu")
HEARTBEAT_SEC = 10
GRACE_SEC = 60
"""A running trial whose process has not beaten for this long is failed (its process is gone)."""


def _postgres_url() -> str:
    settings = connection.settings_dict
    user = quote(str(settings.get("USER") or ""), safe="")
    password = settings.get("PASSWORD") or ""
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgresql+psycopg://{auth}{host}:{port}/{quote(str(settings['NAME']), safe='')}"


def _postgres_connection() -> psycopg.Connection[Any]:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings.get("HOST") or "127.0.0.1",
        port=int(settings.get("PORT") or 5432),
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        dbname=settings["NAME"],
        connect_timeout=5,
        autocommit=True,
    )


def journal_path() -> Path:
    return Path(str(connection.settings_dict["NAME"])).with_suffix(".optuna-journal")


def storage_description() -> str:
    """Where the study lives, for a person (never the password)."""
    if connection.vendor == "postgresql":
        settings = connection.settings_dict
        return f"postgresql {settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/{settings['NAME']}"
    return f"journal {journal_path()}"


def open_storage() -> BaseStorage:
    """A new storage object; each process opens its own (never shared across a fork)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if connection.vendor == "postgresql":
        # Opening creates Optuna's tables when missing: machines starting together on a new database take
        # turns, or two would create the same table (or enum type) at once and one would fail.
        # A connection of its own, not Django's: a forked worker must not share its parent's pooled connections.
        with _postgres_connection() as lock, warnings.catch_warnings():
            lock.execute("SELECT pg_advisory_lock(%s)", [TABLES_LOCK])
            try:
                # The heartbeat is marked experimental; it is what fails the trials of a machine that died.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    _postgres_url(),
                    engine_kwargs={"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}},
                    heartbeat_interval=HEARTBEAT_SEC,
                    grace_period=GRACE_SEC,
                )
            finally:
                lock.execute("SELECT pg_advisory_unlock(%s)", [TABLES_LOCK])
    path = journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def counts_running(storage: BaseStorage) -> bool:
    """Whether a running trial in `storage` is known to be alive (a heartbeat fails it otherwise), so it may
    count toward the number of trials asked for."""
    return isinstance(storage, RDBStorage)


def close_storage(storage: BaseStorage) -> None:
    """Close the storage's database connections (an RDB storage keeps a pool open otherwise)."""
    if isinstance(storage, RDBStorage):
        storage.engine.dispose()
