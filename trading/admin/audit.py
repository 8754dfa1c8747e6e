"""Read-only audit trails: engine events, signals, fills, balance snapshots, daily PnL, candles, backtests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from trading import event_texts
from trading.admin.console import AuditAdmin, account_column, local_time, money_column, pretty_json, shorten, time_column
from trading.admin_filters import (
    AccountFilter,
    BacktestStrategyFilter,
    CandleUnitFilter,
    DateRangeFilter,
    FillAccountFilter,
    FillModeFilter,
    FillSideFilter,
    MarketFilter,
    SignalSourceFilter,
    date_range_filter,
)
from trading.models import BacktestRun, BalanceSnapshot, Candle, EngineEvent, Fill, Order, PnlDaily, Signal
from trading.sentences import shown_sentence


# ---------------------------------------------------------------------------------------------------
# Audit trails
# ---------------------------------------------------------------------------------------------------
@admin.register(EngineEvent)
class EngineEventAdmin(AuditAdmin):
    list_display = ("time", "level", "kind", "state", "actor", "message_short")
    list_filter = (DateRangeFilter, "level", "kind", "state")
    search_fields = ("message",)
    ordering = ("-ts", "-id")
    sortable_by = ("time",)
    exclude = ("meta",)
    readonly_fields = ("message_shown", "meta_pretty")

    @property
    def export_basename(self) -> str:
        return "events"

    time = time_column("ts", _("time"), ordering="ts")

    @admin.display(description=_("message"))
    def message_short(self, obj: EngineEvent) -> str:
        # The stored (English) sentence in the reader's language; the row's page keeps the stored text too.
        return shorten(event_texts.shown(obj.message, obj.meta))

    @admin.display(description=_("message (in your language)"))
    def message_shown(self, obj: EngineEvent) -> str:
        return event_texts.shown(obj.message, obj.meta)

    @admin.display(description=_("meta"))
    def meta_pretty(self, obj: EngineEvent) -> str:
        return pretty_json(obj.meta)


@admin.register(Signal)
class SignalAdmin(AuditAdmin):
    list_display = ("time", "action", "market", "score_fmt", "source", "explanation_short")
    list_filter = (DateRangeFilter, "action", MarketFilter, SignalSourceFilter)
    search_fields = ("explanation",)
    readonly_fields = ("explanation_shown",)
    ordering = ("-ts", "-id")
    sortable_by = ("time",)

    time = time_column("ts", _("time"), ordering="ts")
    score_fmt = money_column("score", _("score"))

    @admin.display(description=_("explanation"))
    def explanation_short(self, obj: Signal) -> str:
        return shorten(shown_sentence(obj.explanation))

    @admin.display(description=_("explanation (in your language)"))
    def explanation_shown(self, obj: Signal) -> str:
        return shown_sentence(obj.explanation)


@admin.register(Fill)
class FillAdmin(AuditAdmin):
    list_display = ("time", "order_link", "side", "account_name", "price_fmt", "volume_fmt", "funds_fmt", "fee_fmt", "trade_id")
    list_filter = (DateRangeFilter, FillSideFilter, FillModeFilter, FillAccountFilter)
    list_select_related = ("order",)
    search_fields = ("trade_id", "order__identifier")
    search_help_text = _("An exact trade id or order identifier.")
    ordering = ("-ts", "-id")
    sortable_by = ("time",)
    export_extra = ("order__identifier", "order__market", "order__side", "order__mode", "order__account")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> tuple[QuerySet[Any], bool]:
        """Exact matches on unique columns (index lookups): a substring search would scan every fill."""
        term = search_term.strip()
        if not term:
            return queryset, False
        # The subquery (not a join) lets the database use both unique indexes for the OR.
        orders = Order.objects.filter(identifier=term).values("pk")
        return queryset.filter(Q(trade_id=term) | Q(order_id__in=orders)), False

    time = time_column("ts", _("time"), ordering="ts")
    account_name = account_column("order__account")

    @admin.display(description=_("order"))
    def order_link(self, obj: Fill) -> str:
        url = reverse("admin:trading_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.identifier)

    @admin.display(description=_("side"))
    def side(self, obj: Fill) -> str:
        return obj.order.get_side_display()

    price_fmt = money_column("price", _("price"))
    volume_fmt = money_column("volume", _("volume"))
    funds_fmt = money_column("funds", _("funds (KRW)"))
    fee_fmt = money_column("fee", _("fee (KRW)"))


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(AuditAdmin):
    list_display = ("time", "mode", "account_name", "krw_fmt", "coin_symbol", "coin_volume_fmt", "price_fmt", "total_fmt")
    list_filter = (DateRangeFilter, "mode", AccountFilter)
    ordering = ("-ts", "-id")
    sortable_by = ("time",)

    time = time_column("ts", _("time"), ordering="ts")
    account_name = account_column()
    krw_fmt = money_column("krw", _("KRW"))
    coin_volume_fmt = money_column("coin_volume", _("coin"))
    price_fmt = money_column("price", _("price"))
    total_fmt = money_column("total_krw", _("total (KRW)"))


@admin.register(PnlDaily)
class PnlDailyAdmin(AuditAdmin):
    list_display = (
        "date",
        "market",
        "mode",
        "account_name",
        "realized_fmt",
        "unrealized_fmt",
        "total_fmt",
        "fees_fmt",
        "drawdown_fmt",
        "equity_last_fmt",
        "trades",
    )
    list_filter = (date_range_filter("date"), MarketFilter, "mode", AccountFilter)
    ordering = ("-date", "market", "account")
    sortable_by = ("date",)

    @property
    def export_basename(self) -> str:
        return "pnl-daily"

    account_name = account_column()
    realized_fmt = money_column("realized", _("realized"))
    unrealized_fmt = money_column("unrealized", _("unrealized"))
    total_fmt = money_column("total", _("total"))
    fees_fmt = money_column("fees", _("fees"))
    drawdown_fmt = money_column("max_drawdown", _("max drawdown"))
    equity_last_fmt = money_column("equity_last", _("equity (last)"))


@admin.register(Candle)
class CandleAdmin(AuditAdmin):
    list_display = ("market", "unit", "time", "open_fmt", "high_fmt", "low_fmt", "close_fmt", "volume_fmt")
    list_filter = (MarketFilter, CandleUnitFilter, DateRangeFilter)
    # Walks the unique (market, unit, ts) index backwards: newest first within a market and unit.
    ordering = ("-market", "-unit", "-ts")
    sortable_by = ()

    time = time_column("ts", _("start"), ordering="ts")
    open_fmt = money_column("open", _("open"))
    high_fmt = money_column("high", _("high"))
    low_fmt = money_column("low", _("low"))
    close_fmt = money_column("close", _("close"))
    volume_fmt = money_column("volume", _("volume"))


@admin.register(BacktestRun)
class BacktestRunAdmin(AuditAdmin):
    list_display = ("time", "strategy", "market", "unit", "period", "initial_fmt", "final_fmt", "return_pct", "duration_sec")
    list_filter = (DateRangeFilter, BacktestStrategyFilter, MarketFilter)
    ordering = ("-ts", "-id")
    sortable_by = ("time",)
    exclude = ("equity_svg", "metrics", "params")
    readonly_fields = ("equity_chart", "params_pretty", "metrics_pretty")

    time = time_column("ts", _("time"), ordering="ts")

    @admin.display(description=_("period"))
    def period(self, obj: BacktestRun) -> str:
        return f"{local_time(obj.date_from)} → {local_time(obj.date_to)}"

    initial_fmt = money_column("initial_krw", _("initial KRW"))
    final_fmt = money_column("final_equity", _("final equity"))

    @admin.display(description=_("return"))
    def return_pct(self, obj: BacktestRun) -> str:
        if not obj.initial_krw:
            return "-"
        change = (obj.final_equity - obj.initial_krw) / obj.initial_krw * 100
        return f"{change.quantize(Decimal('0.01')):+f} %"

    @admin.display(description=_("equity"))
    def equity_chart(self, obj: BacktestRun) -> str:
        """The stored equity SVG, shown as an image from its own same-origin address: an SVG inside <img> never runs
        scripts or loads anything, so even a tampered row cannot inject into the page, and the page's CSP allows
        neither data: images nor inline styles."""
        if not obj.equity_svg:
            return "-"
        return format_html(
            '<img class="admin-chart" src="{}" alt="{}">', reverse("backtest_run_equity", args=[obj.pk]), gettext("equity curve")
        )

    @admin.display(description=_("parameters"))
    def params_pretty(self, obj: BacktestRun) -> str:
        return pretty_json(obj.params)

    @admin.display(description=_("metrics"))
    def metrics_pretty(self, obj: BacktestRun) -> str:
        return pretty_json(obj.metrics)
