"""Login throttling: django-axes blocks a user name from an address after LOGIN_FAILURE_LIMIT failed logins
for LOGIN_LOCKOUT_MINUTES, and the API answers 429 to an address that sent too many wrong bearer tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client, RequestFactory

from tests.autocoin.test_settings import load_settings, refused
from tests.web.conftest import API_TOKEN, PASSWORD
from trading.auth import client_address

LOGIN = "/admin/login/?next=/"
OTHER_ADDRESS = "192.0.2.44"


def log_in(client: Client, password: str, **extra: str):
    return client.post(LOGIN, {"username": "operator", "password": password, "next": "/"}, **extra)


def fail(client: Client, times: int, **extra: str) -> list[int]:
    return [log_in(client, PASSWORD + "-wrong", **extra).status_code for _ in range(times)]


def time_passes(minutes: float) -> None:
    """Move the recorded attempts back in time instead of waiting."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


@pytest.mark.django_db
def test_after_five_wrong_passwords_the_right_one_is_refused_with_a_clear_message(client, operator, settings):
    assert settings.AXES_FAILURE_LIMIT == 5

    statuses = fail(client, 5)
    response = log_in(client, PASSWORD)

    assert statuses == [200, 200, 200, 200, 429]  # the fifth failure already answers with the lockout page
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins for “operator” from your address (5 in a row)" in page
    assert "blocked for 15 minutes" in page
    assert 'id="login-locked"' in page
    assert "autocoin operations console" in page
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still the login page


@pytest.mark.django_db
def test_after_the_lockout_period_the_right_password_works_again(client, operator):
    fail(client, 5)
    time_passes(14)
    assert log_in(client, PASSWORD).status_code == 429  # a try during the lockout does not extend it...

    time_passes(1.01)
    response = log_in(client, PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_the_block_is_per_user_name_and_address(client, operator):
    fail(client, 5)

    elsewhere = log_in(Client(), PASSWORD, REMOTE_ADDR=OTHER_ADDRESS)

    assert elsewhere.status_code == 302


@pytest.mark.django_db
def test_a_successful_login_clears_the_count(client, operator):
    fail(client, 4)
    assert log_in(client, PASSWORD).status_code == 302
    client.logout()

    assert fail(client, 4) == [200, 200, 200, 200]
    assert log_in(client, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_admin_lists_the_attempts_and_deleting_them_unlocks(client, operator, admin_client):
    fail(client, 5)

    listing = admin_client.get("/admin/axes/accessattempt/")
    (attempt,) = AccessAttempt.objects.all()
    assert PASSWORD not in attempt.post_data  # the passwords tried are not kept
    admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200
    assert "operator" in listing.content.decode()
    assert not AccessAttempt.objects.exists()
    assert log_in(client, PASSWORD).status_code == 302


def test_login_limits_come_from_the_environment(monkeypatch):
    loaded = load_settings(monkeypatch, LOGIN_FAILURE_LIMIT="3", LOGIN_LOCKOUT_MINUTES="60")

    assert loaded["AXES_FAILURE_LIMIT"] == 3
    assert loaded["AXES_COOLOFF_TIME"] == timedelta(minutes=60)
    assert loaded["AXES_LOCKOUT_PARAMETERS"] == [["username", "ip_address"]]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT='0' is out of range; use an integer from 1 to 100"),
        ("LOGIN_LOCKOUT_MINUTES", "forever", "LOGIN_LOCKOUT_MINUTES='forever' is not a whole number"),
    ],
)
def test_bad_login_limits_are_refused(monkeypatch, capsys, name, value, expected):
    assert expected in refused(monkeypatch, capsys, **{name: value})


# --- the API's bearer tokens --------------------------------------------------------------------------
@pytest.mark.django_db
def test_wrong_bearer_tokens_are_answered_429_after_the_limit_and_other_addresses_still_work(operator, api_user, settings):
    attacker = Client(headers={"Authorization": "Bearer wrong-token-0123456789"})

    answers = [attacker.get("/api/engine/status") for _ in range(200)]

    statuses = [answer.status_code for answer in answers]
    limit = settings.API_TOKEN_FAILURE_LIMIT
    assert statuses == [401] * limit + [429] * (200 - limit)
    refused_answer = answers[-1]
    body = refused_answer.json()
    assert (body["ok"], body["data"], body["error"]["code"]) == (False, None, "too_many_token_failures")
    assert 1 <= int(refused_answer["Retry-After"]) <= settings.LOGIN_LOCKOUT_MINUTES * 60
    # The right token from the blocked address waits too; from another address it works.
    same_address = Client(headers={"Authorization": f"Bearer {API_TOKEN}"}).get("/api/engine/status")
    other_address = Client(headers={"Authorization": f"Bearer {API_TOKEN}"}, REMOTE_ADDR=OTHER_ADDRESS).get("/api/engine/status")
    assert same_address.status_code == 429
    assert other_address.status_code == 200
    # A logged-in session from the blocked address sends no token and is not affected.
    session = Client()
    session.force_login(operator)
    assert session.get("/api/engine/status").status_code == 200


@pytest.mark.django_db
def test_right_tokens_are_never_counted(api_user, settings):
    caller = Client(headers={"Authorization": f"Bearer {API_TOKEN}"})

    assert {caller.get("/api/engine/status").status_code for _ in range(settings.API_TOKEN_FAILURE_LIMIT * 2)} == {200}


def test_the_address_is_the_peer_or_behind_the_https_proxy_its_last_forwarded_entry(settings):
    factory = RequestFactory()
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 198.51.100.7"}

    settings.HTTPS = False
    assert client_address(factory.get("/", **forwarded)) == "127.0.0.1"
    settings.HTTPS = True
    assert client_address(factory.get("/", **forwarded)) == "198.51.100.7"
    assert client_address(factory.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="not-an-ip")) == "127.0.0.1"
    # Only the local proxy's word counts: a remote peer's own header is ignored.
    assert client_address(factory.get("/", REMOTE_ADDR=OTHER_ADDRESS, HTTP_X_FORWARDED_FOR="203.0.113.9")) == OTHER_ADDRESS


@pytest.mark.django_db
def test_behind_the_proxy_the_lockout_follows_the_forwarded_address(operator, settings):
    settings.HTTPS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    attacker = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_X_FORWARDED_PROTO": "https"}
    owner = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", "HTTP_X_FORWARDED_PROTO": "https"}

    fail(Client(), 5, **attacker)

    assert log_in(Client(), PASSWORD, **attacker).status_code == 429
    assert log_in(Client(), PASSWORD, **owner).status_code == 302


def test_wrong_tokens_at_metrics_count_too_and_are_answered_429(api_user, settings):
    scraper = Client(headers={"Authorization": "Bearer wrong-token-0123456789"}, REMOTE_ADDR="192.0.2.10")

    statuses = [scraper.get("/metrics").status_code for _ in range(settings.API_TOKEN_FAILURE_LIMIT + 3)]

    assert statuses == [401] * settings.API_TOKEN_FAILURE_LIMIT + [429] * 3
