"""The console's shared parts: display helpers, column factories, the capped paginator and the base admins.

Built to stay fast with millions of rows: no full COUNT per page (a capped count instead), filters with
fixed choices (never SELECT DISTINCT over a big table), sorting only on indexed columns, and exports
that stream from a database cursor in constant memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from trading import exports
from trading.accounts import account_label
from trading.auth import EXPORT_DATA, user_can

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    # django-stubs makes these generic in the model and the rows; Django itself does not subscript them.
    ModelAdminBase = admin.ModelAdmin[Any]
    PaginatorBase = Paginator[Any]
else:
    ModelAdminBase = admin.ModelAdmin
    PaginatorBase = Paginator

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


Column = Callable[[Any, Any], str]


def money_column(field: str, description: StrOrPromise) -> Column:
    """A list column showing the Decimal `field` through `money()`."""

    @admin.display(description=description)
    def column(model_admin: Any, obj: Any) -> str:
        return money(getattr(obj, field))

    return column


def account_column(path: str = "account") -> Column:
    """A list column naming the exchange account of the row (`path` may cross a relation: "order__account")."""

    @admin.display(description=_("account"))
    def column(model_admin: Any, obj: Any) -> str:
        for part in path.split("__"):
            obj = getattr(obj, part)
        return format_html('<span title="{}">{}</span>', obj, account_label(obj))

    return column


def time_column(field: str, description: StrOrPromise, *, ordering: str | None = None) -> Column:
    """A list column showing the time `field` in the configured zone."""

    @admin.display(description=description, ordering=ordering)
    def column(model_admin: Any, obj: Any) -> str:
        return local_time(getattr(obj, field))

    return column


# ---------------------------------------------------------------------------------------------------
# Large tables
# ---------------------------------------------------------------------------------------------------
class CappedCountPaginator(PaginatorBase):
    """Counts at most `cap` rows (a COUNT over a LIMITed subquery) instead of the whole filtered table.

    Pages past the cap are not offered; narrow the list with a filter (e.g. the date range) to reach
    older rows. `capped` tells the templates to say "more than".
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        # Without ORDER BY the database may pick the filter's index (e.g. level, ts) rather than walking
        # the ts index across the whole table to skip a sort that a count does not need.
        rows: QuerySet[Any] = self.object_list  # type: ignore[assignment]  # the admin always pages a queryset
        counted = rows.order_by()[: self.cap + 1].count()
        self.capped = counted > self.cap
        return min(counted, self.cap)

    capped = False


class ConsoleAdmin(ModelAdminBase):
    """Shared by every table: fast lists, newest first, CSV/JSON exports of the selection and of everything
    matching the current filters."""

    list_per_page = 100
    list_max_show_all = 500
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    actions: tuple[str, ...] = ("export_selected_csv", "export_selected_json")
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
    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse | StreamingHttpResponse:
        """Everything matching the changelist's current filters, search and ordering (the same GET params)."""
        if not self.has_export_permission(request):
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
        problems = [str(getattr(spec, "error", "")) for spec in changelist.filter_specs if getattr(spec, "error", "")]
        if problems:
            # An ignored bad bound would export far more than the person asked for; refuse instead.
            return HttpResponseBadRequest("Export refused: " + "; ".join(problems), content_type="text/plain")
        queryset = changelist.get_queryset(request)
        return exports.export_response(queryset, fmt=fmt, basename=self.export_basename, columns=self.export_columns())

    def has_export_permission(self, request: HttpRequest) -> bool:
        """Exports need the table's view permission and the console's export permission."""
        return self.has_view_permission(request) and user_can(request.user, EXPORT_DATA)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"has_export_permission": self.has_export_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def _export_selected(self, request: HttpRequest, queryset: QuerySet[Any], fmt: str) -> StreamingHttpResponse:
        return exports.export_response(
            queryset.order_by(*self.get_ordering(request) or ("-pk",)),
            fmt=fmt,
            basename=self.export_basename,
            columns=self.export_columns(),
        )

    @admin.action(description=_("Export selected as CSV"), permissions=["export"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        return self._export_selected(request, queryset, "csv")

    @admin.action(description=_("Export selected as JSON"), permissions=["export"])
    def export_selected_json(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        return self._export_selected(request, queryset, "json")


class AuditAdmin(ConsoleAdmin):
    """Read-only: rows are written by the engine and services only. The change page opens read-only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def pretty_json(value: Any) -> str:
    return format_html("<pre class='json-pretty'>{}</pre>", json.dumps(value, indent=2, default=str))
