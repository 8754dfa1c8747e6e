"""The dashboard's live pre-flight button: shown in live mode to those who may control the engine, runs the same
checks as `manage.py checklive` against the exchange, shows each line (in Korean too), never a key."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from trading.models import EngineEvent

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def test_the_button_is_on_the_live_dashboard_for_operators_only(live_sandbox, session_client, settings):
    page = session_client.get("/").content.decode()
    assert 'id="panel-preflight"' in page
    assert "Check live readiness" in page

    viewer = Client()
    viewer.force_login(UserFactory(username="viewer", groups=["Viewers"]))
    assert 'id="panel-preflight"' not in viewer.get("/").content.decode()

    settings.PAPER_MODE = True
    assert 'id="panel-preflight"' not in session_client.get("/").content.decode()


def test_the_button_runs_the_check_and_shows_every_line(live_sandbox, session_client):
    response = session_client.post(reverse("live_check"), headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="panel-preflight"')
    assert html.count('<li class="pass"') == 6
    assert "✓ Upbit accepted a test order (a 5,000 KRW market buy on KRW-BTC); nothing was placed." in html
    assert "Every check passed: live trading can start." in html
    assert live_sandbox.state()["orders"] == []
    assert live_sandbox.access_key not in html
    assert live_sandbox.secret_key not in html


def test_a_failed_check_says_what_to_fix_and_is_recorded(live_sandbox, session_client):
    live_sandbox.reject_keys(name="no_authorization_ip")

    html = session_client.post(reverse("live_check"), headers=HTMX).content.decode()

    assert "✗ This computer&#x27;s IP address is not on the key&#x27;s allowed list (no_authorization_ip)" in html
    assert "Fix the lines marked ✗, then check again." in html
    assert live_sandbox.access_key not in html
    event = EngineEvent.objects.get(message__startswith="Live pre-flight for KRW-BTC failed")
    assert event.actor == "web:operator"
    assert live_sandbox.access_key not in str(event.meta)


def test_the_result_in_korean(live_sandbox, session_client):
    live_sandbox.set_balance("KRW", "1000")
    session_client.cookies["django_language"] = "ko"

    html = session_client.post(reverse("live_check"), headers={**HTMX, "Accept-Language": "ko"}).content.decode()

    assert "실거래 사전 점검" in html
    assert "✗ 사용 가능한 KRW는 1,000원뿐입니다" in html
    assert "✓ Upbit가 키를 받아들입니다" in html


def test_without_htmx_the_result_is_a_page_of_its_own(live_sandbox, session_client):
    response = session_client.post(reverse("live_check"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert 'id="panel-preflight"' in html
    assert "Back to the dashboard" in html
