from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import USER_PASSWORD, UserFactory
from trading import selectors
from trading.models import EngineState

API_TOKEN = "test-api-token-0123456789abcdef"
API_USER = "api-operator"
PASSWORD = USER_PASSWORD
UPBIT_ACCESS = "UPBITACCESSKEYknownvalue1234567890"
UPBIT_SECRET = "UPBITSECRETKEYknownvalue0987654321"


@pytest.fixture(autouse=True)
def _web_settings(settings):
    # The manifest storage needs `collectstatic`; tests render pages without it.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.AUTOCOIN_API_TOKEN = API_TOKEN
    settings.AUTOCOIN_API_USER = API_USER
    settings.UPBIT_ACCESS_KEY = UPBIT_ACCESS
    settings.UPBIT_SECRET_KEY = UPBIT_SECRET
    settings.LANGUAGE_CODE = "en"
    selectors.equity_cache_clear()
    yield
    selectors.equity_cache_clear()


@pytest.fixture
def operator(db):
    return UserFactory(username="operator", groups=["Operators"])


@pytest.fixture
def session_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def csrf_client(operator) -> Client:
    """A logged-in browser-like client that enforces CSRF, as a real browser session does."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    return client


@pytest.fixture
def api_user(db):
    """The account the API token acts as (AUTOCOIN_API_USER): an Operator, unless a test says otherwise."""
    return UserFactory(username=API_USER, is_staff=False, groups=["Operators"])


@pytest.fixture
def token_client(api_user) -> Client:
    return Client(headers={"Authorization": f"Bearer {API_TOKEN}"}, enforce_csrf_checks=True)


def engine_heartbeat(*, state: str | None = None, **fields) -> EngineState:
    """What a live engine process writes every cycle: its claim and a fresh heartbeat."""
    EngineState.load()
    values = {"owner": "testhost:4242", "heartbeat_at": timezone.now(), **fields}
    if state:
        values["state"] = state
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(**values)
    return EngineState.load()


@pytest.fixture
def engine_online(db) -> EngineState:
    return engine_heartbeat()
