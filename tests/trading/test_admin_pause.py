"""The console's pause windows (entered and shown in Seoul time) and the engine page's paused entries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import UserFactory
from tests.trading.admin_pages import admin_url, messages_shown
from trading import pause_services
from trading.models import EngineEvent, EngineState
from trading.schedule_models import PauseWindow

pytestmark = pytest.mark.django_db


def window_form(label: str, starts: tuple[str, str], ends: tuple[str, str], **extra: str) -> dict[str, str]:
    return {
        "label": label,
        "starts_at_0": starts[0],
        "starts_at_1": starts[1],
        "ends_at_0": ends[0],
        "ends_at_1": ends[1],
        "enabled": "on",
        "note": "",
        **extra,
    }


@pytest.fixture
def utc_server(settings):
    """A server whose TIME_ZONE is not Seoul: the pause windows are still entered and shown in Seoul time."""
    settings.TIME_ZONE = "UTC"


@pytest.mark.usefixtures("utc_server")
def test_a_window_is_entered_in_seoul_time_and_stored_in_utc(admin_client):
    form = admin_client.get(admin_url(PauseWindow, "add")).content.decode()
    assert "Seoul time (Asia/Seoul, UTC+9), 24-hour" in form

    response = admin_client.post(
        admin_url(PauseWindow, "add"), window_form("Upbit maintenance", ("2026-12-03", "02:00:00"), ("2026-12-03", "04:00:00"))
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    saved = PauseWindow.objects.get()
    assert saved.starts_at == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert saved.ends_at == datetime(2026, 12, 2, 19, 0, tzinfo=UTC)
    assert saved.updated_by == "admin:admin"
    assert EngineEvent.objects.get(kind="config_changed").actor == "admin:admin"
    listing = admin_client.get(admin_url(PauseWindow, "changelist")).content.decode()
    assert "2026-12-03 02:00:00" in listing
    assert "2026-12-03 04:00:00" in listing
    change = admin_client.get(admin_url(PauseWindow, "change", saved.pk)).content.decode()
    assert 'value="02:00:00"' in change


@pytest.mark.usefixtures("utc_server")
def test_a_window_crossing_midnight_in_seoul_is_accepted_and_a_backwards_one_refused(admin_client):
    crossing = window_form("FOMC", ("2026-12-10", "23:30:00"), ("2026-12-11", "01:00:00"), repeats_weekly="on")
    assert admin_client.post(admin_url(PauseWindow, "add"), crossing).status_code == 302
    saved = PauseWindow.objects.get()
    assert (saved.starts_at, saved.ends_at) == (
        datetime(2026, 12, 10, 14, 30, tzinfo=UTC),
        datetime(2026, 12, 10, 16, 0, tzinfo=UTC),
    )
    assert saved.repeats_weekly

    backwards = admin_client.post(
        admin_url(PauseWindow, "add"), window_form("oops", ("2026-12-11", "01:00:00"), ("2026-12-10", "23:30:00"))
    )
    assert backwards.status_code == 200
    assert "The end must be after the start." in backwards.content.decode()
    assert PauseWindow.objects.count() == 1


def test_a_viewer_sees_the_windows_but_cannot_add_one(client):
    client.force_login(UserFactory(username="viewer", is_staff=True, groups=["Viewers"]))
    PauseWindow.objects.create(
        label="maintenance", starts_at=datetime(2026, 12, 2, 17, tzinfo=UTC), ends_at=datetime(2026, 12, 2, 19, tzinfo=UTC)
    )

    assert client.get(admin_url(PauseWindow, "changelist")).status_code == 200
    assert client.get(admin_url(PauseWindow, "add")).status_code == 403
    assert (
        client.post(
            admin_url(PauseWindow, "add"), window_form("x", ("2026-12-03", "02:00:00"), ("2026-12-03", "03:00:00"))
        ).status_code
        == 403
    )
    assert PauseWindow.objects.count() == 1


def test_deleting_a_window_is_recorded(admin_client):
    saved = pause_services.pause_window_save(
        window=PauseWindow(
            label="old", starts_at=datetime(2026, 12, 2, 17, tzinfo=UTC), ends_at=datetime(2026, 12, 2, 19, tzinfo=UTC)
        ),
        actor="admin:admin",
    )

    response = admin_client.post(admin_url(PauseWindow, "delete", saved.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not PauseWindow.objects.exists()
    assert EngineEvent.objects.filter(kind="config_changed", meta__new=None).count() == 1


def test_the_engine_page_shows_paused_entries_and_pauses_and_resumes_them(admin_client):
    state = EngineState.load()
    page = admin_client.get(admin_url(EngineState, "change", state.pk)).content.decode()
    assert 'data-entries-paused="false"' in page
    assert 'name="pause_entries"' in page

    paused = admin_client.post("/admin/trading/enginestate/control/pause_entries/", follow=True)
    assert "New entries paused: exits, protective stops and manual orders still run." in messages_shown(paused)
    page = paused.content.decode()
    assert 'data-entries-paused="true"' in page
    assert "Entries paused" in page
    assert EngineState.load().entries_paused_by == "admin:admin"

    resumed = admin_client.post("/admin/trading/enginestate/control/resume_entries/", follow=True)
    assert "New entries resumed." in messages_shown(resumed)
    assert not EngineState.load().entries_paused


def test_a_viewer_cannot_pause_from_the_engine_page(client):
    client.force_login(UserFactory(username="viewer", is_staff=True, groups=["Viewers"]))
    assert client.post("/admin/trading/enginestate/control/pause_entries/").status_code == 403
    assert not EngineState.load().entries_paused


def test_the_pause_window_admin_speaks_korean(admin_client):
    page = admin_client.get(admin_url(PauseWindow, "add"), headers={"Accept-Language": "ko"}).content.decode()
    assert "서울 시간 (Asia/Seoul, UTC+9)" in page
    assert "매주 반복" in page
