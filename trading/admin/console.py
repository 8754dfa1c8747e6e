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
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import translation
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from trading import exports
from trading.accounts import account_label
from trading.auth import EXPORT_DATA, user_can
from trading.formatting import local_time_text, number_text, price_text

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    # django-stubs makes these generic in the model and the rows; Django itself does not subscript them.
    ModelAdminBase = admin.ModelAdmin[Any]
    PaginatorBase = Paginator[Any]
else:
    ModelAdminBase = admin.ModelAdmin
    PaginatorBase = Paginator


# ---------------------------------------------------------------------------------------------------
# Display helpers
# ---------------------------------------------------------------------------------------------------
def money(value: Decimal | None) -> str:
    """Thousands separators, trailing zeros dropped, never exponent notation; exact (Decimal, no float)."""
    return price_text(value, empty="-")


def local_time(value: Any) -> str:
    """A stored UTC time shown in the configured zone (Asia/Seoul by default), 24-hour with seconds."""
    return local_time_text(value, empty="-")


def shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def admin_actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


Column = Callable[[Any, Any], str]


def money_column(field: str, description: StrOrPromise) -> Column:
    """A list column showing the Decimal `field` for its kind (`number_text`): a KRW amount, a price or a volume."""

    @admin.display(description=description)
    def column(model_admin: Any, obj: Any) -> str:
        return number_text(field, getattr(obj, field), empty="-")

    return column


def shown_name(field: str) -> str:
    """The admin attribute that shows the Decimal or time `field` formatted on a read-only detail page."""
    return f"{field}_shown"


def _shown_column(field: Any) -> Callable[[Any], str]:
    """A read-only detail-page display of a model's Decimal or DateTime `field` (a plain function of the row)."""
    if isinstance(field, models.DateTimeField):

        def shown(obj: Any) -> str:
            return local_time(getattr(obj, field.name))
    else:

        def shown(obj: Any) -> str:
            return number_text(field.name, getattr(obj, field.name), empty="-")

    shown.short_description = field.verbose_name  # type: ignore[attr-defined]  # what @admin.display sets
    return shown


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
    matching the current filters. Read-only detail pages show money, volumes and times formatted
    (`number_text`, `local_time`), never as `10000.00000000` or a 12-hour clock."""

    def __init__(self, model: Any, admin_site: Any) -> None:
        super().__init__(model, admin_site)
        formatted = [
            field
            for field in model._meta.concrete_fields
            if isinstance(field, models.DecimalField | models.DateTimeField) and not field.primary_key
        ]
        self.formatted_fields = tuple(field.name for field in formatted)  # in the model's order, for the page
        for field in formatted:
            setattr(self, shown_name(field.name), _shown_column(field))

    def _formatted(self, request: HttpRequest, obj: Any, names: Any) -> list[Any]:
        """`names` with each Decimal or time field swapped for its formatted display on a read-only page."""
        if obj is None or self.has_change_permission(request, obj):
            return list(names)
        return [shown_name(name) if name in self.formatted_fields else name for name in names]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return list(dict.fromkeys(self._formatted(request, obj, super().get_fields(request, obj))))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None or self.has_change_permission(request, obj):
            return fields
        return [*fields, *(shown_name(name) for name in self.formatted_fields)]

    list_per_page = 100
    list_max_show_all = 500
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    actions: tuple[str, ...] = ("export_selected_csv", "export_selected_excel", "export_selected_json")
    export_extra: tuple[str, ...] = ()
    """Extra export columns across relations, e.g. ("order__identifier",)."""

    @property
    def export_basename(self) -> str:
        # The model's English name, whatever the page's language: a Korean name would slugify to nothing.
        with translation.override("en"):
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
        """Everything matching the changelist's current filters, search and ordering (the same GET params), plus
        the CSV options (`?bom=1&tz=local&numbers=display`, exports.CsvOptions), which are not filters."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        if fmt not in exports.FORMATS:
            return HttpResponseBadRequest(f"Unknown export format {fmt!r}; use csv or json.", content_type="text/plain")
        options = exports.CsvOptions.from_query(request.GET)
        filters = request.GET.copy()
        for name in exports.CsvOptions.PARAMETERS:
            filters.pop(name, None)
        request.GET = filters  # type: ignore[assignment]  # the stubs want an immutable QueryDict; the changelist only reads it
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
        return exports.export_response(
            queryset, fmt=fmt, basename=self.export_basename, columns=self.export_columns(), options=options
        )

    def has_export_permission(self, request: HttpRequest) -> bool:
        """Exports need the table's view permission and the console's export permission."""
        return self.has_view_permission(request) and user_can(request.user, EXPORT_DATA)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"has_export_permission": self.has_export_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def _export_selected(
        self, request: HttpRequest, queryset: QuerySet[Any], fmt: str, options: exports.CsvOptions = exports.MACHINE
    ) -> StreamingHttpResponse:
        return exports.export_response(
            queryset.order_by(*self.get_ordering(request) or ("-pk",)),
            fmt=fmt,
            basename=self.export_basename,
            columns=self.export_columns(),
            options=options,
        )

    @admin.action(description=_("Export selected as CSV"), permissions=["export"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        return self._export_selected(request, queryset, "csv")

    @admin.action(description=_("Export selected as CSV for Excel (BOM, local times, formatted numbers)"), permissions=["export"])
    def export_selected_excel(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        return self._export_selected(request, queryset, "csv", exports.EXCEL)

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
