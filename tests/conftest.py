from __future__ import annotations

import pytest

pytest_plugins = ["tests.sandbox_fixtures"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
