"""Sessions live in the database and are read from this process's memory (settings SESSION_ENGINE): a poll asks
no session query, and signing out still ends the session everywhere it is kept."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _signed_in(operator) -> Client:
    client = Client()
    assert client.post(reverse("admin:login"), {"username": operator.username, "password": PASSWORD}).status_code == 302
    return client


def test_a_poll_reads_no_session_row(operator):
    client = _signed_in(operator)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/panels/signals").status_code == 200
    assert not [query for query in queries if "django_session" in query["sql"]]


def test_the_session_is_stored_in_the_database_too(operator):
    client = _signed_in(operator)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert Session.objects.filter(session_key=key).exists()
    caches["sessions"].clear()  # a restarted process: memory empty, the database remembers
    assert client.get("/panels/signals").status_code == 200


def test_signing_out_ends_the_session_in_memory_and_in_the_database(operator):
    client = _signed_in(operator)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/panels/signals").status_code == 200
    assert client.post(reverse("admin:logout")).status_code == 200
    assert not Session.objects.filter(session_key=key).exists()
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = key  # the old cookie, kept by someone
    assert stale.get("/panels/signals").status_code == 302
    assert stale.get("/api/engine/status").status_code == 401


def test_a_changed_password_ends_other_sessions(operator):
    client = _signed_in(operator)
    assert client.get("/panels/signals").status_code == 200
    operator.set_password("another-password-123")
    operator.save()
    assert client.get("/panels/signals").status_code == 302


def test_a_deactivated_account_is_refused_at_once(operator):
    client = _signed_in(operator)
    assert client.get("/panels/signals").status_code == 200
    operator.is_active = False
    operator.save()
    assert client.get("/panels/signals").status_code == 302
