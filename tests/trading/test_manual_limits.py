"""A manual buy that cannot pass the limits is refused when it is queued, with the whole reason, by every door
(dashboard form, API, admin, enginectl all pass through the same service)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from tests.factories import BalanceSnapshotFactory
from trading import manual_requests
from trading.errors import InvalidInput
from trading.manual_limits import ManualBuyLimits, krw_text, manual_buy_limits, manual_buy_refusal
from trading.models import ManualOrderRequest

pytestmark = [pytest.mark.django_db]


def limits(**overrides: object) -> ManualBuyLimits:
    values: dict[str, object] = {
        "min_krw": Decimal("5000"),
        "max_order_krw": Decimal("10000"),
        "max_position_ratio": Decimal("0.3"),
        "available_krw": None,
        "position_room_krw": None,
        "balance_at": None,
    }
    values.update(overrides)
    return ManualBuyLimits(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [("20000", "20,000"), ("5000.50", "5,000.5"), ("1234567.89", "1,234,567.89"), ("100", "100"), ("2E+4", "20,000")],
)
def test_amounts_are_written_with_commas_and_no_trailing_zeros(value, text):
    assert krw_text(Decimal(value)) == text


@pytest.mark.parametrize("krw", ["5000", "7500.5", "10000"])
def test_a_buy_within_every_limit_passes(krw):
    assert manual_buy_refusal(Decimal(krw), limits(available_krw=Decimal("50000"), position_room_krw=Decimal("10000"))) is None


@pytest.mark.parametrize(
    ("krw", "overrides", "code", "sentence"),
    [
        ("4999", {}, "below_minimum", "4,999 KRW is below Upbit's minimum order of 5,000 KRW"),
        ("20000", {}, "over_max_order", "20,000 KRW is over the largest order allowed, 10,000 KRW (MAX_ORDER_KRW)."),
        (
            "9000",
            {"available_krw": Decimal("8000")},
            "over_balance",
            "9,000 KRW is more than the KRW balance can pay with the fee: at most 8,000 KRW.",
        ),
        (
            "9000",
            {"available_krw": Decimal("50000"), "position_room_krw": Decimal("6543")},
            "over_position_cap",
            "9,000 KRW would take the position over its cap of 30% of total equity (MAX_POSITION_RATIO): at most 6,543 KRW more.",
        ),
    ],
)
def test_the_first_limit_a_buy_breaks_is_named_with_the_figures(krw, overrides, code, sentence):
    refusal = manual_buy_refusal(Decimal(krw), limits(**overrides))
    assert refusal is not None
    assert (refusal.field, refusal.code) == ("krw", code)
    with translation.override("en"):
        assert refusal.text() == sentence


def test_the_refusal_reads_in_korean():
    refusal = manual_buy_refusal(Decimal("20000"), limits())
    assert refusal is not None
    with translation.override("ko"):
        assert refusal.text() == "20,000 KRW는 허용된 최대 주문 금액 10,000 KRW를 넘습니다 (MAX_ORDER_KRW)."


def test_the_limits_come_from_the_settings_and_the_last_balance(settings):
    settings.MAX_ORDER_KRW = Decimal("20000")
    settings.MAX_POSITION_RATIO = Decimal("0.5")
    # 100,000 KRW and coin worth 100,000: equity 200,000, half of it may be coin, 0 room left.
    BalanceSnapshotFactory(krw=Decimal("100000"), coin_volume=Decimal("0.001"), price=Decimal("100000000"))
    found = manual_buy_limits()
    assert found.max_order_krw == Decimal("20000")
    assert found.available_krw == Decimal("99950")  # 99,950 + its 0.05% fee (49.975) fits in 100,000
    assert found.position_room_krw == Decimal("0")
    assert found.ratio_percent_text == "50"


def test_with_no_balance_yet_only_the_order_size_limits_apply():
    found = manual_buy_limits()
    assert (found.available_krw, found.position_room_krw, found.balance_at) == (None, None, None)
    assert found.most_krw == found.max_order_krw


@pytest.mark.usefixtures("engine_running")
def test_the_queueing_service_refuses_a_buy_over_the_largest_order_and_queues_nothing(settings):
    settings.MAX_ORDER_KRW = Decimal("10000")
    with pytest.raises(InvalidInput) as refused:
        manual_requests.manual_order_request_create(kind="buy", krw="20,000", actor="user:alice")
    assert refused.value.code == "over_max_order"
    assert "20,000 KRW is over the largest order allowed, 10,000 KRW" in refused.value.message
    assert not ManualOrderRequest.objects.exists()


@pytest.mark.usefixtures("engine_running")
def test_the_queueing_service_refuses_a_buy_the_balance_cannot_pay(settings):
    settings.MAX_ORDER_KRW = Decimal("100000")
    BalanceSnapshotFactory(krw=Decimal("30000"), coin_volume=Decimal("0"), price=Decimal("100000000"))
    with pytest.raises(InvalidInput) as refused:
        manual_requests.manual_order_request_create(kind="buy", krw="40000", actor="user:alice")
    assert refused.value.code == "over_balance"
    assert not ManualOrderRequest.objects.exists()
    queued = manual_requests.manual_order_request_create(kind="buy", krw="8000", actor="user:alice")
    assert queued.krw == Decimal("8000")


@pytest.mark.usefixtures("engine_running")
def test_a_sell_is_not_held_to_the_buy_limits(settings):
    settings.MAX_ORDER_KRW = Decimal("5000")
    request = manual_requests.manual_order_request_create(kind="sell", volume="1", actor="user:alice")
    assert request.volume == Decimal("1")
