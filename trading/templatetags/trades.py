"""Display helpers for the Trades and Performance panels: reasons, holding times, the cumulative profit chart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django import template
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext, gettext_lazy

from trading.charts import line_chart_svg

register = template.Library()

REASON_LABELS = {
    "strategy": gettext_lazy("strategy"),
    "manual": gettext_lazy("manual"),
    "kill_switch": gettext_lazy("kill-switch"),
    "stop_loss": gettext_lazy("stop-loss"),
    "trailing_stop": gettext_lazy("trailing stop"),
    "take_profit": gettext_lazy("take-profit"),
    "atr_stop": gettext_lazy("ATR stop"),
    "unknown": gettext_lazy("unknown"),
}


@register.filter
def reason_label(code: str) -> str:
    """An entry or exit reason code (trading/round_trips.py) in the reader's language."""
    label = REASON_LABELS.get(code)
    if label is None:
        return str(code)
    key = (get_language(), code)
    shown = _reasons_shown.get(key)
    if shown is None:
        shown = _reasons_shown[key] = str(label)
    return shown


# Two per row of a polled table: each reason is looked up in the catalogue once per language.
_reasons_shown: dict[tuple[str | None, str], str] = {}


@register.filter
def holding_text(span: timedelta | None) -> str:
    """A holding time, coarse enough to read at a glance: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    if span is None:
        return "—"
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return gettext("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return gettext("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    if minutes:
        return gettext("%(m)s min") % {"m": minutes}
    return gettext("%(s)s s") % {"s": secs}


@register.simple_tag
def trip_holding(trip: object, now: datetime) -> timedelta:
    """A trip's (or the open position's) holding time up to its exit, or `now` while it is open."""
    holding = getattr(trip, "holding", None)
    return holding(now) if callable(holding) else timedelta(0)


@register.simple_tag
def profit_svg(series: Sequence[tuple[datetime, Decimal]], title: str, min_span: Decimal) -> SafeString:
    """The cumulative profit chart: its y-range spans at least `min_span` KRW, with a line at 0."""
    return line_chart_svg(series, title=title, min_span=min_span, time_format="m-d", css_class="profit-chart", zero_line=True)


@register.filter
def signed_pct(value: Decimal | None) -> str:
    """A percentage (already × 100) with its sign and two decimals: +1.23%, -0.40%, 0.00%."""
    if value is None:
        return "—"
    rounded = value.quantize(Decimal("0.01"))
    if rounded == 0:
        return "0.00%"
    return f"{rounded:+}%"
