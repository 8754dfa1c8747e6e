"""The operations console's actions: manual orders, order cancel requests, strategy parameters, backtest charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import (
    BacktestRunFactory,
    OrderFactory,
    StrategyConfigFactory,
)
from tests.trading.admin_pages import admin_url, messages_shown
from trading.models import (
    BacktestRun,
    EngineEvent,
    ManualOrderRequest,
    Order,
    StrategyConfig,
)

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------------
# Manual orders
# ---------------------------------------------------------------------------------------------------
def test_manual_order_add_form_queues_a_buy(engine_running, admin_client, settings):
    settings.TRADING_MARKET = "KRW-BTC"
    form = admin_client.get(admin_url(ManualOrderRequest, "add"))
    assert form.status_code == 200
    assert "Queue a manual order" in form.content.decode()

    response = admin_client.post(admin_url(ManualOrderRequest, "add"), {"kind": "buy", "krw": "10,000"}, follow=True)

    request = ManualOrderRequest.objects.get()
    assert (request.kind, request.krw, request.volume, request.market) == ("buy", Decimal("10000"), None, "KRW-BTC")
    assert request.requested_by == "admin:admin"
    assert request.status == ManualOrderRequest.Status.PENDING
    assert any("Manual order queued" in text for text in messages_shown(response))
    assert EngineEvent.objects.filter(kind=EngineEvent.Kind.MANUAL_ORDER, actor="admin:admin").exists()


def test_manual_order_add_form_queues_sell_all_without_amounts(engine_running, admin_client):
    admin_client.post(admin_url(ManualOrderRequest, "add"), {"kind": "sell_all"})

    assert ManualOrderRequest.objects.get().kind == "sell_all"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "buy", "krw": "100"}, "below Upbit&#x27;s minimum order of 5,000 KRW"),
        ({"kind": "buy", "krw": ""}, "A buy needs the KRW amount to spend."),
        ({"kind": "sell", "volume": "abc"}, "is not a number"),
        ({"kind": "sell", "volume": "0.000000001"}, "more than 8 decimal places"),
        ({"kind": "bogus"}, "Select a valid choice"),
        ({"kind": "buy", "krw": "9" * 100_000}, "Ensure this value has at most 40 characters"),
        ({"kind": "buy", "krw": "10000", "volume": "1"}, "Leave this empty for this order."),
        ({"kind": "close", "krw": "5000"}, "Leave this empty for this order."),
        ({"kind": "buy", "krw": "1e400"}, "is too large"),
    ],
)
def test_manual_order_add_form_shows_errors_and_queues_nothing(admin_client, data, message):
    response = admin_client.post(admin_url(ManualOrderRequest, "add"), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert "9" * 1000 not in response.content.decode().split('name="krw"')[0]  # a huge input is not repeated in the error
    assert not ManualOrderRequest.objects.exists()


def test_manual_order_add_form_reads_sell_all_as_sell_all(engine_running, admin_client):
    admin_client.post(admin_url(ManualOrderRequest, "add"), {"kind": "sell", "volume": "ALL"})

    request = ManualOrderRequest.objects.get()
    assert (request.kind, request.volume) == ("sell_all", None)


def test_manual_order_add_form_speaks_korean(admin_client):
    admin_client.post("/i18n/setlang/", {"language": "ko", "next": "/admin/"})

    page = admin_client.post(admin_url(ManualOrderRequest, "add"), {"kind": "buy", "krw": "abc"}).content.decode()

    assert "수동 주문 대기열에 넣기" in page
    assert "“abc”은(는) 숫자가 아닙니다" in page
    assert not ManualOrderRequest.objects.exists()


# ---------------------------------------------------------------------------------------------------
# Cancel selected open orders
# ---------------------------------------------------------------------------------------------------
def test_cancel_action_asks_for_confirmation_first(admin_client):
    open_order = OrderFactory(status=Order.Status.WAIT, identifier="ac-open")
    done_order = OrderFactory(status=Order.Status.DONE, identifier="ac-done")

    page = admin_client.post(
        admin_url(Order, "changelist"), {"action": "cancel_open_orders", "_selected_action": [open_order.pk, done_order.pk]}
    )

    assert page.status_code == 200
    body = page.content.decode()
    assert "Cancel open orders: are you sure?" in body
    assert "ac-open" in body
    assert "ac-done" in body
    assert 'name="post" value="yes"' in body
    open_order.refresh_from_db()
    assert open_order.cancel_requested_at is None


def test_cancel_action_confirmed_marks_open_orders_only(admin_client):
    open_order = OrderFactory(status=Order.Status.WAIT)
    unknown_order = OrderFactory(status=Order.Status.UNKNOWN)
    done_order = OrderFactory(status=Order.Status.DONE)

    response = admin_client.post(
        admin_url(Order, "changelist"),
        {"action": "cancel_open_orders", "_selected_action": [open_order.pk, unknown_order.pk, done_order.pk], "post": "yes"},
        follow=True,
    )

    for order in (open_order, unknown_order, done_order):
        order.refresh_from_db()
    assert open_order.cancel_requested_by == "admin:admin"
    assert open_order.cancel_requested_at is not None
    assert unknown_order.cancel_requested_at is not None
    assert done_order.cancel_requested_at is None
    assert open_order.status == Order.Status.WAIT  # the engine cancels on the exchange, not the admin
    texts = messages_shown(response)
    assert any("Cancel requested for 2 open order(s)" in text for text in texts)
    assert any("1 selected order(s) were not open" in text for text in texts)
    event = EngineEvent.objects.get(kind=EngineEvent.Kind.MANUAL_ORDER)
    assert event.meta["action"] == "cancel_request"
    assert sorted(event.meta["order_ids"]) == sorted([open_order.pk, unknown_order.pk])


def test_cancel_requested_twice_keeps_the_first_request(admin_client):
    order = OrderFactory(status=Order.Status.WAIT)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    Order.objects.filter(pk=order.pk).update(cancel_requested_at=first, cancel_requested_by="admin:someone")

    response = admin_client.post(
        admin_url(Order, "changelist"),
        {"action": "cancel_open_orders", "_selected_action": [order.pk], "post": "yes"},
        follow=True,
    )

    order.refresh_from_db()
    assert (order.cancel_requested_at, order.cancel_requested_by) == (first, "admin:someone")
    assert any("1 already had a cancel request" in text for text in messages_shown(response))


def test_cancel_requested_filter(admin_client):
    asked = OrderFactory(status=Order.Status.WAIT, identifier="ac-asked", cancel_requested_at=datetime(2026, 1, 1, tzinfo=UTC))
    OrderFactory(status=Order.Status.WAIT, identifier="ac-not-asked")

    page = admin_client.get(admin_url(Order, "changelist") + "?cancel_requested=yes").content.decode()

    assert asked.identifier in page
    assert "ac-not-asked" not in page


# ---------------------------------------------------------------------------------------------------
# Strategy parameters
# ---------------------------------------------------------------------------------------------------
def test_strategy_params_are_validated_and_recorded(admin_client):
    config = StrategyConfigFactory(strategy="macd", params={})

    response = admin_client.post(
        admin_url(StrategyConfig, "change", config.pk),
        {"param_fast": "10", "param_slow": "30", "param_signal": "9", "param_candle_unit": "60"},
        follow=True,
    )

    assert response.status_code == 200
    config.refresh_from_db()
    assert config.params["fast"] == 10
    assert config.params["slow"] == 30
    assert config.updated_by == "admin:admin"
    event = EngineEvent.objects.get(kind=EngineEvent.Kind.CONFIG_CHANGED)
    assert event.actor == "admin:admin"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"param_fast": "30", "param_slow": "10"}, "macd: parameter fast=30 must be less than slow=10"),
        ({"param_fast": "ten"}, "macd: parameter fast=&#x27;ten&#x27; is not a whole number"),
        ({"param_take_profit_pct": "-1"}, "macd: parameter take_profit_pct=&#x27;-1&#x27; is out of range"),
        ({"param_candle_unit": "7"}, "Select a valid choice. 7 is not one of the available choices."),
    ],
)
def test_bad_strategy_params_are_refused_with_the_reason(admin_client, params, message):
    config = StrategyConfigFactory(strategy="macd", params={"fast": 12, "slow": 26, "signal": 9})

    response = admin_client.post(admin_url(StrategyConfig, "change", config.pk), {"param_candle_unit": "60", **params})

    assert response.status_code == 200
    errors = response.content.decode().split('class="errorlist', 1)
    assert len(errors) == 2, "the form shows an error"
    assert message in errors[1]
    config.refresh_from_db()
    assert config.params == {"fast": 12, "slow": 26, "signal": 9}
    assert not EngineEvent.objects.filter(kind=EngineEvent.Kind.CONFIG_CHANGED).exists()


def test_a_strategy_parameter_refusal_reads_in_korean(admin_client):
    config = StrategyConfigFactory(strategy="macd", params={"fast": 12, "slow": 26, "signal": 9})
    admin_client.cookies["django_language"] = "ko"

    response = admin_client.post(
        admin_url(StrategyConfig, "change", config.pk), {"param_candle_unit": "60", "param_fast": "30", "param_slow": "10"}
    )

    errors = response.content.decode().split('class="errorlist', 1)[1]
    assert "macd: 파라미터 fast=30은(는) slow=10보다 작아야 합니다" in errors
    assert "must be less than" not in errors


def test_strategy_config_can_be_added_for_a_known_strategy(admin_client):
    response = admin_client.post(admin_url(StrategyConfig, "add") + "?strategy=sma_cross", {"strategy": "sma_cross"}, follow=True)

    assert response.status_code == 200
    assert StrategyConfig.objects.filter(strategy="sma_cross").exists()


# ---------------------------------------------------------------------------------------------------
# Backtest runs: the equity chart hook
# ---------------------------------------------------------------------------------------------------
def test_backtest_equity_chart_is_an_image_not_inline_markup(admin_client):
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><path d="M0 0L1 1"/></svg>'
    run = BacktestRunFactory(equity_svg=svg)

    page = admin_client.get(admin_url(BacktestRun, "change", run.pk)).content.decode()

    chart = reverse("backtest_run_equity", args=[run.pk])
    assert f'<img class="admin-chart" src="{chart}"' in page
    assert "<script>alert(1)</script>" not in page
    assert "data:image" not in page
    image = admin_client.get(chart)
    assert image["Content-Type"] == "image/svg+xml"
    assert image["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert image.content.decode() == svg
    assert admin_client.get(reverse("backtest_run_equity", args=[run.pk + 1000])).status_code == 404


def test_backtest_changelist_shows_the_return(admin_client):
    BacktestRunFactory(
        initial_krw=Decimal("1000000"), final_equity=Decimal("1010000"), date_to=datetime.now(UTC) - timedelta(days=1)
    )

    assert "+1.00 %" in admin_client.get(admin_url(BacktestRun, "changelist")).content.decode()
