"""Manual requests at the web's doors: cancelling one still pending (API, dashboard, admin), refusing a new one
while the engine is not running and online, and the dashboard form saying so before anything is sent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from tests.factories import ManualOrderRequestFactory, UserFactory
from tests.trading.admin_pages import admin_url, messages_shown
from tests.web.conftest import engine_heartbeat
from tests.web.test_api import csrf_token, envelope, post_json
from trading.models import EngineEvent, EngineState, ManualOrderRequest

Status = ManualOrderRequest.Status
HTMX = {"HX-Request": "true"}
pytestmark = pytest.mark.django_db


def cancel_url(pk: int) -> str:
    return f"/api/orders/manual/{pk}/cancel"


def cancel_events() -> list[tuple[str, str]]:
    return list(EngineEvent.objects.filter(meta__action="cancel_manual").values_list("actor", "message"))


# ---------------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------------
def test_the_api_cancels_a_pending_request_with_the_token(token_client):
    request = ManualOrderRequestFactory()
    response = post_json(token_client, cancel_url(request.pk))
    assert response.status_code == 200, response.content
    data = envelope(response)["data"]
    assert (data["id"], data["status"], data["result"]) == (request.pk, "CANCELLED", "cancelled by api-token")
    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.CANCELLED
    says = f"Manual order #{request.pk} cancelled by api-token before the engine carried it out"
    assert cancel_events() == [("api-token", says)]


def test_the_api_cancels_with_a_session_and_its_csrf_token(csrf_client):
    request = ManualOrderRequestFactory()
    refused = post_json(csrf_client, cancel_url(request.pk))
    assert refused.status_code == 403
    response = post_json(csrf_client, cancel_url(request.pk), **{"X-CSRFToken": csrf_token(csrf_client)})
    assert response.status_code == 200, response.content
    assert cancel_events()[0][0] == "user:operator"


def test_the_api_answers_404_for_an_unknown_request(token_client):
    response = post_json(token_client, cancel_url(4242))
    assert response.status_code == 404
    error = envelope(response)["error"]
    assert (error["code"], error["message"]) == ("not_found", "There is no manual order #4242")


@pytest.mark.parametrize("status", [Status.PROCESSING, Status.DONE, Status.EXPIRED, Status.CANCELLED])
def test_the_api_answers_409_with_the_reason_when_it_is_no_longer_pending(token_client, status):
    request = ManualOrderRequestFactory(status=status)
    response = post_json(token_client, cancel_url(request.pk))
    assert response.status_code == 409
    error = envelope(response)["error"]
    assert error["code"] == "not_pending"
    assert error["current"] == status
    assert error["message"] == f"Manual order #{request.pk} can no longer be cancelled: it is {status}"
    assert ManualOrderRequest.objects.get(pk=request.pk).status == status
    assert cancel_events() == []


def test_the_api_cancel_takes_no_fields_and_says_so(token_client):
    request = ManualOrderRequestFactory()
    response = post_json(token_client, cancel_url(request.pk), {"reason": "changed my mind"})
    assert response.status_code == 400
    assert envelope(response)["error"]["message"] == "Unknown field 'reason'; accepted: none"
    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.PENDING


def test_a_viewer_may_not_cancel(db):
    request = ManualOrderRequestFactory()
    client = Client()
    client.force_login(UserFactory(username="viewer", groups=["Viewers"]))
    response = post_json(client, cancel_url(request.pk), **{"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 403
    assert envelope(response)["error"]["permission"] == "trading.place_manual_order"
    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.PENDING


def test_no_token_no_cancel(db):
    request = ManualOrderRequestFactory()
    assert post_json(Client(), cancel_url(request.pk)).status_code == 401
    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.PENDING


@pytest.mark.parametrize(
    ("fields", "status", "code", "says"),
    [
        ({"state": "IDLE"}, 409, "engine_not_running", "the engine is IDLE;"),
        ({"state": "ERROR"}, 409, "engine_not_running", "the engine is ERROR;"),
        ({"state": "RUNNING", "heartbeat_at": None}, 503, "engine_offline", "the engine process is offline;"),
    ],
)
def test_the_api_refuses_a_manual_order_unless_the_engine_runs(token_client, fields, status, code, says):
    engine_heartbeat(**fields)
    response = post_json(token_client, "/api/orders/manual", {"side": "close"})
    assert response.status_code == status
    error = envelope(response)["error"]
    assert error["code"] == code
    assert says in error["message"]
    assert "manual orders are only accepted while it runs" in error["message"]
    assert not ManualOrderRequest.objects.exists()


# ---------------------------------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------------------------------
def test_the_dashboard_cancels_a_pending_request_with_htmx(session_client):
    request = ManualOrderRequestFactory()
    page = session_client.get("/").content.decode()
    assert f'hx-post="/orders/manual/{request.pk}/cancel"' in page

    response = session_client.post(f"/orders/manual/{request.pk}/cancel", headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert f"Manual order #{request.pk} cancelled." in html
    assert 'id="panel-manual"' in html
    assert f"/orders/manual/{request.pk}/cancel" not in html  # nothing left to cancel
    assert "manualCancelled" in response["HX-Trigger"]
    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.CANCELLED
    assert cancel_events()[0][0] == "user:operator"


def test_the_dashboard_says_why_a_request_can_no_longer_be_cancelled(session_client):
    request = ManualOrderRequestFactory(status=Status.PROCESSING)
    html = session_client.post(f"/orders/manual/{request.pk}/cancel", headers=HTMX).content.decode()
    assert f"Manual order #{request.pk} can no longer be cancelled: it is PROCESSING" in html
    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.PROCESSING


def test_a_viewer_sees_no_cancel_button_and_is_refused(db):
    request = ManualOrderRequestFactory()
    client = Client()
    client.force_login(UserFactory(username="viewer", groups=["Viewers"]))
    assert "/cancel" not in client.get("/panels/manual").content.decode()
    response = client.post(f"/orders/manual/{request.pk}/cancel", headers=HTMX)
    assert response.status_code == 403
    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.PENDING


def test_the_dashboard_form_is_disabled_with_the_reason_while_the_engine_is_not_running(session_client):
    engine_heartbeat(state="IDLE")
    html = session_client.get("/").content.decode()
    button = re.search(r'<div id="panel-manualgate".*?</div>', html, re.S).group(0)
    assert re.search(r'<button type="submit" class="btn" disabled', button)
    assert "Manual order refused: the engine is IDLE; manual orders are only accepted while it runs" in button


def test_the_dashboard_form_says_offline_when_the_heartbeat_is_old(session_client):
    engine_heartbeat(state="RUNNING", heartbeat_at=timezone.now() - timedelta(minutes=5))
    html = session_client.get("/panels/manualgate").content.decode()
    assert "disabled" in html
    assert "the engine process is offline" in html


def test_the_dashboard_form_is_enabled_while_the_engine_runs_and_its_reason_is_in_korean_otherwise(session_client):
    engine_heartbeat(state="RUNNING")
    html = session_client.get("/panels/manualgate").content.decode()
    assert "disabled" not in html
    assert "refused" not in html
    EngineState.objects.update(state="STOPPING")
    with translation.override("ko"):
        session_client.cookies["django_language"] = "ko"
        korean = session_client.get("/panels/manualgate").content.decode()
    assert "수동 주문 거부: 엔진이 정지 중 상태입니다" in korean


def test_the_offline_reason_reads_wholly_in_korean_and_the_api_keeps_the_english(session_client, token_client):
    engine_heartbeat(state="RUNNING", heartbeat_at=timezone.now() - timedelta(minutes=5))
    session_client.cookies["django_language"] = "ko"
    korean = session_client.get("/panels/manualgate", headers={"Accept-Language": "ko"}).content.decode()
    assert "`python manage.py runengine`(또는 `make run`)으로 엔진을 시작하세요" in korean
    assert "start it with" not in korean
    answer = post_json(token_client, "/api/orders/manual", {"side": "close"}, **{"Accept-Language": "ko"})
    assert "start it with `python manage.py runengine`" in envelope(answer)["error"]["message"]


def test_the_dashboard_refuses_a_manual_order_sent_anyway(session_client):
    engine_heartbeat(state="ERROR")
    html = session_client.post("/orders/manual", {"kind": "close"}, headers=HTMX).content.decode()
    assert "Engine: Manual order refused: the engine is ERROR" in html
    assert not ManualOrderRequest.objects.exists()


def test_the_dashboard_list_expires_what_waited_too_long(session_client, settings):
    settings.MANUAL_ORDER_TTL_SEC = 120
    old = ManualOrderRequestFactory(ts=timezone.now() - timedelta(seconds=300))
    html = session_client.get("/panels/manual").content.decode()
    assert "EXPIRED" in html
    assert f"/orders/manual/{old.pk}/cancel" not in html
    assert ManualOrderRequest.objects.get(pk=old.pk).status == Status.EXPIRED
    assert EngineEvent.objects.get(meta__action="expire_manual").actor == "web"


# ---------------------------------------------------------------------------------------------------
# The admin
# ---------------------------------------------------------------------------------------------------
def test_the_admin_action_cancels_the_pending_ones_and_names_the_rest(admin_client):
    pending, done = ManualOrderRequestFactory(), ManualOrderRequestFactory(status=Status.DONE)
    response = admin_client.post(
        admin_url(ManualOrderRequest, "changelist"),
        {"action": "cancel_pending_requests", "_selected_action": [pending.pk, done.pk]},
        follow=True,
    )
    shown = messages_shown(response)
    assert "1 manual request(s) cancelled." in shown
    assert f"Manual order #{done.pk} can no longer be cancelled: it is DONE" in shown
    assert dict(ManualOrderRequest.objects.values_list("pk", "status")) == {pending.pk: Status.CANCELLED, done.pk: Status.DONE}
    assert cancel_events()[0][0] == "admin:admin"


def test_the_admin_add_form_warns_first_and_refuses_while_the_engine_is_not_running(admin_client):
    engine_heartbeat(state="IDLE")
    form = admin_client.get(admin_url(ManualOrderRequest, "add"))
    assert any("the engine is IDLE" in text for text in messages_shown(form))
    response = admin_client.post(admin_url(ManualOrderRequest, "add"), {"kind": "buy", "krw": "10000"})
    assert response.status_code == 200
    assert "Manual order refused: the engine is IDLE" in response.content.decode()
    assert not ManualOrderRequest.objects.exists()


def test_the_admin_list_expires_what_waited_too_long(admin_client, settings):
    settings.MANUAL_ORDER_TTL_SEC = 120
    old = ManualOrderRequestFactory(ts=timezone.now() - timedelta(seconds=300))
    assert admin_client.get(admin_url(ManualOrderRequest, "changelist")).status_code == 200
    assert ManualOrderRequest.objects.get(pk=old.pk).status == Status.EXPIRED
