"""Services mask every configured secret out of the free text they store (an exchange's answer, an exception's
message or a person's reason may quote one; the admin shows stored text as is), and exports mask it on the way out."""

from __future__ import annotations

import pytest
from django.urls import reverse

from exchange.redact import MASK
from tests.factories import EngineEventFactory, ManualOrderRequestFactory, OrderFactory
from trading import exports, services
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order, Signal

pytestmark = pytest.mark.django_db

TOKEN = "services-api-token-0123456789"
WEBHOOK_KEY = "a1b2c3d4e5f6a7b8c9d0"


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.AUTOCOIN_API_TOKEN = TOKEN
    settings.NOTIFY_WEBHOOK_URL = f"https://chat.example.net/hooks/{WEBHOOK_KEY}"


TEXT = f"Upbit said {TOKEN} while posting to /hooks/{WEBHOOK_KEY}"
MASKED = f"Upbit said {MASK} while posting to {MASK}"


def stored_text() -> str:
    """Every free-text column the services write, of every row."""
    rows = [
        *Order.objects.values_list("error_name", "error_message", "raw", "reason"),
        *ManualOrderRequest.objects.values_list("result"),
        *EngineState.objects.values_list("last_error", "state_reason", "kill_switch_reason"),
        *Signal.objects.values_list("explanation", "meta"),
        *EngineEvent.objects.values_list("message", "meta", "actor"),
    ]
    return repr(rows)


def test_an_order_marked_with_the_exchange_s_error_stores_it_masked():
    order = OrderFactory()

    services.order_mark(order=order, status=Order.Status.REJECTED, error_name=TOKEN, error_message=TEXT)

    order.refresh_from_db()
    assert (order.error_name, order.error_message) == (MASK, MASKED)


def test_a_manual_request_s_result_is_stored_masked():
    request = ManualOrderRequestFactory()

    services.manual_order_request_finish(request=request, done=False, result=TEXT)

    assert MASK in ManualOrderRequest.objects.get().result
    assert TOKEN not in stored_text()


def test_an_engine_failure_and_a_kill_switch_store_their_reason_masked_in_the_state_and_the_events():
    EngineState.load()
    EngineState.objects.update(state=EngineState.State.RUNNING)

    services.engine_fail(actor="engine", error=TEXT)
    services.engine_reset(actor="user:admin")
    services.engine_kill_switch_trip(reason=TEXT, meta={"error": TEXT})

    state = EngineState.load()
    assert MASK in state.kill_switch_reason
    assert MASK in state.last_error
    text = stored_text()
    assert TOKEN not in text
    assert WEBHOOK_KEY not in text


def test_a_signal_s_explanation_and_meta_are_stored_masked():
    services.signal_record(market="KRW-BTC", action="HOLD", source="manual", explanation=TEXT, meta={"why": [TEXT]})

    signal = Signal.objects.get()
    assert MASK in signal.explanation
    assert signal.meta == {"why": [MASKED]}


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_a_row_stored_before_its_secret_was_configured_is_exported_masked(admin_client, settings, fmt):
    older = "older-row-api-token-0123456789"
    OrderFactory(error_message=f"refused: {older}", raw={"note": f"token {older}"})
    EngineEventFactory(message=f"Upbit said {older}")
    settings.AUTOCOIN_API_TOKEN = older

    for model in (Order, EngineEvent):
        response = admin_client.get(reverse(f"admin:trading_{model._meta.model_name}_export", args=[fmt]))
        body = b"".join(response.streaming_content).decode()
        assert older not in body
        assert MASK in body
