"""Whether the process named in the engine's claim still exists, and whether the database answers quickly.

The web reads the first (a Stop with no engine alive completes at once) and the engine reads it (a crashed
engine's claim is taken over at once), so it lives below both. Monitors read the second."""

from __future__ import annotations

import os
import socket

import psycopg
from django.db import connection


def owner_is_dead(owner: str) -> bool:
    """True when `owner` ("host:pid") names a process on this machine that no longer exists.

    An owner on another machine, or one this process may not signal, is never called dead: only its
    heartbeat going stale can tell."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def database_answers_within(timeout_sec: float) -> bool:
    """False when PostgreSQL's connection pool cannot hand out a connection within `timeout_sec`: with the server
    down, every request would otherwise wait the pool's own timeout (5 s) before failing, too long for a monitor's
    probe. True for SQLite (it fails at once by itself) and whenever this thread already holds a connection."""
    pool = getattr(connection, "pool", None)
    if pool is None or connection.connection is not None:
        return True
    try:
        pool.open()
        handed = pool.getconn(timeout=timeout_sec)
    except psycopg.Error:  # the pool's timeout, or a pool closed meanwhile
        return False
    pool.putconn(handed)
    return True
