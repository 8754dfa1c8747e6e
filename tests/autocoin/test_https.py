"""DJANGO_HTTPS=true makes autocoin ready to run behind an HTTPS reverse proxy, and `check --deploy` agrees."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.autocoin.test_settings import ROOT, load_settings, refused

HTTPS_NAMES = ("DJANGO_HTTPS", "DJANGO_HSTS_SECONDS", "DJANGO_HSTS_INCLUDE_SUBDOMAINS", "DJANGO_SSL_REDIRECT")


@pytest.fixture
def clean_env(monkeypatch):
    for name in (*HTTPS_NAMES, "DJANGO_CSRF_TRUSTED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_https_is_off_by_default(clean_env):
    loaded = load_settings(clean_env)

    assert (loaded["SESSION_COOKIE_SECURE"], loaded["CSRF_COOKIE_SECURE"]) == (False, False)
    assert (loaded["SECURE_HSTS_SECONDS"], loaded["SECURE_PROXY_SSL_HEADER"], loaded["SECURE_SSL_REDIRECT"]) == (0, None, False)
    assert loaded["CSRF_TRUSTED_ORIGINS"] == []


def test_django_https_turns_on_secure_cookies_hsts_and_the_proxy_header(clean_env):
    loaded = load_settings(
        clean_env, DJANGO_HTTPS="true", DJANGO_CSRF_TRUSTED_ORIGINS="https://console.example.com, https://*.example.net:8443"
    )

    assert (loaded["SESSION_COOKIE_SECURE"], loaded["CSRF_COOKIE_SECURE"]) == (True, True)
    assert loaded["SECURE_HSTS_SECONDS"] == 31536000
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert loaded["SECURE_SSL_REDIRECT"] is False
    assert loaded["CSRF_TRUSTED_ORIGINS"] == ["https://console.example.com", "https://*.example.net:8443"]


def test_subdomains_and_the_redirect_are_opt_ins(clean_env):
    loaded = load_settings(
        clean_env,
        DJANGO_HTTPS="true",
        DJANGO_HSTS_INCLUDE_SUBDOMAINS="true",
        DJANGO_SSL_REDIRECT="true",
        DJANGO_HSTS_SECONDS="600",
    )

    assert (loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"], loaded["SECURE_SSL_REDIRECT"], loaded["SECURE_HSTS_SECONDS"]) == (
        True,
        True,
        600,
    )
    assert "security.W005" not in loaded["SILENCED_SYSTEM_CHECKS"]
    assert "security.W008" not in loaded["SILENCED_SYSTEM_CHECKS"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"DJANGO_HTTPS": "maybe"}, "DJANGO_HTTPS='maybe' is not a boolean"),
        (
            {"DJANGO_CSRF_TRUSTED_ORIGINS": "http://console.example.com"},
            "'http://console.example.com', which is not an https origin",
        ),
        ({"DJANGO_CSRF_TRUSTED_ORIGINS": "https://console.example.com/admin"}, "is not an https origin"),
        ({"DJANGO_CSRF_TRUSTED_ORIGINS": "console.example.com"}, "is not an https origin"),
        ({"DJANGO_SSL_REDIRECT": "true"}, "DJANGO_SSL_REDIRECT=true needs DJANGO_HTTPS=true"),
        ({"DJANGO_HSTS_SECONDS": "-1"}, "DJANGO_HSTS_SECONDS='-1' is out of range"),
    ],
)
def test_bad_https_values_are_refused_in_one_line(clean_env, capsys, values, expected):
    assert expected in refused(clean_env, capsys, **values)


@pytest.mark.slow
def test_check_deploy_passes_with_https_on_and_debug_off():
    # A deployment's environment: only what it sets, not this test run's (no .env, no test-only variables).
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "AUTOCOIN_ENV_FILE": os.devnull,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_DEBUG": "false",
        "DJANGO_HTTPS": "true",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://console.example.com",
        "DJANGO_ALLOWED_HOSTS": "console.example.com,127.0.0.1",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


@pytest.mark.django_db
def test_behind_the_proxy_the_login_sets_secure_cookies_and_hsts_and_trusts_the_public_origin(settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example.com"]
    get_user_model().objects.create_user("operator", password="operator-password-1", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    form = {
        "username": "operator",
        "password": "operator-password-1",
        "next": "/",
        "csrfmiddlewaretoken": page.context["csrf_token"],
    }

    foreign = client.post("/admin/login/?next=/", form, headers={"X-Forwarded-Proto": "https", "Origin": "https://evil.example"})
    response = client.post(
        "/admin/login/?next=/", form, headers={"X-Forwarded-Proto": "https", "Origin": "https://console.example.com"}
    )

    assert page["Strict-Transport-Security"] == "max-age=31536000"
    assert page.cookies["csrftoken"]["secure"] is True
    assert foreign.status_code == 403
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] is True
    plain = client.get("/admin/login/")
    assert "Strict-Transport-Security" not in plain  # never over plain HTTP (a loopback caller)
