from __future__ import annotations

import pytest
from django.core.cache import cache

pytest_plugins = ["tests.sandbox_fixtures"]


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """The small test override: fast password hashing, and static files without a collected manifest."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The cache counts wrong API tokens per address: each test starts with none counted."""
    cache.clear()
    yield
    cache.clear()
