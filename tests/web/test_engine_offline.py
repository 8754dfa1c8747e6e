"""The dashboard says "Engine offline" prominently whenever no engine process is alive, whatever the state
row says, and a stop nobody will finish is settled when the page shows it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.web.conftest import engine_heartbeat
from tests.web.test_dashboard import buttons
from trading.models import EngineEvent, EngineState

State = EngineState.State
pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
BANNER = re.compile(r'<div class="engine-offline" role="alert"[^>]*>\s*<strong>([^<]+)</strong>')


def stale(settings) -> dict:
    return {"heartbeat_at": timezone.now() - timedelta(seconds=settings.ENGINE_STALE_AFTER_SEC + 1)}


@pytest.mark.parametrize("state", [State.RUNNING, State.IDLE, State.ERROR])
def test_a_stale_heartbeat_shows_engine_offline_whatever_the_state_says(session_client, settings, state):
    engine_heartbeat(state=state, **stale(settings))
    for url in ("/", "/panels/engine"):
        html = session_client.get(url).content.decode()
        assert BANNER.search(html).group(1) == "Engine offline", url
        assert 'data-online="false"' in html
    said = "The state says RUNNING, but no engine process is running" in html
    assert said == (state == State.RUNNING)


def test_running_with_a_stale_heartbeat_offers_stop_not_start(session_client, settings):
    engine_heartbeat(state=State.RUNNING, **stale(settings))
    html = session_client.get("/panels/engine").content.decode()
    assert buttons(html) == {"start": False, "stop": True, "reset": False}


def test_the_banner_reads_in_korean(session_client, settings):
    engine_heartbeat(state=State.RUNNING, **stale(settings))
    html = session_client.get("/panels/engine", headers={"Accept-Language": "ko"}).content.decode()
    assert BANNER.search(html).group(1) == "엔진 오프라인"
    assert "상태는 실행 중이지만 실행 중인 엔진 프로세스가 없습니다" in html


def test_a_live_engine_shows_no_banner(session_client):
    engine_heartbeat(state=State.RUNNING)
    html = session_client.get("/panels/engine").content.decode()
    assert not BANNER.search(html)
    assert 'data-online="true"' in html


def test_a_killed_engine_is_offline_before_its_heartbeat_goes_stale(session_client):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    engine_heartbeat(state=State.RUNNING, owner=f"{socket.gethostname()}:{process.pid}")
    html = session_client.get("/panels/engine").content.decode()
    assert BANNER.search(html)


def test_a_stale_stopping_is_settled_when_the_panel_shows_it(session_client, settings):
    engine_heartbeat(state=State.STOPPING, **stale(settings))
    html = session_client.get("/panels/engine", headers=HTMX).content.decode()
    assert 'data-state="IDLE"' in html
    event = EngineEvent.objects.get(kind=EngineEvent.Kind.STATE_CHANGED)
    assert (event.meta["from"], event.meta["to"], event.actor) == (State.STOPPING, State.IDLE, "web")
    session_client.get("/")
    assert EngineEvent.objects.filter(kind=EngineEvent.Kind.STATE_CHANGED).count() == 1


def test_stop_pressed_on_a_stale_stopping_completes_it(session_client, settings):
    engine_heartbeat(state=State.STOPPING, **stale(settings))
    html = session_client.post("/engine/stop", headers=HTMX).content.decode()
    assert "STOPPING → IDLE." in html
    assert "the stop completed at once" in html
    assert EngineState.load().state == State.IDLE


def test_the_api_status_settles_a_stale_stopping_and_offers_stop_while_offline(token_client, settings):
    engine_heartbeat(state=State.STOPPING, **stale(settings))
    data = token_client.get("/api/engine/status").json()["data"]
    assert (data["state"], data["engine_online"]) == (State.IDLE, False)
    engine_heartbeat(state=State.RUNNING, **stale(settings))
    assert token_client.get("/api/engine/status").json()["data"]["allowed_actions"]["stop"] is True
