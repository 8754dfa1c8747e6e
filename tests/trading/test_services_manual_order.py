"""Queueing a manual order: what is accepted, what is refused (with a code, in the person's language),
and the sell of "all" that the dashboard, the API and the admin all pass through unchanged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from trading import manual_requests, services
from trading.models import EngineEvent, ManualOrderRequest

Kind = ManualOrderRequest.Kind
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("engine_running")]


def queue(**kwargs: object) -> ManualOrderRequest:
    return manual_requests.manual_order_request_create(actor="user:alice", **kwargs)


@pytest.mark.parametrize("volume", ["all", "ALL", " All "])
def test_a_sell_of_all_is_a_sell_all(volume):
    request = queue(kind=Kind.SELL, volume=volume)
    assert (request.kind, request.volume, request.krw) == (Kind.SELL_ALL, None, None)
    event = EngineEvent.objects.get(kind=EngineEvent.Kind.MANUAL_ORDER)
    assert event.message == "Manual order queued by user:alice: sell all on KRW-BTC"
    assert event.meta["kind"] == Kind.SELL_ALL


def test_a_buy_is_queued_with_its_amount_and_one_event():
    request = queue(kind=Kind.BUY, krw="10,000")
    assert (request.kind, request.krw, request.requested_by) == (Kind.BUY, Decimal("10000"), "user:alice")
    event = EngineEvent.objects.get(kind=EngineEvent.Kind.MANUAL_ORDER)
    assert event.message == "Manual order queued by user:alice: buy 10000 KRW on KRW-BTC"
    assert event.meta == {"request_id": request.pk, "kind": "buy", "krw": "10000", "volume": None, "market": "KRW-BTC"}


def test_the_amount_an_order_does_not_use_is_ignored():
    request = queue(kind=Kind.BUY, krw="10000", volume="0.5")
    assert request.volume is None


@pytest.mark.parametrize(
    ("kwargs", "field", "code", "english", "korean"),
    [
        ({"kind": Kind.BUY, "krw": "abc"}, "krw", "not_a_number", "'abc' is not a number", "“abc”은(는) 숫자가 아닙니다"),
        ({"kind": Kind.BUY, "krw": "1_000_000"}, "krw", "not_a_number", "'1_000_000' is not a number", "숫자가 아닙니다"),
        ({"kind": Kind.SELL, "volume": "-1"}, "volume", "not_positive", "'-1' must be a positive number", "양수여야"),
        ({"kind": Kind.SELL, "volume": "1e-9"}, "volume", "too_many_decimals", "more than 8 decimal places", "소수점 8자리"),
        ({"kind": Kind.BUY, "krw": "1e400"}, "krw", "too_large", "'1e400' is too large", "“1e400”은(는) 너무 큽니다"),
        (
            {"kind": Kind.BUY, "krw": "4000"},
            "krw",
            "below_minimum",
            "4,000 KRW is below Upbit's minimum order of 5,000 KRW",
            "4,000 KRW는 업비트 최소 주문 금액",
        ),
        ({"kind": Kind.BUY}, "krw", "buy_needs_krw", "a buy needs the KRW amount to spend", "매수에는"),
        ({"kind": Kind.SELL}, "volume", "sell_needs_volume", 'a sell needs the volume to sell (or "all")', "매도에는"),
        (
            {"kind": "hold"},
            "kind",
            "unknown_kind",
            "'hold' is not one of buy, sell, sell_all, close",
            "목록에 있는 주문 종류 중 하나를 고르세요.",
        ),
    ],
)
def test_a_refused_order_names_the_field_and_reads_in_the_persons_language(kwargs, field, code, english, korean):
    with pytest.raises(services.InvalidInput) as refusal:
        queue(**kwargs)
    assert (refusal.value.field, refusal.value.code) == (field, code)
    assert english in refusal.value.message
    assert str(refusal.value) == f"{field}: {refusal.value.message}"
    with translation.override("ko"):
        assert korean in refusal.value.text()
    assert not ManualOrderRequest.objects.exists()
    assert not EngineEvent.objects.exists()


def test_the_persons_sentence_quotes_the_value_as_typed():
    """The English message for scripts uses Python's quoting; the person sees what they typed, even a quote."""
    with pytest.raises(services.InvalidInput) as refusal:
        queue(kind=Kind.BUY, krw="10'000")
    assert refusal.value.message == '"10\'000" is not a number'
    with translation.override("en"):
        assert refusal.value.text() == "“10'000” is not a number"
    with translation.override("ko"):
        assert refusal.value.text() == "“10'000”은(는) 숫자가 아닙니다"


def test_a_float_amount_is_refused_with_a_hint():
    with pytest.raises(services.InvalidInput) as refusal:
        queue(kind=Kind.BUY, krw=10000.0)
    assert refusal.value.code == "float_amount"
    assert refusal.value.message == 'send the number as a string, for example "10000"'


@pytest.mark.parametrize("amount", ["1_000_000", "\uff11\uff10\uff10\uff10\uff10", "10000\u0661"])
def test_a_manual_amount_must_be_written_with_plain_digits(amount):
    with pytest.raises(services.InvalidInput, match="is not a number"):
        manual_requests.manual_order_request_create(kind="buy", krw=amount, actor="user:alice")
