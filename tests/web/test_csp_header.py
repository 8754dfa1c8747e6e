"""Every answer carries the strict Content-Security-Policy: pages, partials, redirects, errors, the API,
the health and metrics endpoints and static files."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

HTMX = {"HX-Request": "true"}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().partition(" ") for part in header.split(";") if part.strip())
    return {name: value for name, _, value in parts}


def assert_policy(response) -> None:
    assert directives(response["Content-Security-Policy"]) == POLICY
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 302),  # to the login page
        ("/admin/login/", 200),
        ("/admin/", 302),
        ("/healthz", 200),
        ("/favicon.ico", 200),
        ("/static/css/dashboard.css", 200),
        ("/static/js/dashboard.js", 200),
        ("/no-such-page", 404),
        ("/api/engine/status", 401),
        ("/api/nowhere", 404),
    ],
)
def test_anonymous_answers_carry_the_policy(path, status):
    response = Client().get(path)

    assert response.status_code == status
    assert_policy(response)


@pytest.mark.parametrize(
    "path",
    ["/", "/panels/engine", "/panels/risk", "/panels/log", "/admin/", "/admin/trading/order/", "/admin/trading/enginestate/"],
)
def test_signed_in_pages_and_partials_carry_the_policy(session_client, path):
    response = session_client.get(path, headers=HTMX if path.startswith("/panels/") else {})

    assert response.status_code in (200, 302, 403)  # 403: the operator may not see every admin page
    assert_policy(response)


def test_a_refused_post_carries_the_policy():
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    assert_policy(response)
    page = response.content.decode()
    assert "CSRF verification failed" in page
    assert "<style" not in page  # Django's own page has one, which the policy would block
    assert "style=" not in page


@pytest.mark.parametrize("path", ["/api/engine/status", "/api/orders/recent", "/api/pnl/daily", "/api/nowhere"])
def test_api_answers_carry_the_policy(token_client, path):
    response = token_client.get(path)

    assert response["Content-Type"] == "application/json"
    assert_policy(response)


@pytest.mark.parametrize(("language", "heading"), [("en", "Not found"), ("ko", "찾을 수 없음")])
def test_a_missing_page_says_so_in_the_readers_language_and_leads_back(session_client, language, heading):
    session_client.cookies["django_language"] = language
    response = session_client.get("/backtests/99999")

    assert response.status_code == 404
    assert_policy(response)
    page = response.content.decode()
    assert f"{heading} <span" in page
    assert 'href="/"' in page
    assert "<style" not in page
    assert "style=" not in page


def test_the_server_error_page_needs_no_context_and_speaks_korean():
    from django.template.loader import get_template
    from django.utils import translation

    with translation.override("ko"):
        page = get_template("500.html").render({})
    assert "서버 오류" in page
    assert 'href="/"' in page
    assert "style=" not in page
