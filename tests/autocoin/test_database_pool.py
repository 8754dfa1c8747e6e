"""PostgreSQL's connection pool never hands out a connection the server has ended (a restart, a failover, an
administrator's `pg_terminate_backend`): the next request gets a fresh one instead of an error."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from tests.waiting import wait_until
from trading.models import EngineState

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the pool is PostgreSQL's"),
]


def admin_connection(dbname: str = "postgres", *, autocommit: bool = True) -> psycopg.Connection:
    """A connection of the test's own, outside Django's pool, to the server the tests use."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        user=settings.get("USER") or "postgres",
        password=settings.get("PASSWORD") or None,
        dbname=dbname,
        autocommit=autocommit,
    )


def test_a_connection_ended_by_the_server_is_not_handed_out_again(client):
    # A pool of this test's own: connections earlier tests in this process left checked out (threads that never
    # gave theirs back) would otherwise fill it, and the request below would wait for one in vain.
    connection.close()
    connection.close_pool()
    EngineState.load()
    connection.close()  # back to the pool, still open as far as the pool knows
    # Take a connection from the pool and give it back, so the pool surely holds one the server is about to end.
    with connection.pool.connection() as pooled:
        held = pooled.info.backend_pid
    name = connection.settings_dict["NAME"]
    with admin_connection() as admin:
        ended = [row[0] for row in admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])]
        for pid in ended:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert held in ended, "the pool's connection was not among those ended"
        wait_until(
            lambda: admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", [ended]).fetchone() is None,
            timeout=10,
            message="the backends never ended",
        )

    assert client.get("/healthz").status_code == 200
    assert EngineState.load().pk == EngineState.SINGLETON_PK
    assert connection.connection.info.backend_pid not in ended
