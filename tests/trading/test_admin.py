"""The operations console: every page opens, audit rows stay read-only, engine controls, manual orders,
order cancel requests, strategy parameters and the date range filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from exchange.models import PaperBalance
from tests.factories import (
    BacktestRunFactory,
    BalanceSnapshotFactory,
    CandleFactory,
    EngineEventFactory,
    FillFactory,
    ManualOrderRequestFactory,
    OrderFactory,
    PnlDailyFactory,
    SignalFactory,
    StrategyConfigFactory,
)
from trading.admin import audit, console
from trading.models import (
    BacktestRun,
    BalanceSnapshot,
    Candle,
    EngineEvent,
    EngineState,
    Fill,
    ManualOrderRequest,
    Order,
    PnlDaily,
    Signal,
    StrategyConfig,
)

pytestmark = pytest.mark.django_db

AUDIT_FACTORIES = {
    EngineEvent: EngineEventFactory,
    Signal: SignalFactory,
    Order: OrderFactory,
    Fill: FillFactory,
    BalanceSnapshot: BalanceSnapshotFactory,
    PnlDaily: PnlDailyFactory,
    Candle: CandleFactory,
    BacktestRun: BacktestRunFactory,
    ManualOrderRequest: ManualOrderRequestFactory,
}


def _engine_process_alive() -> None:
    """What a running `runengine` writes: its claim and a fresh heartbeat (Start needs one)."""
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(owner="testhost:4242", heartbeat_at=timezone.now())


def _url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:trading_{model._meta.model_name}_{view}", args=args)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# ---------------------------------------------------------------------------------------------------
# Every page opens
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", list(AUDIT_FACTORIES), ids=lambda m: m.__name__)
def test_every_changelist_and_change_page_opens(admin_client, model):
    row = AUDIT_FACTORIES[model]()

    listing = admin_client.get(_url(model, "changelist"))
    change = admin_client.get(_url(model, "change", row.pk))

    assert listing.status_code == 200
    assert _url(model, "change", row.pk) in listing.content.decode()
    assert "Export all matching (CSV)" in listing.content.decode()
    assert change.status_code == 200
    # Read-only: no save buttons on the change page.
    assert 'name="_save"' not in change.content.decode()


def test_strategy_config_changelist_and_change_page_open(admin_client):
    config = StrategyConfigFactory()

    assert admin_client.get(_url(StrategyConfig, "changelist")).status_code == 200
    page = admin_client.get(_url(StrategyConfig, "change", config.pk))
    assert page.status_code == 200
    assert 'name="_save"' in page.content.decode()


def test_admin_index_lists_every_table(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()

    for model in (*AUDIT_FACTORIES, StrategyConfig, EngineState):
        assert _url(model, "changelist") in page


def test_money_is_shown_with_thousands_separators_and_times_in_seoul(admin_client, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    OrderFactory(
        ts=datetime(2026, 11, 21, 4, 5, 6, tzinfo=UTC), executed_funds=Decimal("1234567.5"), paid_fee=Decimal("0.00000001")
    )

    page = admin_client.get(_url(Order, "changelist")).content.decode()

    assert "2026-11-21 13:05:06" in page  # 04:05:06 UTC is 13:05:06 in Seoul
    assert "1,234,567.5" in page
    assert "0.00000001" in page
    assert "1E-8" not in page


def test_money_formatting_is_exact():
    assert console.money(Decimal("1234567.50000000")) == "1,234,567.5"
    assert console.money(Decimal("0E-8")) == "0"
    assert console.money(Decimal("-1200.00000000")) == "-1,200"
    assert console.money(Decimal("0.00000001")) == "0.00000001"
    assert console.money(Decimal("99999999999999.99999999")) == "99,999,999,999,999.99999999"
    assert console.money(None) == "-"


# ---------------------------------------------------------------------------------------------------
# Read-only guarantees
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model", [EngineEvent, Signal, Order, Fill, BalanceSnapshot, PnlDaily, Candle, BacktestRun], ids=lambda m: m.__name__
)
def test_audit_tables_refuse_add_change_and_delete(admin_client, model):
    row = AUDIT_FACTORIES[model]()
    before = model.objects.count()

    assert admin_client.get(_url(model, "add")).status_code == 403
    assert admin_client.post(_url(model, "add"), {}).status_code == 403
    assert admin_client.post(_url(model, "change", row.pk), {}).status_code == 403
    assert admin_client.post(_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    deleted = admin_client.post(
        _url(model, "changelist"), {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )

    assert deleted.status_code in (200, 302)
    assert model.objects.count() == before
    listing = admin_client.get(_url(model, "changelist")).content.decode()
    assert 'value="delete_selected"' not in listing
    assert 'value="export_selected_csv"' in listing


def test_manual_requests_cannot_be_changed_or_deleted(admin_client):
    request = ManualOrderRequestFactory()

    assert admin_client.post(_url(ManualOrderRequest, "change", request.pk), {"status": "DONE"}).status_code == 403
    assert admin_client.post(_url(ManualOrderRequest, "delete", request.pk), {"post": "yes"}).status_code == 403
    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.PENDING


def test_strategy_config_cannot_be_deleted(admin_client):
    config = StrategyConfigFactory()

    assert admin_client.post(_url(StrategyConfig, "delete", config.pk), {"post": "yes"}).status_code == 403
    assert StrategyConfig.objects.filter(pk=config.pk).exists()


# ---------------------------------------------------------------------------------------------------
# Engine state page and its buttons
# ---------------------------------------------------------------------------------------------------
def test_engine_state_changelist_opens_straight_on_its_row(admin_client):
    response = admin_client.get(_url(EngineState, "changelist"))

    assert response.status_code == 302
    assert response["Location"] == _url(EngineState, "change", 1)
    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    assert 'class="engine-state">IDLE<' in body
    for control in ("start", "stop", "reset", "paper_reset"):
        assert reverse(f"admin:trading_enginestate_{control}") in body
    assert admin_client.get(_url(EngineState, "add")).status_code == 403
    assert admin_client.post(_url(EngineState, "delete", 1), {"post": "yes"}).status_code == 403
    assert admin_client.post(_url(EngineState, "change", 1), {"state": "RUNNING"}).status_code == 403
    assert EngineState.load().state == EngineState.State.IDLE


def test_start_button_starts_the_engine_and_records_who(admin_client, settings):
    settings.PAPER_MODE = True
    _engine_process_alive()

    response = admin_client.post(reverse("admin:trading_enginestate_start"), follow=True)

    state = EngineState.load()
    assert state.state == EngineState.State.RUNNING
    assert state.state_changed_by == "admin:admin"
    assert any("RUNNING" in text for text in _messages(response))
    event = EngineEvent.objects.filter(kind=EngineEvent.Kind.STATE_CHANGED).latest("ts")
    assert event.actor == "admin:admin"
    assert event.meta["to"] == "RUNNING"


def test_stop_then_reset_buttons_follow_the_state_machine(admin_client, settings):
    settings.PAPER_MODE = True
    _engine_process_alive()
    admin_client.post(reverse("admin:trading_enginestate_start"))

    admin_client.post(reverse("admin:trading_enginestate_stop"))
    assert EngineState.load().state == EngineState.State.STOPPING

    refused = admin_client.post(reverse("admin:trading_enginestate_reset"), follow=True)
    assert EngineState.load().state == EngineState.State.STOPPING
    assert "Reset is only possible from ERROR; the engine is STOPPING" in _messages(refused)


def test_refused_transition_shows_the_reason(admin_client):
    response = admin_client.post(reverse("admin:trading_enginestate_stop"), follow=True)

    assert EngineState.load().state == EngineState.State.IDLE
    assert "Stop is only possible from RUNNING; the engine is IDLE" in _messages(response)
    assert "Stop is only possible from RUNNING" in response.content.decode()


def test_start_in_live_mode_without_keys_is_refused_with_the_reason(admin_client, settings):
    settings.PAPER_MODE = False
    settings.UPBIT_ACCESS_KEY = ""
    settings.UPBIT_SECRET_KEY = ""

    response = admin_client.post(reverse("admin:trading_enginestate_start"), follow=True)

    assert EngineState.load().state == EngineState.State.IDLE
    assert any("needs UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY" in text for text in _messages(response))


def test_start_is_refused_while_the_engine_process_is_offline(admin_client, settings):
    settings.PAPER_MODE = True

    response = admin_client.post(reverse("admin:trading_enginestate_start"), follow=True)

    assert EngineState.load().state == EngineState.State.IDLE
    assert any("the engine process is offline" in text and "runengine" in text for text in _messages(response))
    assert "Engine process:" in response.content.decode()
    assert "offline" in response.content.decode()


def test_stop_while_the_engine_process_is_offline_completes_at_once(admin_client, settings):
    settings.PAPER_MODE = True
    _engine_process_alive()
    admin_client.post(reverse("admin:trading_enginestate_start"))
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    response = admin_client.post(reverse("admin:trading_enginestate_stop"), follow=True)

    assert EngineState.load().state == EngineState.State.IDLE
    assert any("stop completed at once" in text for text in _messages(response))


def test_export_with_an_invalid_filter_is_refused_with_the_reason(admin_client):
    OrderFactory()

    response = admin_client.get(reverse("admin:trading_order_export", args=["csv"]) + "?ts__gte=garbage")

    assert response.status_code == 400
    assert "Export refused: a filter is not valid" in response.content.decode()
    assert "garbage" in response.content.decode()


def test_engine_controls_accept_post_only(admin_client):
    assert admin_client.get(reverse("admin:trading_enginestate_start")).status_code == 405
    assert EngineState.load().state == EngineState.State.IDLE


def test_engine_controls_need_the_control_permission(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="viewer-password-1", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_enginestate"))
    client.force_login(viewer)

    assert client.get(_url(EngineState, "change", 1)).status_code == 200
    assert client.post(reverse("admin:trading_enginestate_start")).status_code == 403
    assert EngineState.load().state == EngineState.State.IDLE


def test_paper_reset_is_refused_while_running(admin_client, settings):
    settings.PAPER_MODE = True
    _engine_process_alive()
    admin_client.post(reverse("admin:trading_enginestate_start"))

    response = admin_client.post(reverse("admin:trading_enginestate_paper_reset"), follow=True)

    assert any("refused while the engine is RUNNING" in text for text in _messages(response))
    assert not EngineEvent.objects.filter(kind=EngineEvent.Kind.PAPER_RESET).exists()


def test_paper_reset_resets_the_account_and_records_an_event(admin_client, settings):
    settings.PAPER_INITIAL_KRW = Decimal("500000")
    PaperBalance.objects.create(currency="KRW", balance=Decimal("12345"))
    PaperBalance.objects.create(currency="BTC", balance=Decimal("0.5"))

    response = admin_client.post(reverse("admin:trading_enginestate_paper_reset"), follow=True)

    assert any("Paper account reset to 500,000 KRW" in text for text in _messages(response))
    balances = {row.currency: row.balance for row in PaperBalance.objects.all()}
    assert balances == {"KRW": Decimal("500000")}
    event = EngineEvent.objects.get(kind=EngineEvent.Kind.PAPER_RESET)
    assert event.actor == "admin:admin"
    assert event.meta["initial_krw"] == "500000"
    assert event.meta["previous"] == {"BTC": "0.50000000", "KRW": "12345.00000000"}


# ---------------------------------------------------------------------------------------------------
# Date range filter
# ---------------------------------------------------------------------------------------------------
def _seoul(*args: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Asia/Seoul"))


def test_date_range_filter_uses_local_days_inclusive(admin_client, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    before = EngineEventFactory(ts=_seoul(2026, 11, 19, 23, 59), message="before-range")
    first = EngineEventFactory(ts=_seoul(2026, 11, 20, 0, 0), message="first-in-range")
    last = EngineEventFactory(ts=_seoul(2026, 11, 21, 23, 59, 59), message="last-in-range")
    after = EngineEventFactory(ts=_seoul(2026, 11, 22, 0, 0), message="after-range")

    page = admin_client.get(_url(EngineEvent, "changelist") + "?from=2026-11-20&to=2026-11-21").content.decode()

    assert first.message in page
    assert last.message in page
    assert before.message not in page
    assert after.message not in page
    assert 'value="2026-11-20"' in page


def test_date_range_filter_with_one_bound_and_other_filters(admin_client):
    old = EngineEventFactory(ts=datetime(2026, 1, 1, tzinfo=UTC), level="ERROR", message="old-error")
    new_error = EngineEventFactory(ts=datetime(2026, 6, 1, tzinfo=UTC), level="ERROR", message="new-error")
    new_info = EngineEventFactory(ts=datetime(2026, 6, 1, tzinfo=UTC), level="INFO", message="new-info")

    page = admin_client.get(_url(EngineEvent, "changelist") + "?from=2026-03-01&level__exact=ERROR").content.decode()

    assert new_error.message in page
    assert old.message not in page
    assert new_info.message not in page
    # The filter's own form keeps the other filters as hidden fields.
    assert 'name="level__exact" value="ERROR"' in page


def test_date_range_filter_on_daily_pnl_dates(admin_client):
    from datetime import date

    PnlDailyFactory(date=date(2026, 11, 1), realized=Decimal("111"))
    PnlDailyFactory(date=date(2026, 11, 2), realized=Decimal("222"))
    PnlDailyFactory(date=date(2026, 11, 3), realized=Decimal("333"))

    page = admin_client.get(_url(PnlDaily, "changelist") + "?from=2026-11-02&to=2026-11-02").content.decode()

    assert ">222<" in page
    assert ">111<" not in page
    assert ">333<" not in page


def test_bad_date_is_reported_and_ignored(admin_client):
    EngineEventFactory(message="still-listed")

    response = admin_client.get(_url(EngineEvent, "changelist") + "?from=2026-13-40")

    assert response.status_code == 200
    assert "still-listed" in response.content.decode()
    assert any("from='2026-13-40' is not a date; use YYYY-MM-DD" in text for text in _messages(response))


def test_reversed_date_range_is_reported(admin_client):
    response = admin_client.get(_url(EngineEvent, "changelist") + "?from=2026-11-21&to=2026-11-01")

    assert any("is after to" in text for text in _messages(response))


# ---------------------------------------------------------------------------------------------------
# Large tables: the count stops at a cap
# ---------------------------------------------------------------------------------------------------
def test_changelist_count_is_capped_and_says_so(admin_client, monkeypatch):
    monkeypatch.setattr(console.CappedCountPaginator, "cap", 5)
    monkeypatch.setattr(audit.EngineEventAdmin, "list_per_page", 2)
    EngineEventFactory.create_batch(8)

    page = admin_client.get(_url(EngineEvent, "changelist")).content.decode()

    assert "More than 5 engine events" in page
    assert "Select all matching" in page


def test_changelist_count_is_exact_below_the_cap(admin_client):
    EngineEventFactory.create_batch(3)

    page = admin_client.get(_url(EngineEvent, "changelist")).content.decode()

    assert "3 engine events" in page
    assert "More than" not in page


def test_order_search_finds_exact_identifier_and_uuid(admin_client):
    wanted = OrderFactory(identifier="ac-wanted", exchange_uuid="uuid-wanted")
    other = OrderFactory(identifier="ac-other")

    by_identifier = admin_client.get(_url(Order, "changelist") + "?q=ac-wanted").content.decode()
    by_uuid = admin_client.get(_url(Order, "changelist") + "?q=uuid-wanted").content.decode()

    assert wanted.identifier in by_identifier
    assert other.identifier not in by_identifier
    assert wanted.identifier in by_uuid
    assert other.identifier not in by_uuid


def test_fill_search_by_order_identifier(admin_client):
    fill = FillFactory(order=OrderFactory(identifier="ac-filled"), trade_id="trade-1")
    FillFactory(trade_id="trade-2")

    page = admin_client.get(_url(Fill, "changelist") + "?q=ac-filled").content.decode()

    assert fill.trade_id in page
    assert "trade-2" not in page


# ---------------------------------------------------------------------------------------------------
# Manual orders
# ---------------------------------------------------------------------------------------------------
def test_manual_order_add_form_queues_a_buy(admin_client, settings):
    settings.TRADING_MARKET = "KRW-BTC"
    form = admin_client.get(_url(ManualOrderRequest, "add"))
    assert form.status_code == 200
    assert "Queue a manual order" in form.content.decode()

    response = admin_client.post(_url(ManualOrderRequest, "add"), {"kind": "buy", "krw": "10,000"}, follow=True)

    request = ManualOrderRequest.objects.get()
    assert (request.kind, request.krw, request.volume, request.market) == ("buy", Decimal("10000"), None, "KRW-BTC")
    assert request.requested_by == "admin:admin"
    assert request.status == ManualOrderRequest.Status.PENDING
    assert any("Manual order queued" in text for text in _messages(response))
    assert EngineEvent.objects.filter(kind=EngineEvent.Kind.MANUAL_ORDER, actor="admin:admin").exists()


def test_manual_order_add_form_queues_sell_all_without_amounts(admin_client):
    admin_client.post(_url(ManualOrderRequest, "add"), {"kind": "sell_all"})

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
    response = admin_client.post(_url(ManualOrderRequest, "add"), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert "9" * 1000 not in response.content.decode().split('name="krw"')[0]  # a huge input is not repeated in the error
    assert not ManualOrderRequest.objects.exists()


def test_manual_order_add_form_reads_sell_all_as_sell_all(admin_client):
    admin_client.post(_url(ManualOrderRequest, "add"), {"kind": "sell", "volume": "ALL"})

    request = ManualOrderRequest.objects.get()
    assert (request.kind, request.volume) == ("sell_all", None)


def test_manual_order_add_form_speaks_korean(admin_client):
    admin_client.post("/i18n/setlang/", {"language": "ko", "next": "/admin/"})

    page = admin_client.post(_url(ManualOrderRequest, "add"), {"kind": "buy", "krw": "abc"}).content.decode()

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
        _url(Order, "changelist"), {"action": "cancel_open_orders", "_selected_action": [open_order.pk, done_order.pk]}
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
        _url(Order, "changelist"),
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
    texts = _messages(response)
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
        _url(Order, "changelist"), {"action": "cancel_open_orders", "_selected_action": [order.pk], "post": "yes"}, follow=True
    )

    order.refresh_from_db()
    assert (order.cancel_requested_at, order.cancel_requested_by) == (first, "admin:someone")
    assert any("1 already had a cancel request" in text for text in _messages(response))


def test_cancel_requested_filter(admin_client):
    asked = OrderFactory(status=Order.Status.WAIT, identifier="ac-asked", cancel_requested_at=datetime(2026, 1, 1, tzinfo=UTC))
    OrderFactory(status=Order.Status.WAIT, identifier="ac-not-asked")

    page = admin_client.get(_url(Order, "changelist") + "?cancel_requested=yes").content.decode()

    assert asked.identifier in page
    assert "ac-not-asked" not in page


# ---------------------------------------------------------------------------------------------------
# Strategy parameters
# ---------------------------------------------------------------------------------------------------
def test_strategy_params_are_validated_and_recorded(admin_client):
    config = StrategyConfigFactory(strategy="macd", params={})

    response = admin_client.post(
        _url(StrategyConfig, "change", config.pk), {"params": '{"fast": 10, "slow": 30, "signal": 9}'}, follow=True
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
        ('{"fast": 30, "slow": 10}', "macd: parameter fast=30 must be less than slow=10"),
        ('{"nonsense": 1}', "macd: unknown parameter &#x27;nonsense&#x27;"),
        ("[1, 2]", "Parameters must be a JSON object"),
        ("{not json", "Enter a valid JSON."),
    ],
)
def test_bad_strategy_params_are_refused_with_the_reason(admin_client, params, message):
    config = StrategyConfigFactory(strategy="macd", params={"fast": 12, "slow": 26, "signal": 9})

    response = admin_client.post(_url(StrategyConfig, "change", config.pk), {"params": params})

    assert response.status_code == 200
    errors = response.content.decode().split('class="errorlist', 1)
    assert len(errors) == 2, "the form shows an error"
    assert message in errors[1]
    config.refresh_from_db()
    assert config.params == {"fast": 12, "slow": 26, "signal": 9}
    assert not EngineEvent.objects.filter(kind=EngineEvent.Kind.CONFIG_CHANGED).exists()


def test_strategy_config_can_be_added_for_a_known_strategy(admin_client):
    response = admin_client.post(_url(StrategyConfig, "add"), {"strategy": "sma_cross", "params": "{}"}, follow=True)

    assert response.status_code == 200
    assert StrategyConfig.objects.filter(strategy="sma_cross").exists()


# ---------------------------------------------------------------------------------------------------
# Backtest runs: the equity chart hook
# ---------------------------------------------------------------------------------------------------
def test_backtest_equity_chart_is_an_image_not_inline_markup(admin_client):
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><path d="M0 0L1 1"/></svg>'
    run = BacktestRunFactory(equity_svg=svg)

    page = admin_client.get(_url(BacktestRun, "change", run.pk)).content.decode()

    assert 'src="data:image/svg+xml;base64,' in page
    assert "<script>alert(1)</script>" not in page


def test_backtest_changelist_shows_the_return(admin_client):
    BacktestRunFactory(
        initial_krw=Decimal("1000000"), final_equity=Decimal("1010000"), date_to=datetime.now(UTC) - timedelta(days=1)
    )

    assert "+1.00 %" in admin_client.get(_url(BacktestRun, "changelist")).content.decode()
