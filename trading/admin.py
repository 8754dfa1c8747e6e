"""The operations console: every table, read-only audit trails, engine controls and streamed exports.

Built to stay fast with millions of rows: no full COUNT per page (a capped count instead), filters with
fixed choices (never SELECT DISTINCT over a big table), sorting only on indexed columns, and exports
that stream from a database cursor in constant memory.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from trading import exports, selectors, services
from trading.admin_filters import (
    BacktestStrategyFilter,
    CancelRequestedFilter,
    CandleUnitFilter,
    DateRangeFilter,
    FillModeFilter,
    FillSideFilter,
    MarketFilter,
    SignalSourceFilter,
    date_range_filter,
)
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
from trading.views import AMOUNT_MAX_CHARS, EngineOffline, engine_command, manual_error

admin.site.site_header = _("autocoin operations console")
admin.site.site_title = "autocoin"
admin.site.index_title = _("Operations")

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# ---------------------------------------------------------------------------------------------------
# Display helpers
# ---------------------------------------------------------------------------------------------------
def money(value: Decimal | None) -> str:
    """Thousands separators, trailing zeros dropped, never exponent notation; exact (Decimal, no float)."""
    if value is None:
        return "-"
    text = f"{value:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def local_time(value: Any) -> str:
    """A stored UTC time shown in the configured zone (Asia/Seoul by default)."""
    if value is None:
        return "-"
    return timezone.localtime(value).strftime(TIME_FORMAT)


def shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def admin_actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


# ---------------------------------------------------------------------------------------------------
# Large tables
# ---------------------------------------------------------------------------------------------------
class CappedCountPaginator(Paginator):
    """Counts at most `cap` rows (a COUNT over a LIMITed subquery) instead of the whole filtered table.

    Pages past the cap are not offered; narrow the list with a filter (e.g. the date range) to reach
    older rows. `capped` tells the templates to say "more than".
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        # Without ORDER BY the database may pick the filter's index (e.g. level, ts) rather than walking
        # the ts index across the whole table to skip a sort that a count does not need.
        counted = self.object_list.order_by()[: self.cap + 1].count()
        self.capped = counted > self.cap
        return min(counted, self.cap)

    capped = False


class ConsoleAdmin(admin.ModelAdmin):
    """Shared by every table: fast lists, newest first, CSV/JSON exports of the selection and of everything
    matching the current filters."""

    list_per_page = 100
    list_max_show_all = 500
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    actions = ("export_selected_csv", "export_selected_json")
    export_extra: tuple[str, ...] = ()
    """Extra export columns across relations, e.g. ("order__identifier",)."""

    @property
    def export_basename(self) -> str:
        return slugify(str(self.model._meta.verbose_name_plural))

    def export_columns(self) -> list[exports.Column]:
        return exports.columns_for(self.model, self.export_extra)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Money and audit rows are never deleted from the console.
        actions.pop("delete_selected", None)
        return actions

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        urls = [
            path(
                "export/<str:fmt>/",
                self.admin_site.admin_view(self.export_view),
                name="{}_{}_export".format(*info),
            ),
        ]
        return urls + super().get_urls()

    # --- exports ------------------------------------------------------------------------------------
    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        """Everything matching the changelist's current filters, search and ordering (the same GET params)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if fmt not in exports.FORMATS:
            return HttpResponseBadRequest(f"Unknown export format {fmt!r}; use csv or json.", content_type="text/plain")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters as error:
            # The list page shows these as "?e=1"; an export says what was wrong instead of failing.
            cause = error.args[0] if error.args else error
            detail = "; ".join(getattr(cause, "messages", None) or [str(cause)])
            return HttpResponseBadRequest(f"Export refused: a filter is not valid ({detail})", content_type="text/plain")
        problems = [spec.error for spec in changelist.filter_specs if getattr(spec, "error", "")]
        if problems:
            # An ignored bad bound would export far more than the person asked for; refuse instead.
            return HttpResponseBadRequest("Export refused: " + "; ".join(problems), content_type="text/plain")
        queryset = changelist.get_queryset(request)
        return exports.export_response(queryset, fmt=fmt, basename=self.export_basename, columns=self.export_columns())

    def _export_selected(self, request: HttpRequest, queryset: QuerySet, fmt: str) -> HttpResponse:
        return exports.export_response(
            queryset.order_by(*self.get_ordering(request) or ("-pk",)),
            fmt=fmt,
            basename=self.export_basename,
            columns=self.export_columns(),
        )

    @admin.action(description=_("Export selected as CSV"), permissions=["view"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return self._export_selected(request, queryset, "csv")

    @admin.action(description=_("Export selected as JSON"), permissions=["view"])
    def export_selected_json(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return self._export_selected(request, queryset, "json")


class AuditAdmin(ConsoleAdmin):
    """Read-only: rows are written by the engine and services only. The change page opens read-only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty_json(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap;margin:0'>{}</pre>", json.dumps(value, indent=2, default=str))


# ---------------------------------------------------------------------------------------------------
# Engine state: one row, opened directly, with Start / Stop / Reset / Reset paper account buttons.
# ---------------------------------------------------------------------------------------------------
@admin.register(EngineState)
class EngineStateAdmin(ConsoleAdmin):
    change_form_template = "admin/trading/enginestate/change_form.html"
    actions = ()
    exclude = ("metrics",)
    readonly_fields = ("metrics_pretty",)

    CONTROLS = ("start", "stop", "reset", "paper_reset")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Every field is the engine's to write; people act through the buttons.
        return False

    def may_control(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.has_perm("trading.change_enginestate")

    @admin.display(description=_("metrics"))
    def metrics_pretty(self, obj: EngineState) -> str:
        return _pretty_json(obj.metrics or {})

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        state = EngineState.load()
        return redirect(reverse("admin:trading_enginestate_change", args=[state.pk]))

    def get_urls(self) -> list[Any]:
        urls = [
            path(
                f"control/{name}/",
                self.admin_site.admin_view(require_POST(self._control_view(name))),
                name=f"trading_enginestate_{name}",
            )
            for name in self.CONTROLS
        ]
        return urls + super().get_urls()

    def _control_view(self, name: str) -> Any:
        def view(request: HttpRequest) -> HttpResponse:
            return self.control(request, name)

        return view

    def control(self, request: HttpRequest, name: str) -> HttpResponse:
        if not self.may_control(request):
            raise PermissionDenied
        actor = admin_actor(request)
        try:
            if name == "paper_reset":
                result = services.paper_account_reset(actor=actor)
                self.message_user(
                    request,
                    gettext("Paper account reset to %(krw)s KRW; %(count)s open paper order(s) cancelled.")
                    % {"krw": money(result.initial_krw), "count": result.cancelled_orders},
                )
            else:
                # The same rules as the dashboard and the API: Start needs a live engine process, and a Stop
                # while it is offline completes at once.
                transition, note = engine_command(action=name, actor=actor, reason=f"{name.capitalize()} pressed in the admin")
                done = {
                    "start": gettext("Engine started: RUNNING. The engine process trades from its next cycle."),
                    "stop": gettext("Stop requested: STOPPING until the engine finishes its current cycle."),
                    "reset": gettext("Engine reset: IDLE, kill-switch re-armed."),
                }[name]
                if note:
                    done = gettext("Engine stopped: %(state)s.") % {"state": transition.new} + " " + gettext(note)
                self.message_user(request, done)
        except services.TransitionNotAllowed as refusal:
            self.message_user(request, refusal.message, level=messages.ERROR)
        except EngineOffline as offline:
            self.message_user(request, offline.message, level=messages.ERROR)
        except services.InvalidInput as error:
            self.message_user(request, f"{error.field}: {error.message}", level=messages.ERROR)
        return redirect(reverse("admin:trading_enginestate_change", args=[EngineState.SINGLETON_PK]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        state = EngineState.load()
        allowed = services.allowed_actions(state.state)
        extra = {
            "engine": state,
            "engine_online": selectors.engine_online(state),
            "heartbeat_age": selectors.heartbeat_age_sec(state),
            "allowed": allowed,
            "may_control": self.may_control(request),
            "paper_reset_allowed": state.state not in (EngineState.State.RUNNING, EngineState.State.STOPPING),
            "paper_mode": settings.PAPER_MODE,
            "live_problem": services.live_mode_problem(),
            "title": gettext("Engine: %(state)s") % {"state": state.state},
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


# ---------------------------------------------------------------------------------------------------
# Strategy parameters: edited as JSON, validated like the engine validates them, stored via the service.
# ---------------------------------------------------------------------------------------------------
def _strategy_names() -> list[str]:
    try:
        from trading.strategies import registry
    except ImportError:
        return ["macd", "sma_cross", "volatility_breakout"]
    return list(registry.STRATEGIES)


class StrategyConfigForm(forms.ModelForm):
    params = forms.JSONField(
        required=False,  # {} (every parameter at its default) is a valid value, and Django counts it as empty
        widget=forms.Textarea(attrs={"rows": 14, "cols": 70, "style": "font-family:monospace"}),
        help_text=_('A JSON object, e.g. {"fast": 12, "slow": 26, "signal": 9}. Missing parameters take their defaults.'),
    )

    class Meta:
        model = StrategyConfig
        fields = ("strategy", "params")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "strategy" in self.fields:
            self.fields["strategy"] = forms.ChoiceField(choices=[(name, name) for name in _strategy_names()])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        strategy = cleaned.get("strategy") or self.instance.strategy
        if "params" in self.errors:
            return cleaned
        params = cleaned.get("params")
        if params is None:
            params = cleaned["params"] = {}
        if not isinstance(params, dict):
            self.add_error("params", "Parameters must be a JSON object, e.g. {}.")
            return cleaned
        try:
            from trading.strategies import registry
        except ImportError:
            raise forms.ValidationError(
                "Strategy parameters cannot be validated: the strategy registry is not installed; nothing was saved."
            ) from None
        try:
            registry.validate_params(strategy, params)
        except ValueError as error:
            self.add_error("params", str(error))
        return cleaned


@admin.register(StrategyConfig)
class StrategyConfigAdmin(ConsoleAdmin):
    form = StrategyConfigForm
    list_display = ("strategy", "params_short", "updated", "updated_by")
    search_fields = ("strategy",)
    ordering = ("strategy",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("strategy", "updated_at", "updated_by") if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("parameters"))
    def params_short(self, obj: StrategyConfig) -> str:
        return shorten(json.dumps(obj.params, default=str), 100)

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated(self, obj: StrategyConfig) -> str:
        return local_time(obj.updated_at)

    def save_model(self, request: HttpRequest, obj: StrategyConfig, form: Any, change: bool) -> None:
        """Stored through `services.strategy_config_update`, which validates again and records the change."""
        try:
            stored = services.strategy_config_update(strategy=obj.strategy, params=obj.params, actor=admin_actor(request))
        except services.InvalidInput as error:
            # Validated in the form already; only a change of the rules between the two could land here.
            raise PermissionDenied(f"{error.field}: {error.message}") from None
        obj.pk = stored.pk
        obj.params = stored.params
        obj.updated_at = stored.updated_at
        obj.updated_by = stored.updated_by


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
    readonly_fields = ("time", "meta_pretty")

    @property
    def export_basename(self) -> str:
        return "events"

    @admin.display(description=_("time"), ordering="ts")
    def time(self, obj: EngineEvent) -> str:
        return local_time(obj.ts)

    @admin.display(description=_("message"))
    def message_short(self, obj: EngineEvent) -> str:
        return shorten(obj.message)

    @admin.display(description=_("meta"))
    def meta_pretty(self, obj: EngineEvent) -> str:
        return _pretty_json(obj.meta)


@admin.register(Signal)
class SignalAdmin(AuditAdmin):
    list_display = ("time", "action", "market", "score_fmt", "source", "explanation_short")
    list_filter = (DateRangeFilter, "action", MarketFilter, SignalSourceFilter)
    search_fields = ("explanation",)
    ordering = ("-ts", "-id")
    sortable_by = ("time",)

    @admin.display(description=_("time"), ordering="ts")
    def time(self, obj: Signal) -> str:
        return local_time(obj.ts)

    @admin.display(description=_("score"))
    def score_fmt(self, obj: Signal) -> str:
        return money(obj.score)

    @admin.display(description=_("explanation"))
    def explanation_short(self, obj: Signal) -> str:
        return shorten(obj.explanation)


@admin.register(Fill)
class FillAdmin(AuditAdmin):
    list_display = ("time", "order_link", "side", "price_fmt", "volume_fmt", "funds_fmt", "fee_fmt", "trade_id")
    list_filter = (DateRangeFilter, FillSideFilter, FillModeFilter)
    list_select_related = ("order",)
    search_fields = ("trade_id", "order__identifier")
    search_help_text = "An exact trade id or order identifier."
    ordering = ("-ts", "-id")
    sortable_by = ("time",)
    export_extra = ("order__identifier", "order__market", "order__side", "order__mode")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Exact matches on unique columns (index lookups): a substring search would scan every fill."""
        term = search_term.strip()
        if not term:
            return queryset, False
        # The subquery (not a join) lets the database use both unique indexes for the OR.
        orders = Order.objects.filter(identifier=term).values("pk")
        return queryset.filter(Q(trade_id=term) | Q(order_id__in=orders)), False

    @admin.display(description=_("time"), ordering="ts")
    def time(self, obj: Fill) -> str:
        return local_time(obj.ts)

    @admin.display(description=_("order"))
    def order_link(self, obj: Fill) -> str:
        url = reverse("admin:trading_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.identifier)

    @admin.display(description=_("side"))
    def side(self, obj: Fill) -> str:
        return obj.order.side

    @admin.display(description=_("price"))
    def price_fmt(self, obj: Fill) -> str:
        return money(obj.price)

    @admin.display(description=_("volume"))
    def volume_fmt(self, obj: Fill) -> str:
        return money(obj.volume)

    @admin.display(description=_("funds (KRW)"))
    def funds_fmt(self, obj: Fill) -> str:
        return money(obj.funds)

    @admin.display(description=_("fee (KRW)"))
    def fee_fmt(self, obj: Fill) -> str:
        return money(obj.fee)


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(AuditAdmin):
    list_display = ("time", "mode", "krw_fmt", "coin_symbol", "coin_volume_fmt", "price_fmt", "total_fmt")
    list_filter = (DateRangeFilter, "mode")
    ordering = ("-ts", "-id")
    sortable_by = ("time",)

    @admin.display(description=_("time"), ordering="ts")
    def time(self, obj: BalanceSnapshot) -> str:
        return local_time(obj.ts)

    @admin.display(description=_("KRW"))
    def krw_fmt(self, obj: BalanceSnapshot) -> str:
        return money(obj.krw)

    @admin.display(description=_("coin"))
    def coin_volume_fmt(self, obj: BalanceSnapshot) -> str:
        return money(obj.coin_volume)

    @admin.display(description=_("price"))
    def price_fmt(self, obj: BalanceSnapshot) -> str:
        return money(obj.price)

    @admin.display(description=_("total (KRW)"))
    def total_fmt(self, obj: BalanceSnapshot) -> str:
        return money(obj.total_krw)


@admin.register(PnlDaily)
class PnlDailyAdmin(AuditAdmin):
    list_display = (
        "date",
        "market",
        "mode",
        "realized_fmt",
        "unrealized_fmt",
        "total_fmt",
        "fees_fmt",
        "drawdown_fmt",
        "equity_last_fmt",
        "trades",
    )
    list_filter = (date_range_filter("date"), MarketFilter, "mode")
    ordering = ("-date", "market", "mode")
    sortable_by = ("date",)

    @property
    def export_basename(self) -> str:
        return "pnl-daily"

    @admin.display(description=_("realized"))
    def realized_fmt(self, obj: PnlDaily) -> str:
        return money(obj.realized)

    @admin.display(description=_("unrealized"))
    def unrealized_fmt(self, obj: PnlDaily) -> str:
        return money(obj.unrealized)

    @admin.display(description=_("total"))
    def total_fmt(self, obj: PnlDaily) -> str:
        return money(obj.total)

    @admin.display(description=_("fees"))
    def fees_fmt(self, obj: PnlDaily) -> str:
        return money(obj.fees)

    @admin.display(description=_("max drawdown"))
    def drawdown_fmt(self, obj: PnlDaily) -> str:
        return money(obj.max_drawdown)

    @admin.display(description=_("equity (last)"))
    def equity_last_fmt(self, obj: PnlDaily) -> str:
        return money(obj.equity_last)


@admin.register(Candle)
class CandleAdmin(AuditAdmin):
    list_display = ("market", "unit", "time", "open_fmt", "high_fmt", "low_fmt", "close_fmt", "volume_fmt")
    list_filter = (MarketFilter, CandleUnitFilter, DateRangeFilter)
    # Walks the unique (market, unit, ts) index backwards: newest first within a market and unit.
    ordering = ("-market", "-unit", "-ts")
    sortable_by = ()

    @admin.display(description=_("start"), ordering="ts")
    def time(self, obj: Candle) -> str:
        return local_time(obj.ts)

    @admin.display(description=_("open"))
    def open_fmt(self, obj: Candle) -> str:
        return money(obj.open)

    @admin.display(description=_("high"))
    def high_fmt(self, obj: Candle) -> str:
        return money(obj.high)

    @admin.display(description=_("low"))
    def low_fmt(self, obj: Candle) -> str:
        return money(obj.low)

    @admin.display(description=_("close"))
    def close_fmt(self, obj: Candle) -> str:
        return money(obj.close)

    @admin.display(description=_("volume"))
    def volume_fmt(self, obj: Candle) -> str:
        return money(obj.volume)


@admin.register(BacktestRun)
class BacktestRunAdmin(AuditAdmin):
    list_display = ("time", "strategy", "market", "unit", "period", "initial_fmt", "final_fmt", "return_pct", "duration_sec")
    list_filter = (DateRangeFilter, BacktestStrategyFilter, MarketFilter)
    ordering = ("-ts", "-id")
    sortable_by = ("time",)
    exclude = ("equity_svg", "metrics", "params")
    readonly_fields = ("equity_chart", "params_pretty", "metrics_pretty")

    @admin.display(description=_("time"), ordering="ts")
    def time(self, obj: BacktestRun) -> str:
        return local_time(obj.ts)

    @admin.display(description=_("period"))
    def period(self, obj: BacktestRun) -> str:
        return f"{local_time(obj.date_from)} → {local_time(obj.date_to)}"

    @admin.display(description=_("initial KRW"))
    def initial_fmt(self, obj: BacktestRun) -> str:
        return money(obj.initial_krw)

    @admin.display(description=_("final equity"))
    def final_fmt(self, obj: BacktestRun) -> str:
        return money(obj.final_equity)

    @admin.display(description=_("return"))
    def return_pct(self, obj: BacktestRun) -> str:
        if not obj.initial_krw:
            return "-"
        change = (obj.final_equity - obj.initial_krw) / obj.initial_krw * 100
        return f"{change.quantize(Decimal('0.01')):+f} %"

    @admin.display(description=_("equity"))
    def equity_chart(self, obj: BacktestRun) -> str:
        """The stored equity SVG, shown as an image: an SVG inside <img> never runs scripts or loads anything,
        so even a tampered row cannot inject into the page."""
        if not obj.equity_svg:
            return "-"
        encoded = base64.b64encode(obj.equity_svg.encode()).decode("ascii")
        return format_html(
            '<img src="data:image/svg+xml;base64,{}" alt="equity curve" style="max-width:100%;background:#fff">', encoded
        )

    @admin.display(description=_("parameters"))
    def params_pretty(self, obj: BacktestRun) -> str:
        return _pretty_json(obj.params)

    @admin.display(description=_("metrics"))
    def metrics_pretty(self, obj: BacktestRun) -> str:
        return _pretty_json(obj.metrics)


# ---------------------------------------------------------------------------------------------------
# Orders: read-only, plus "Cancel selected open orders" (a request the engine carries out).
# ---------------------------------------------------------------------------------------------------
@admin.register(Order)
class OrderAdmin(AuditAdmin):
    list_display = (
        "time",
        "side",
        "ord_type",
        "market",
        "status",
        "mode",
        "price_fmt",
        "volume_fmt",
        "executed_volume_fmt",
        "executed_funds_fmt",
        "paid_fee_fmt",
        "identifier",
        "cancel_requested",
    )
    list_filter = (DateRangeFilter, "status", "side", "mode", MarketFilter, "ord_type", CancelRequestedFilter)
    search_fields = ("identifier", "exchange_uuid")
    search_help_text = "An exact order identifier or exchange UUID."
    ordering = ("-ts", "-id")
    sortable_by = ("time",)
    exclude = ("raw",)
    readonly_fields = ("raw_pretty",)
    actions = ("cancel_open_orders", "export_selected_csv", "export_selected_json")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Exact matches on unique columns (index lookups): a substring search would scan every order."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(identifier=term) | Q(exchange_uuid=term)), False

    @admin.display(description=_("time"), ordering="ts")
    def time(self, obj: Order) -> str:
        return local_time(obj.ts)

    @admin.display(description=_("price"))
    def price_fmt(self, obj: Order) -> str:
        return money(obj.price)

    @admin.display(description=_("volume"))
    def volume_fmt(self, obj: Order) -> str:
        return money(obj.volume)

    @admin.display(description=_("executed volume"))
    def executed_volume_fmt(self, obj: Order) -> str:
        return money(obj.executed_volume)

    @admin.display(description=_("executed KRW"))
    def executed_funds_fmt(self, obj: Order) -> str:
        return money(obj.executed_funds)

    @admin.display(description=_("fee"))
    def paid_fee_fmt(self, obj: Order) -> str:
        return money(obj.paid_fee)

    @admin.display(description=_("cancel requested"), boolean=True)
    def cancel_requested(self, obj: Order) -> bool:
        return obj.cancel_requested_at is not None

    @admin.display(description=_("raw (as the exchange reported it)"))
    def raw_pretty(self, obj: Order) -> str:
        return _pretty_json(obj.raw)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.has_perm("trading.change_order")

    @admin.action(description=_("Cancel selected open orders"), permissions=["cancel"])
    def cancel_open_orders(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Like delete_selected: a confirmation page first; the POST with `post=yes` queues the cancels."""
        rows = list(queryset.order_by("-ts", "-id")[:1001])
        if len(rows) > 1000:
            self.message_user(request, gettext("Select at most 1,000 orders to cancel at once."), level=messages.ERROR)
            return None
        open_rows = [order for order in rows if order.status in Order.OPEN_STATUSES]
        if request.POST.get("post") == "yes":
            try:
                result = services.order_cancel_request(order_ids=[o.pk for o in open_rows], actor=admin_actor(request))
            except services.InvalidInput as error:
                self.message_user(request, error.message, level=messages.ERROR)
                return None
            state = EngineState.load().state
            if state == EngineState.State.RUNNING:
                when = gettext("in its next cycle")
            else:
                when = gettext("once it runs (the engine is %(state)s; press Start on the engine page)") % {"state": state}
            text = gettext("Cancel requested for %(count)s open order(s); the engine cancels them on the exchange %(when)s.") % {
                "count": len(result.requested),
                "when": when,
            }
            if result.already_requested:
                text += " " + gettext("%(count)s already had a cancel request.") % {"count": len(result.already_requested)}
            self.message_user(request, text)
            skipped = len(rows) - len(open_rows)
            if skipped:
                self.message_user(
                    request,
                    gettext("%(count)s selected order(s) were not open (filled, cancelled or rejected): left as they are.")
                    % {"count": skipped},
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Cancel open orders: are you sure?"),
            "opts": self.opts,
            "open_orders": open_rows,
            "final_orders": [order for order in rows if order.status not in Order.OPEN_STATUSES],
            "queryset": rows,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
            "engine_state": EngineState.load().state,
            "objects_name": model_ngettext(self.opts, len(open_rows)),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/trading/order/cancel_confirmation.html", context)


# ---------------------------------------------------------------------------------------------------
# Manual orders: the add form queues a request through the service; requests are read-only afterwards.
# ---------------------------------------------------------------------------------------------------
MANUAL_QUEUED = gettext_noop(
    "Manual order queued: %(kind)s on %(market)s. The engine carries it out in its next cycle (through the risk gate)."
)


class ManualOrderForm(forms.Form):
    kind = forms.ChoiceField(label=_("Order"), choices=ManualOrderRequest.Kind.choices, widget=forms.RadioSelect)
    krw = forms.CharField(
        label=_("KRW to spend"),
        required=False,
        max_length=AMOUNT_MAX_CHARS,
        help_text=_("For a buy: the KRW amount, fee included (at least 5,000)."),
    )
    volume = forms.CharField(
        label=_("Volume to sell"),
        required=False,
        max_length=AMOUNT_MAX_CHARS,
        help_text=_("For a sell: the coin volume, e.g. 0.0001."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == ManualOrderRequest.Kind.SELL and (cleaned.get("volume") or "").strip().lower() == "all":
            cleaned["kind"], cleaned["volume"] = ManualOrderRequest.Kind.SELL_ALL, ""
            kind = ManualOrderRequest.Kind.SELL_ALL
        # An amount the chosen order does not use is refused, not silently dropped.
        used = {ManualOrderRequest.Kind.BUY: "krw", ManualOrderRequest.Kind.SELL: "volume"}.get(kind)
        for name in ("krw", "volume"):
            if kind and name != used and cleaned.get(name):
                self.add_error(name, gettext("Leave this empty for this order."))
        return cleaned


@admin.register(ManualOrderRequest)
class ManualOrderRequestAdmin(AuditAdmin):
    list_display = ("time", "kind", "market", "krw_fmt", "volume_fmt", "status", "requested_by", "processed", "order_link")
    list_filter = (DateRangeFilter, "status", "kind", MarketFilter)
    list_select_related = ("order",)
    search_fields = ("requested_by", "result")
    ordering = ("-ts", "-id")
    sortable_by = ("time",)

    @property
    def export_basename(self) -> str:
        return "manual-orders"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.has_perm("trading.add_manualorderrequest")

    @admin.display(description=_("time"), ordering="ts")
    def time(self, obj: ManualOrderRequest) -> str:
        return local_time(obj.ts)

    @admin.display(description=_("processed"))
    def processed(self, obj: ManualOrderRequest) -> str:
        return local_time(obj.processed_at)

    @admin.display(description=_("KRW"))
    def krw_fmt(self, obj: ManualOrderRequest) -> str:
        return money(obj.krw)

    @admin.display(description=_("volume"))
    def volume_fmt(self, obj: ManualOrderRequest) -> str:
        return money(obj.volume)

    @admin.display(description=_("order"))
    def order_link(self, obj: ManualOrderRequest) -> str:
        if obj.order_id is None:
            return "-"
        url = reverse("admin:trading_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.identifier)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """Queue a manual order via `services.manual_order_request_create`; its errors land on the form."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ManualOrderForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                created = services.manual_order_request_create(
                    kind=data["kind"],
                    actor=admin_actor(request),
                    krw=data["krw"] or None,
                    volume=data["volume"] or None,
                )
            except services.InvalidInput as error:
                shown = manual_error(error.field, error.message)["message"]
                form.add_error(error.field if error.field in form.fields else None, shown)
            else:
                self.log_addition(request, created, [{"added": {}}])
                self.message_user(
                    request,
                    gettext(MANUAL_QUEUED) % {"kind": created.get_kind_display(), "market": created.market},
                )
                return HttpResponseRedirect(reverse("admin:trading_manualorderrequest_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Queue a manual order"),
            "opts": self.opts,
            "form": form,
            "market": settings.TRADING_MARKET,
            "paper_mode": settings.PAPER_MODE,
            "max_order_krw": settings.MAX_ORDER_KRW,
            "engine_state": EngineState.load().state,
            "has_view_permission": self.has_view_permission(request),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/trading/manualorderrequest/add_form.html", context)
