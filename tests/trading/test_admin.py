"""The operations console: every page opens, audit rows stay read-only, engine controls, manual orders,
order cancel requests, strategy parameters and the date range filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
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
from tests.trading.admin_pages import admin_url, engine_process_alive, messages_shown
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


# ---------------------------------------------------------------------------------------------------
# Every page opens
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", list(AUDIT_FACTORIES), ids=lambda m: m.__name__)
def test_every_changelist_and_change_page_opens(admin_client, model):
    row = AUDIT_FACTORIES[model]()

    listing = admin_client.get(admin_url(model, "changelist"))
    change = admin_client.get(admin_url(model, "change", row.pk))

    assert listing.status_code == 200
    assert admin_url(model, "change", row.pk) in listing.content.decode()
    assert "Export all matching (CSV)" in listing.content.decode()
    assert change.status_code == 200
    # Read-only: no save buttons on the change page.
    assert 'name="_save"' not in change.content.decode()


def test_strategy_config_changelist_and_change_page_open(admin_client):
    config = StrategyConfigFactory()

    assert admin_client.get(admin_url(StrategyConfig, "changelist")).status_code == 200
    page = admin_client.get(admin_url(StrategyConfig, "change", config.pk))
    assert page.status_code == 200
    assert 'name="_save"' in page.content.decode()


def test_admin_index_lists_every_table(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()

    for model in (*AUDIT_FACTORIES, StrategyConfig, EngineState):
        assert admin_url(model, "changelist") in page


def test_money_is_shown_with_thousands_separators_and_times_in_seoul(admin_client, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    OrderFactory(
        ts=datetime(2026, 11, 21, 4, 5, 6, tzinfo=UTC), executed_funds=Decimal("1234567.5"), paid_fee=Decimal("0.00000001")
    )

    page = admin_client.get(admin_url(Order, "changelist")).content.decode()

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

    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "add"), {}).status_code == 403
    assert admin_client.post(admin_url(model, "change", row.pk), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    deleted = admin_client.post(
        admin_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )

    assert deleted.status_code in (200, 302)
    assert model.objects.count() == before
    listing = admin_client.get(admin_url(model, "changelist")).content.decode()
    assert 'value="delete_selected"' not in listing
    assert 'value="export_selected_csv"' in listing


def test_manual_requests_cannot_be_changed_or_deleted(admin_client):
    request = ManualOrderRequestFactory()

    assert admin_client.post(admin_url(ManualOrderRequest, "change", request.pk), {"status": "DONE"}).status_code == 403
    assert admin_client.post(admin_url(ManualOrderRequest, "delete", request.pk), {"post": "yes"}).status_code == 403
    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.PENDING


def test_strategy_config_cannot_be_deleted(admin_client):
    config = StrategyConfigFactory()

    assert admin_client.post(admin_url(StrategyConfig, "delete", config.pk), {"post": "yes"}).status_code == 403
    assert StrategyConfig.objects.filter(pk=config.pk).exists()


# ---------------------------------------------------------------------------------------------------
# Engine state page and its buttons
# ---------------------------------------------------------------------------------------------------
def test_engine_state_changelist_opens_straight_on_its_row(admin_client):
    response = admin_client.get(admin_url(EngineState, "changelist"))

    assert response.status_code == 302
    assert response["Location"] == admin_url(EngineState, "change", 1)
    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    assert 'class="engine-state">IDLE<' in body
    for control in ("start", "stop", "reset", "paper_reset"):
        assert reverse(f"admin:trading_enginestate_{control}") in body
    assert admin_client.get(admin_url(EngineState, "add")).status_code == 403
    assert admin_client.post(admin_url(EngineState, "delete", 1), {"post": "yes"}).status_code == 403
    assert admin_client.post(admin_url(EngineState, "change", 1), {"state": "RUNNING"}).status_code == 403
    assert EngineState.load().state == EngineState.State.IDLE


def test_start_button_starts_the_engine_and_records_who(admin_client, settings):
    settings.PAPER_MODE = True
    engine_process_alive()

    response = admin_client.post(reverse("admin:trading_enginestate_start"), follow=True)

    state = EngineState.load()
    assert state.state == EngineState.State.RUNNING
    assert state.state_changed_by == "admin:admin"
    assert any("RUNNING" in text for text in messages_shown(response))
    event = EngineEvent.objects.filter(kind=EngineEvent.Kind.STATE_CHANGED).latest("ts")
    assert event.actor == "admin:admin"
    assert event.meta["to"] == "RUNNING"


def test_stop_then_reset_buttons_follow_the_state_machine(admin_client, settings):
    settings.PAPER_MODE = True
    engine_process_alive()
    admin_client.post(reverse("admin:trading_enginestate_start"))

    admin_client.post(reverse("admin:trading_enginestate_stop"))
    assert EngineState.load().state == EngineState.State.STOPPING

    refused = admin_client.post(reverse("admin:trading_enginestate_reset"), follow=True)
    assert EngineState.load().state == EngineState.State.STOPPING
    assert "Reset is only possible from ERROR; the engine is STOPPING" in messages_shown(refused)


def test_refused_transition_shows_the_reason(admin_client):
    response = admin_client.post(reverse("admin:trading_enginestate_stop"), follow=True)

    assert EngineState.load().state == EngineState.State.IDLE
    assert "Stop is only possible from RUNNING; the engine is IDLE" in messages_shown(response)
    assert "Stop is only possible from RUNNING" in response.content.decode()


def test_start_in_live_mode_without_keys_is_refused_with_the_reason(admin_client, settings):
    settings.PAPER_MODE = False
    settings.UPBIT_ACCESS_KEY = ""
    settings.UPBIT_SECRET_KEY = ""

    response = admin_client.post(reverse("admin:trading_enginestate_start"), follow=True)

    assert EngineState.load().state == EngineState.State.IDLE
    assert any("needs UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY" in text for text in messages_shown(response))


def test_start_is_refused_while_the_engine_process_is_offline(admin_client, settings):
    settings.PAPER_MODE = True

    response = admin_client.post(reverse("admin:trading_enginestate_start"), follow=True)

    assert EngineState.load().state == EngineState.State.IDLE
    assert any("the engine process is offline" in text and "runengine" in text for text in messages_shown(response))
    assert "Engine process:" in response.content.decode()
    assert "offline" in response.content.decode()


def test_stop_while_the_engine_process_is_offline_completes_at_once(admin_client, settings):
    settings.PAPER_MODE = True
    engine_process_alive()
    admin_client.post(reverse("admin:trading_enginestate_start"))
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    response = admin_client.post(reverse("admin:trading_enginestate_stop"), follow=True)

    assert EngineState.load().state == EngineState.State.IDLE
    assert any("stop completed at once" in text for text in messages_shown(response))


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

    assert client.get(admin_url(EngineState, "change", 1)).status_code == 200
    assert client.post(reverse("admin:trading_enginestate_start")).status_code == 403
    assert EngineState.load().state == EngineState.State.IDLE


def test_paper_reset_is_refused_while_running(admin_client, settings):
    settings.PAPER_MODE = True
    engine_process_alive()
    admin_client.post(reverse("admin:trading_enginestate_start"))

    response = admin_client.post(reverse("admin:trading_enginestate_paper_reset"), follow=True)

    assert any("refused while the engine is RUNNING" in text for text in messages_shown(response))
    assert not EngineEvent.objects.filter(kind=EngineEvent.Kind.PAPER_RESET).exists()


def test_paper_reset_resets_the_account_and_records_an_event(admin_client, settings):
    settings.PAPER_INITIAL_KRW = Decimal("500000")
    PaperBalance.objects.create(currency="KRW", balance=Decimal("12345"))
    PaperBalance.objects.create(currency="BTC", balance=Decimal("0.5"))

    response = admin_client.post(reverse("admin:trading_enginestate_paper_reset"), follow=True)

    assert any("Paper account reset to 500,000 KRW" in text for text in messages_shown(response))
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

    page = admin_client.get(admin_url(EngineEvent, "changelist") + "?from=2026-11-20&to=2026-11-21").content.decode()

    assert first.message in page
    assert last.message in page
    assert before.message not in page
    assert after.message not in page
    assert 'value="2026-11-20"' in page


def test_date_range_filter_with_one_bound_and_other_filters(admin_client):
    old = EngineEventFactory(ts=datetime(2026, 1, 1, tzinfo=UTC), level="ERROR", message="old-error")
    new_error = EngineEventFactory(ts=datetime(2026, 6, 1, tzinfo=UTC), level="ERROR", message="new-error")
    new_info = EngineEventFactory(ts=datetime(2026, 6, 1, tzinfo=UTC), level="INFO", message="new-info")

    page = admin_client.get(admin_url(EngineEvent, "changelist") + "?from=2026-03-01&level__exact=ERROR").content.decode()

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

    page = admin_client.get(admin_url(PnlDaily, "changelist") + "?from=2026-11-02&to=2026-11-02").content.decode()

    assert ">222<" in page
    assert ">111<" not in page
    assert ">333<" not in page


def test_bad_date_is_reported_and_ignored(admin_client):
    EngineEventFactory(message="still-listed")

    response = admin_client.get(admin_url(EngineEvent, "changelist") + "?from=2026-13-40")

    assert response.status_code == 200
    assert "still-listed" in response.content.decode()
    assert any("from='2026-13-40' is not a date; use YYYY-MM-DD" in text for text in messages_shown(response))


def test_reversed_date_range_is_reported(admin_client):
    response = admin_client.get(admin_url(EngineEvent, "changelist") + "?from=2026-11-21&to=2026-11-01")

    assert any("is after to" in text for text in messages_shown(response))


# ---------------------------------------------------------------------------------------------------
# Large tables: the count stops at a cap
# ---------------------------------------------------------------------------------------------------
def test_changelist_count_is_capped_and_says_so(admin_client, monkeypatch):
    monkeypatch.setattr(console.CappedCountPaginator, "cap", 5)
    monkeypatch.setattr(audit.EngineEventAdmin, "list_per_page", 2)
    EngineEventFactory.create_batch(8)

    page = admin_client.get(admin_url(EngineEvent, "changelist")).content.decode()

    assert "More than 5 engine events" in page
    assert "Select all matching" in page


def test_changelist_count_is_exact_below_the_cap(admin_client):
    EngineEventFactory.create_batch(3)

    page = admin_client.get(admin_url(EngineEvent, "changelist")).content.decode()

    assert "3 engine events" in page
    assert "More than" not in page


def test_order_search_finds_exact_identifier_and_uuid(admin_client):
    wanted = OrderFactory(identifier="ac-wanted", exchange_uuid="uuid-wanted")
    other = OrderFactory(identifier="ac-other")

    by_identifier = admin_client.get(admin_url(Order, "changelist") + "?q=ac-wanted").content.decode()
    by_uuid = admin_client.get(admin_url(Order, "changelist") + "?q=uuid-wanted").content.decode()

    assert wanted.identifier in by_identifier
    assert other.identifier not in by_identifier
    assert wanted.identifier in by_uuid
    assert other.identifier not in by_uuid


def test_fill_search_by_order_identifier(admin_client):
    fill = FillFactory(order=OrderFactory(identifier="ac-filled"), trade_id="trade-1")
    FillFactory(trade_id="trade-2")

    page = admin_client.get(admin_url(Fill, "changelist") + "?q=ac-filled").content.decode()

    assert fill.trade_id in page
    assert "trade-2" not in page


def test_the_engine_page_shows_the_stored_reasons_in_the_readers_language(admin_client):
    state = EngineState.load()
    EngineState.objects.filter(pk=state.pk).update(
        state_reason="stop requested",
        kill_switch=True,
        kill_switch_reason=(
            "the daily loss limit was reached: today's PnL is -60,000 KRW (realized -60,000, unrealized 0), limit -50,000 "
            "KRW (MAX_DAILY_LOSS_KRW). Open orders were cancelled; trading stays stopped until Reset, and new entries stay "
            "blocked until local midnight"
        ),
    )
    admin_client.cookies["django_language"] = "ko"
    page = admin_client.get(reverse("admin:trading_enginestate_change", args=[state.pk])).content.decode()
    assert "중지 요청" in page
    assert "일일 손실 한도에 도달했습니다" in page
    assert "stop requested" not in page
    assert "the daily loss limit was reached" not in page

    admin_client.cookies["django_language"] = "en"
    page = admin_client.get(reverse("admin:trading_enginestate_change", args=[state.pk])).content.decode()
    assert "stop requested" in page
