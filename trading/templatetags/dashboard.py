"""Display helpers for the dashboard: Decimal-safe money formatting and the server-rendered equity chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from trading.charts import equity_min_span, line_chart_svg
from trading.event_texts import shown
from trading.formatting import PLACES, format_grouped, to_decimal, volume_text
from trading.labels import code_label
from trading.sentences import shown_sentence

register = template.Library()


@register.filter
def event_text(event: Any) -> str:
    """An event's sentence in the active language (`trading.event_texts`), or its stored English message."""
    return shown(str(event.message), event.meta)


@register.filter
def sentence(text: object) -> str:
    """A stored English sentence (a signal's explanation, a request's result) in the active language."""
    return shown_sentence("" if text is None else str(text))


@register.filter
def label(code: object, group: str) -> str:
    """A code's visible name in the active language: `{{ status.state|label:"state" }}` (trading.labels)."""
    return code_label(code, group)


# One formatting for the dashboard, the admin and the exports (trading/formatting.py).
_decimal = to_decimal


@register.filter
def krw(value: object) -> str:
    """Whole won with separators: 1,234,567."""
    return format_grouped(value, 0)


@register.filter
def signed_krw(value: object) -> str:
    """Whole won with an explicit sign: +1,234 / -1,234 / 0."""
    number = _decimal(value)
    if number is None:
        return "—"
    text = format_grouped(number, 0)
    return f"+{text}" if number.quantize(PLACES[0], rounding=ROUND_HALF_UP) > 0 else text


@register.filter
def num(value: object) -> str:
    """Prices and volumes: up to 8 decimals, trailing zeros dropped, separators in the whole part."""
    return format_grouped(value, 8)


@register.filter
def volume(value: object) -> str:
    """A coin volume with all 8 decimals (Upbit's precision): 0.001 → 0.00100000."""
    return volume_text(value)


@register.filter
def pct(value: object) -> str:
    """A ratio as a percentage with one decimal: 0.1234 → 12.3%."""
    number = _decimal(value)
    if number is None:
        return "—"
    return f"{(number * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


@register.filter
def sign_class(value: object) -> str:
    number = _decimal(value)
    if number is None or number == 0:
        return ""
    return "up" if number > 0 else "down"


@register.filter
def age_text(bucket: tuple[str, int] | None) -> str:
    """A heartbeat age bucket (selectors.heartbeat_age_bucket) in the current language."""
    if not bucket:
        return gettext("never")
    unit, amount = bucket
    texts = {
        "under": gettext("under %(n)s s"),
        "min": gettext("%(n)s min"),
        "h": gettext("%(n)s h"),
        "d": gettext("%(n)s d"),
    }
    return texts[unit] % {"n": amount}


# The numeric date formats the panels use, as strftime patterns: Django's `date` filter parses its format on every
# call, which costs a polled table of 30 rows a few milliseconds; the text is the same.
_STRFTIME = {
    "Y-m-d H:i:s": "%Y-%m-%d %H:%M:%S",
    "m-d H:i:s": "%m-%d %H:%M:%S",
    "m-d H:i": "%m-%d %H:%M",
    "H:i:s": "%H:%M:%S",
    "H:i": "%H:%M",
    "Y-m-d": "%Y-%m-%d",
    "Y-m": "%Y-%m",
}
_TIME_CHARACTERS = frozenset("His")


@register.filter(expects_localtime=True)
def stamp(value: date | datetime | str | None, format_string: str) -> str:
    """`{{ ts|stamp:"m-d H:i:s" }}`: exactly what `|date:"m-d H:i:s"` shows (in the current time zone), faster."""
    pattern = _STRFTIME.get(format_string)
    # A date (no time) only for formats without hours, minutes or seconds, as the `date` filter would refuse.
    timed = isinstance(value, datetime) or not _TIME_CHARACTERS.intersection(format_string)
    if pattern is not None and isinstance(value, date) and value.year >= 1000 and timed:
        return value.strftime(pattern)
    return str(date_filter(value, format_string))


@register.filter
def get_item(mapping: Mapping[str, object] | None, key: str) -> object:
    return mapping.get(key) if mapping else None


# ---------------------------------------------------------------------------------------------------
# Equity chart: a plain SVG polyline (trading/charts.py); no JavaScript, no library.
# ---------------------------------------------------------------------------------------------------
@register.simple_tag
def equity_svg(series: Sequence[tuple[datetime, Decimal]], title: str, time_format: str = "H:i") -> SafeString:
    """An SVG line chart of (ts, equity) points; its y-range covers at least 1% of the latest equity (charts.py)."""
    min_span = equity_min_span([value for _, value in series])
    return line_chart_svg(series, title=title, min_span=min_span, time_format=time_format)
