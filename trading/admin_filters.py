"""List filters for the operations console that stay fast on tables of millions of rows.

Django's default filters for plain text columns run `SELECT DISTINCT` over the whole table to list their
choices, and `date_hierarchy` does the same for dates; these filters use fixed choices instead, and the
date range filter takes two dates typed by the person.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from trading.accounts import account_choices
from trading.models import Mode, Side
from trading.strategies.registry import STRATEGIES

DATE_FROM = "from"
DATE_TO = "to"
# The days a range may name. Far-off days such as 0001-01-01 or 9999-12-31 do not fit a datetime once
# shifted between the local zone and UTC (the database query would fail); nothing here predates 2000.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
CANDLE_UNITS = (1, 3, 5, 15, 30, 60, 240, 1440)
STRATEGY_SOURCES = (*STRATEGIES, "manual")


def parse_day(text: str) -> date:
    """A day typed by a person: YYYY-MM-DD (also YYYY/MM/DD or YYYYMMDD)."""
    cleaned = text.strip().replace("/", "-").replace(".", "-")
    if len(cleaned) == 8 and cleaned.isdigit():
        cleaned = f"{cleaned[:4]}-{cleaned[4:6]}-{cleaned[6:]}"
    return date.fromisoformat(cleaned)


def local_day_start(day: date) -> datetime:
    """Midnight of `day` in the configured time zone, so a day means the person's day, not UTC's."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class DateRangeFilter(admin.ListFilter):
    """Rows from one day to another (both inclusive, local days) via `?from=YYYY-MM-DD&to=YYYY-MM-DD`.

    Either bound may be left out. A bound that is not a date is reported (a warning message and a note
    under the filter) and ignored; exports refuse it (see `DateRangeFilter.error`).
    """

    title = _("date range")
    template = "admin/trading/date_range_filter.html"
    field_name = "ts"

    def __init__(self, request: HttpRequest, params: dict[str, list[str]], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        self.raw: dict[str, str] = {}
        self.bounds: dict[str, date] = {}
        problems = []
        for name in (DATE_FROM, DATE_TO):
            if name not in params:
                continue
            value = params.pop(name)[-1].strip()
            self.raw[name] = value
            self.used_parameters[name] = value
            if not value:
                continue
            try:
                day = parse_day(value)
            except ValueError:
                problems.append(f"{name}={value!r} is not a date; use YYYY-MM-DD")
                continue
            if not FIRST_DAY <= day <= LAST_DAY:
                problems.append(f"{name}={value!r} is out of range; use a day from {FIRST_DAY} to {LAST_DAY}")
                continue
            self.bounds[name] = day
        if DATE_FROM in self.bounds and DATE_TO in self.bounds and self.bounds[DATE_FROM] > self.bounds[DATE_TO]:
            problems.append(f"from ({self.bounds[DATE_FROM]}) is after to ({self.bounds[DATE_TO]}); swap them")
            self.bounds.clear()
        self.error = "; ".join(problems)
        if self.error:
            model_admin.message_user(
                request, gettext("Date range ignored: %(why)s") % {"why": self.error}, level=messages.WARNING
            )

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [DATE_FROM, DATE_TO]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        field = self.field_name
        is_date = _is_date_only(queryset.model, field)
        if DATE_FROM in self.bounds:
            start = self.bounds[DATE_FROM]
            queryset = queryset.filter(**{f"{field}__gte": start if is_date else local_day_start(start)})
        if DATE_TO in self.bounds:
            end = self.bounds[DATE_TO]
            if is_date:
                queryset = queryset.filter(**{f"{field}__lte": end})
            else:
                queryset = queryset.filter(**{f"{field}__lt": local_day_start(end + timedelta(days=1))})
        return queryset

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        # One "choice" carrying what the template needs to draw a small GET form.
        keep = [
            (key, value)
            for key, values in changelist.filter_params.items()
            if key not in (DATE_FROM, DATE_TO)
            for value in values
        ]
        yield {
            "from": self.raw.get(DATE_FROM, ""),
            "to": self.raw.get(DATE_TO, ""),
            "keep": keep,
            "error": self.error,
            "active": bool(self.bounds),
            "clear_url": changelist.get_query_string(remove=[DATE_FROM, DATE_TO]),
            "zone": settings.TIME_ZONE,
        }


def _is_date_only(model: Any, field: str) -> bool:
    from django.db import models

    model_field = model._meta.get_field(field)
    return isinstance(model_field, models.DateField) and not isinstance(model_field, models.DateTimeField)


def date_range_filter(field_name: str) -> type[DateRangeFilter]:
    """The date range filter on another column (e.g. `date` for daily PnL)."""
    return type(f"DateRangeFilter_{field_name}", (DateRangeFilter,), {"field_name": field_name})


class StaticChoicesFilter(admin.SimpleListFilter):
    """Exact-match filter with a fixed list of choices: never asks the database what values exist."""

    lookup: str = ""
    static_choices: Sequence[tuple[str, Any]] = ()  # labels may be lazy translations

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        choices = list(self.static_choices_for(request))
        value = self.value()
        if value and value not in {key for key, _ in choices}:
            choices.append((value, value))
        return choices

    def static_choices_for(self, request: HttpRequest) -> Sequence[tuple[str, Any]]:
        return self.static_choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value in (None, ""):
            return queryset
        return queryset.filter(**{self.lookup or str(self.parameter_name): value})


class MarketFilter(StaticChoicesFilter):
    title = _("market")
    parameter_name = "market"

    def static_choices_for(self, request: HttpRequest) -> Sequence[tuple[str, Any]]:
        return [(settings.TRADING_MARKET, settings.TRADING_MARKET)]


class CandleUnitFilter(StaticChoicesFilter):
    title = _("unit")
    parameter_name = "unit"

    def static_choices_for(self, request: HttpRequest) -> Sequence[tuple[str, Any]]:
        return [(str(unit), gettext("1 day") if unit == 1440 else gettext("%(n)s min") % {"n": unit}) for unit in CANDLE_UNITS]


class SignalSourceFilter(StaticChoicesFilter):
    title = _("source")
    parameter_name = "source"
    static_choices = tuple((source, source) for source in STRATEGY_SOURCES)


class BacktestStrategyFilter(StaticChoicesFilter):
    title = _("strategy")
    parameter_name = "strategy"
    static_choices = tuple((source, source) for source in STRATEGY_SOURCES if source != "manual")


class FillSideFilter(StaticChoicesFilter):
    title = _("side")
    parameter_name = "side"
    lookup = "order__side"
    static_choices = tuple(Side.choices)


class AccountFilter(StaticChoicesFilter):
    title = _("account")
    parameter_name = "account"

    def static_choices_for(self, request: HttpRequest) -> Sequence[tuple[str, Any]]:
        return account_choices()


class FillAccountFilter(AccountFilter):
    lookup = "order__account"


class FillModeFilter(StaticChoicesFilter):
    title = _("paper/live")
    parameter_name = "mode"
    lookup = "order__mode"
    static_choices = tuple(Mode.choices)


class CancelRequestedFilter(admin.SimpleListFilter):
    title = _("cancel requested")
    parameter_name = "cancel_requested"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", gettext("Yes")), ("no", gettext("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(cancel_requested_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(cancel_requested_at__isnull=True)
        return queryset
