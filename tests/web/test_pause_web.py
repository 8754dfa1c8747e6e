"""Pausing new entries through the web's doors: the API, the dashboard's button, /metrics and the status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory
from tests.web.conftest import engine_heartbeat
from tests.web.test_api import csrf_token, envelope, post_json
from trading import pause_services
from trading.models import EngineEvent, EngineState
from trading.schedule_models import PauseWindow

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def pause_events() -> int:
    return EngineEvent.objects.filter(meta__what="entries_pause").count()


@pytest.fixture
def viewer_client(db) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="viewer", groups=["Viewers"]))
    return client


# --- the API ------------------------------------------------------------------------------------------
def test_the_api_pauses_and_resumes_and_says_so_in_the_status(token_client):
    response = post_json(token_client, "/api/engine/pause-entries", {"reason": "FOMC"})

    assert response.status_code == 200, response.content
    data = envelope(response)["data"]
    assert (data["paused"], data["changed"], data["actor"]) == (True, True, "api-token")
    assert data["status"]["entries_paused"] is True
    assert data["status"]["entries_paused_cause"] == "manual"
    assert data["status"]["entries_paused_reason"] == "FOMC"
    status = envelope(token_client.get("/api/engine/status"))["data"]
    assert status["entries_paused"] is True
    assert status["entries_paused_by"] == "api-token"

    resumed = envelope(post_json(token_client, "/api/engine/resume-entries", None))["data"]
    assert (resumed["paused"], resumed["changed"]) == (False, True)
    assert envelope(token_client.get("/api/engine/status"))["data"]["entries_paused"] is False


def test_a_double_pause_is_answered_200_and_changes_nothing(token_client):
    post_json(token_client, "/api/engine/pause-entries", {"reason": "first"})
    again = post_json(token_client, "/api/engine/pause-entries", {"reason": "second"})

    assert again.status_code == 200
    assert envelope(again)["data"]["changed"] is False
    assert EngineState.load().entries_paused_reason == "first"
    assert pause_events() == 1


def test_the_api_needs_a_login(client):
    response = post_json(client, "/api/engine/pause-entries", None)
    assert response.status_code == 401
    assert not EngineState.load().entries_paused


def test_the_api_refuses_a_user_without_the_engine_permission(viewer_client):
    response = post_json(viewer_client, "/api/engine/pause-entries", None, **{"X-CSRFToken": csrf_token(viewer_client)})

    assert response.status_code == 403
    assert envelope(response)["error"]["permission"] == "trading.control_engine"
    assert not EngineState.load().entries_paused


def test_a_session_post_needs_the_csrf_token(csrf_client):
    refused = post_json(csrf_client, "/api/engine/pause-entries", None)
    assert refused.status_code == 403
    assert envelope(refused)["error"]["code"] == "csrf_failed"
    assert not EngineState.load().entries_paused

    accepted = post_json(csrf_client, "/api/engine/pause-entries", None, **{"X-CSRFToken": csrf_token(csrf_client)})
    assert accepted.status_code == 200
    assert EngineState.load().entries_paused_by == "user:operator"


def test_the_api_refuses_unknown_fields_and_a_get(token_client):
    assert post_json(token_client, "/api/engine/pause-entries", {"why": "x"}).status_code == 400
    assert token_client.get("/api/engine/pause-entries").status_code == 405
    assert not EngineState.load().entries_paused


# --- the dashboard --------------------------------------------------------------------------------------
def test_the_dashboards_button_pauses_and_the_panel_says_entries_paused(session_client):
    engine_heartbeat()
    panel = session_client.get("/panels/engine").content.decode()
    assert "Pause entries" in panel
    assert 'data-entries-paused="false"' in panel

    response = session_client.post("/engine/entries/pause", headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-entries-paused="true"' in html
    assert "Entries paused" in html
    assert "Resume entries" in html
    assert EngineState.load().entries_paused_by == "user:operator"

    resumed = session_client.post("/engine/entries/resume", headers=HTMX).content.decode()
    assert 'data-entries-paused="false"' in resumed
    assert "Pause entries" in resumed


def test_a_viewer_sees_the_pause_but_no_button_and_is_refused(viewer_client):
    engine_heartbeat()
    pause_services.entries_pause(actor="user:alice", reason="news")

    panel = viewer_client.get("/panels/engine").content.decode()
    assert "Entries paused" in panel
    assert "Resume entries" not in panel
    assert "Pause entries" not in panel
    response = viewer_client.post("/engine/entries/resume", headers={**HTMX, "X-CSRFToken": csrf_token(viewer_client)})
    assert response.status_code == 403
    assert EngineState.load().entries_paused


def test_the_dashboards_button_needs_the_csrf_token(csrf_client):
    assert csrf_client.post("/engine/entries/pause", headers=HTMX).status_code == 403
    assert not EngineState.load().entries_paused


def test_the_panel_names_the_window_in_force_and_the_next_one(session_client):
    engine_heartbeat()
    now = timezone.now()
    PauseWindow.objects.create(label="Upbit maintenance", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1))
    PauseWindow.objects.create(label="FOMC", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=1))

    html = session_client.get("/panels/engine").content.decode()

    assert 'data-cause="schedule"' in html
    assert "Scheduled window “Upbit maintenance”" in html
    assert "Next pause window: “FOMC”" in html
    assert "Pause entries" in html  # a window is not a person's pause: the button still pauses


def test_market_offline_is_shown_as_upbit_maintenance(session_client):
    engine_heartbeat(market_offline_at=timezone.now())

    html = session_client.get("/panels/engine").content.decode()

    assert "Market offline (Upbit maintenance)" in html
    assert 'data-market-offline="true"' in html


def test_the_panel_changes_its_etag_when_entries_are_paused(session_client):
    engine_heartbeat()
    first = session_client.get("/panels/engine", headers=HTMX)
    pause_services.entries_pause(actor="user:alice")
    second = session_client.get("/panels/engine", headers={**HTMX, "If-None-Match": first["ETag"]})
    assert second.status_code == 200
    assert "Entries paused" in second.content.decode()


def test_the_dashboard_in_korean_says_entries_paused(session_client):
    engine_heartbeat()
    pause_services.entries_pause(actor="user:alice")
    html = session_client.get("/panels/engine", headers={"Accept-Language": "ko"}).content.decode()
    assert "신규 진입 일시정지" in html
    assert "진입 재개" in html


# --- /metrics ---------------------------------------------------------------------------------------------
def test_metrics_show_the_pause_as_gauges():
    assert "autocoin_entries_paused 0" in Client().get("/metrics").content.decode().splitlines()
    pause_services.entries_pause(actor="user:alice")
    lines = Client().get("/metrics").content.decode().splitlines()
    assert "autocoin_entries_paused 1" in lines
    assert "autocoin_entries_paused_by_person 1" in lines
    assert "autocoin_market_offline 0" in lines
