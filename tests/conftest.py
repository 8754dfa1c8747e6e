from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.cache import cache, caches
from django.utils import timezone, translation
from factory.django import DjangoModelFactory

from tests import factories
from trading.models import EngineState

pytest_plugins = ["tests.sandbox_fixtures"]

DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-tests",
        action="store_true",
        help=(
            "run only the tests that reach the database (its marker or fixtures) or start processes, the browser tests "
            "excepted: what a second database can change (CI's PostgreSQL run)"
        ),
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --database-tests, leave out what runs the same on any database: a test that never reaches the database
    (pytest-django refuses it any access), and the browser tests, whose pages ask the views' own queries."""
    if not config.getoption("--database-tests"):
        return
    kept, left_out = [], []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        reaches = item.get_closest_marker("django_db") or fixtures & DATABASE_FIXTURES or item.get_closest_marker("slow")
        (kept if reaches and not item.get_closest_marker("browser") else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """The small test override: fast password hashing, static files without a collected manifest, and no columnar
    candle copy (factories write candles past `candles_store`; the copy's own tests turn it on in a temporary folder)."""
    settings.CANDLE_CACHE_DIR = None
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a Korean request through the test client leaves Korean active in
    the worker's thread (LocaleMiddleware activates it and nothing switches back), and a later test of a command
    would then read Korean messages that a fresh process never would."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The cache counts wrong API tokens per address: each test starts with none counted, and with no session kept."""
    cache.clear()
    caches["sessions"].clear()
    yield
    cache.clear()
    caches["sessions"].clear()


@pytest.fixture(autouse=True)
def _fresh_factory_sequences() -> None:
    """Every test starts the factories' sequences at 0, so what a factory makes (dates, identifiers) does not
    depend on which tests ran before it in this process (random order, parallel workers)."""
    for factory in vars(factories).values():
        if isinstance(factory, type) and issubclass(factory, DjangoModelFactory) and factory is not DjangoModelFactory:
            factory.reset_sequence(force=True)


class FrozenClock:
    """Django's clock held at one instant; `advance` moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def frozen_now(monkeypatch) -> FrozenClock:
    """`django.utils.timezone.now` (and with it `localdate`, session expiry and `auto_now`) held at the current
    second: the day, the minute and every age a test sets up stay as the test made them while it runs. Model
    fields declared with `default=timezone.now` keep the real clock (they hold the function itself)."""
    clock = FrozenClock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr(timezone, "now", clock)
    return clock


def engine_running_online() -> None:
    """The engine as a live process leaves it while trading: RUNNING, claimed, heartbeat fresh. Manual orders
    are accepted only then."""
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(
        state=EngineState.State.RUNNING, owner="testhost:4242", heartbeat_at=timezone.now()
    )


@pytest.fixture
def engine_running(db) -> None:
    engine_running_online()
