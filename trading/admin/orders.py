"""Orders (read-only, plus "Cancel selected open orders": a request the engine carries out) and manual
orders (the add form queues a request through the service; requests are read-only afterwards, but those still
pending can be cancelled)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from trading import manual_requests, services
from trading.admin.console import AuditAdmin, account_column, admin_actor, money_column, pretty_json, shorten, time_column
from trading.admin_filters import AccountFilter, CancelRequestedFilter, DateRangeFilter, MarketFilter
from trading.auth import CANCEL_ORDER, PLACE_MANUAL_ORDER, user_can
from trading.errors import ManualOrderRefused, ManualRequestNotCancellable
from trading.forms import ManualOrderForm
from trading.labels import code_label
from trading.models import EngineState, ManualOrderRequest, Order
from trading.sentences import shown_sentence


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
        "account_name",
        "price_fmt",
        "volume_fmt",
        "executed_volume_fmt",
        "executed_funds_fmt",
        "paid_fee_fmt",
        "identifier",
        "cancel_requested",
    )
    list_filter = (DateRangeFilter, "status", "side", "mode", AccountFilter, MarketFilter, "ord_type", CancelRequestedFilter)
    search_fields = ("identifier", "exchange_uuid")
    search_help_text = _("An exact order identifier or exchange UUID.")
    ordering = ("-ts", "-id")
    sortable_by = ("time",)
    exclude = ("raw", "reason")
    readonly_fields = ("reason_shown", "raw_pretty")
    actions = ("cancel_open_orders", "export_selected_csv", "export_selected_excel", "export_selected_json")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> tuple[QuerySet[Any], bool]:
        """Exact matches on unique columns (index lookups): a substring search would scan every order."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(identifier=term) | Q(exchange_uuid=term)), False

    time = time_column("ts", _("time"), ordering="ts")
    account_name = account_column()
    price_fmt = money_column("price", _("price"))
    volume_fmt = money_column("volume", _("volume"))
    executed_volume_fmt = money_column("executed_volume", _("executed volume"))
    executed_funds_fmt = money_column("executed_funds", _("executed KRW"))
    paid_fee_fmt = money_column("paid_fee", _("fee"))

    @admin.display(description=_("cancel requested"), boolean=True)
    def cancel_requested(self, obj: Order) -> bool:
        return obj.cancel_requested_at is not None

    @admin.display(description=_("reason"))
    def reason_shown(self, obj: Order) -> str:
        """Why the order was made, in the reader's language (stored in English: "BUY by macd: entry")."""
        return shown_sentence(obj.reason)

    @admin.display(description=_("raw (as the exchange reported it)"))
    def raw_pretty(self, obj: Order) -> str:
        return pretty_json(obj.raw)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, CANCEL_ORDER)

    @admin.action(description=_("Cancel selected open orders"), permissions=["cancel"])
    def cancel_open_orders(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
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
                when = gettext("once it runs (the engine is %(state)s; press Start on the engine page)") % {
                    "state": code_label(state, "state")
                }
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


@admin.register(ManualOrderRequest)
class ManualOrderRequestAdmin(AuditAdmin):
    list_display = (
        *("time", "kind", "market", "krw_fmt", "volume_fmt", "status", "requested_by", "processed", "order_link"),
        "result_short",
    )
    list_filter = (DateRangeFilter, "status", "kind", MarketFilter)
    list_select_related = ("order",)
    search_fields = ("requested_by", "result")
    readonly_fields = ("result_shown",)
    ordering = ("-ts", "-id")
    sortable_by = ("time",)
    actions = ("cancel_pending_requests", "export_selected_csv", "export_selected_excel", "export_selected_json")

    @property
    def export_basename(self) -> str:
        return "manual-orders"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_can(request.user, PLACE_MANUAL_ORDER)

    def has_cancel_manual_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, PLACE_MANUAL_ORDER)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # The list never shows a request PENDING past its time, even while no engine runs to expire it.
        manual_requests.manual_order_requests_expire(now=timezone.now(), actor="web")
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Cancel selected pending requests"), permissions=["cancel_manual"])
    def cancel_pending_requests(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Each selected request still PENDING is cancelled (the engine will not carry it out); the rest are
        named with the reason they were left alone."""
        actor = admin_actor(request)
        cancelled, refused = 0, []
        for request_id in queryset.order_by("ts", "id").values_list("pk", flat=True)[:1000]:
            try:
                manual_requests.manual_order_request_cancel(request_id=request_id, actor=actor)
                cancelled += 1
            except ManualRequestNotCancellable as refusal:
                refused.append(refusal.text())
        if cancelled:
            self.message_user(request, gettext("%(count)s manual request(s) cancelled.") % {"count": cancelled})
        for text in refused[:10]:
            self.message_user(request, text, level=messages.WARNING)

    time = time_column("ts", _("time"), ordering="ts")
    processed = time_column("processed_at", _("processed"))

    @admin.display(description=_("result"))
    def result_short(self, obj: ManualOrderRequest) -> str:
        # The stored (English) result in the reader's language; the row's page keeps the stored text too.
        return shorten(shown_sentence(obj.result))

    @admin.display(description=_("result (in your language)"))
    def result_shown(self, obj: ManualOrderRequest) -> str:
        return shown_sentence(obj.result)

    krw_fmt = money_column("krw", _("KRW"))
    volume_fmt = money_column("volume", _("volume"))

    @admin.display(description=_("order"))
    def order_link(self, obj: ManualOrderRequest) -> str:
        order = obj.order  # joined by list_select_related
        if order is None:
            return "-"
        url = reverse("admin:trading_order_change", args=[order.pk])
        return format_html('<a href="{}">{}</a>', url, order.identifier)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Queue a manual order via `manual_requests.manual_order_request_create`; its errors land on the form."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ManualOrderForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                created = manual_requests.manual_order_request_create(
                    kind=data["kind"],
                    actor=admin_actor(request),
                    krw=data["krw"] or None,
                    volume=data["volume"] or None,
                )
            except services.InvalidInput as error:
                form.add_error(error.field if error.field in form.fields else None, error.text())
            except ManualOrderRefused as refusal:
                form.add_error(None, refusal.text())
            else:
                self.log_addition(request, created, [{"added": {}}])
                self.message_user(
                    request,
                    gettext(MANUAL_QUEUED) % {"kind": created.get_kind_display(), "market": created.market},
                )
                return HttpResponseRedirect(reverse("admin:trading_manualorderrequest_changelist"))
        not_now = manual_requests.manual_order_refusal() if request.method != "POST" else None
        if not_now is not None:
            self.message_user(request, not_now.text(), level=messages.WARNING)  # before the form is filled in
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
