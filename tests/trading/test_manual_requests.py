"""Manual requests outside the engine: refused unless the engine runs, cancelled only while pending (with an
event naming who), expired by the web's listing once past MANUAL_ORDER_TTL_SEC."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone, translation

from tests.conftest import engine_running_online
from tests.factories import ManualOrderRequestFactory
from trading import manual_requests
from trading.errors import ManualOrderRefused, ManualRequestNotCancellable
from trading.models import EngineEvent, EngineState, ManualOrderRequest

Status = ManualOrderRequest.Status
pytestmark = pytest.mark.django_db


def engine(state: str, *, online: bool) -> None:
    EngineState.load()
    beat = timezone.now() if online else timezone.now() - timedelta(minutes=5)
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=state, owner="host:1", heartbeat_at=beat)


@pytest.mark.parametrize(
    ("state", "online", "code", "says"),
    [
        ("IDLE", True, "engine_not_running", "the engine is IDLE; manual orders are only accepted while it runs"),
        ("STOPPING", True, "engine_not_running", "the engine is STOPPING; manual orders are only accepted while it runs"),
        ("ERROR", True, "engine_not_running", "the engine is ERROR; manual orders are only accepted while it runs"),
        ("RUNNING", False, "engine_offline", "the engine process is offline; manual orders are only accepted while it runs"),
    ],
)
def test_a_manual_order_is_refused_unless_the_engine_runs_online(state, online, code, says):
    engine(state, online=online)
    with pytest.raises(ManualOrderRefused) as refused:
        manual_requests.manual_order_request_create(kind="buy", krw="10000", actor="user:alice")
    assert refused.value.code == code
    assert says in refused.value.message
    assert not ManualOrderRequest.objects.exists()
    assert not EngineEvent.objects.filter(kind="manual_order").exists()


def test_the_refusal_reads_in_korean_for_a_korean_reader():
    engine("IDLE", online=True)
    with translation.override("ko"):
        text = manual_requests.manual_order_refusal().text()
    assert "대기" in text  # the state by its Korean name, as the badge shows it
    assert "수동 주문" in text


def test_no_engine_row_at_all_is_a_refusal_too():
    assert manual_requests.manual_order_refusal().code == "engine_not_running"


def test_cancel_moves_a_pending_request_to_cancelled_with_an_event_naming_who():
    request = ManualOrderRequestFactory()
    cancelled = manual_requests.manual_order_request_cancel(request_id=request.pk, actor="user:bob")
    assert cancelled.status == Status.CANCELLED
    assert cancelled.result == "cancelled by user:bob"
    event = EngineEvent.objects.get(meta__action="cancel_manual")
    assert event.actor == "user:bob"
    assert event.message == f"Manual order #{request.pk} cancelled by user:bob before the engine carried it out"


@pytest.mark.parametrize("status", [Status.PROCESSING, Status.DONE, Status.REJECTED, Status.CANCELLED, Status.EXPIRED])
def test_only_a_pending_request_can_be_cancelled(status):
    request = ManualOrderRequestFactory(status=status)
    with pytest.raises(ManualRequestNotCancellable) as refused:
        manual_requests.manual_order_request_cancel(request_id=request.pk, actor="user:bob")
    assert refused.value.code == "not_pending"
    assert refused.value.message == f"Manual order #{request.pk} can no longer be cancelled: it is {status}"
    assert ManualOrderRequest.objects.get(pk=request.pk).status == status
    assert not EngineEvent.objects.filter(meta__action="cancel_manual").exists()


def test_cancelling_an_unknown_request_says_so():
    with pytest.raises(ManualRequestNotCancellable) as refused:
        manual_requests.manual_order_request_cancel(request_id=999, actor="user:bob")
    assert (refused.value.code, refused.value.message) == ("unknown_request", "There is no manual order #999")


def test_claim_and_cancel_exclude_each_other_in_either_order():
    first, second = ManualOrderRequestFactory(), ManualOrderRequestFactory()
    assert manual_requests.manual_order_request_claim(request=first)
    with pytest.raises(ManualRequestNotCancellable):
        manual_requests.manual_order_request_cancel(request_id=first.pk, actor="user:bob")
    manual_requests.manual_order_request_cancel(request_id=second.pk, actor="user:bob")
    assert not manual_requests.manual_order_request_claim(request=second)
    assert dict(ManualOrderRequest.objects.values_list("pk", "status")) == {
        first.pk: Status.PROCESSING,
        second.pk: Status.CANCELLED,
    }


def test_the_web_expires_only_pending_requests_past_their_time(settings):
    settings.MANUAL_ORDER_TTL_SEC = 120
    now = timezone.now()
    old = ManualOrderRequestFactory(ts=now - timedelta(seconds=121))
    fresh = ManualOrderRequestFactory(ts=now - timedelta(seconds=60))
    taken = ManualOrderRequestFactory(ts=now - timedelta(seconds=600), status=Status.PROCESSING)

    expired = manual_requests.manual_order_requests_expire(now=now, actor="web")

    assert [request.pk for request in expired] == [old.pk]
    statuses = dict(ManualOrderRequest.objects.values_list("pk", "status"))
    # The engine may be sending the one it took: only the engine ends that one.
    assert statuses == {old.pk: Status.EXPIRED, fresh.pk: Status.PENDING, taken.pk: Status.PROCESSING}
    assert EngineEvent.objects.get(meta__action="expire_manual").actor == "web"


# ---------------------------------------------------------------------------------------------------
# enginectl
# ---------------------------------------------------------------------------------------------------
def test_enginectl_cancel_manual_cancels_a_pending_request(capsys):
    request = ManualOrderRequestFactory()
    call_command("enginectl", "cancel-manual", str(request.pk))
    assert f"cancelled manual order #{request.pk}" in capsys.readouterr().out
    assert ManualOrderRequest.objects.get(pk=request.pk).status == Status.CANCELLED
    assert EngineEvent.objects.get(meta__action="cancel_manual").actor.startswith("cli:")


def test_enginectl_cancel_manual_refuses_what_is_no_longer_pending():
    request = ManualOrderRequestFactory(status=Status.DONE)
    with pytest.raises(CommandError, match=f"Manual order #{request.pk} can no longer be cancelled: it is DONE"):
        call_command("enginectl", "cancel-manual", str(request.pk))
    with pytest.raises(CommandError, match="There is no manual order #999"):
        call_command("enginectl", "cancel-manual", "999")
    with pytest.raises(CommandError, match="needs the request's number"):
        call_command("enginectl", "cancel-manual")


def test_enginectl_refuses_a_manual_order_while_the_engine_is_not_running():
    engine("IDLE", online=True)
    with pytest.raises(CommandError, match="the engine is IDLE; manual orders are only accepted while it runs"):
        call_command("enginectl", "buy", "--krw", "10000")
    assert not ManualOrderRequest.objects.exists()


def test_enginectl_queues_a_manual_order_while_the_engine_runs(capsys):
    engine_running_online()
    call_command("enginectl", "close")
    assert ManualOrderRequest.objects.get().kind == "close"
    assert "queued manual order" in capsys.readouterr().out
