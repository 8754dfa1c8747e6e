"""Display helpers for the dashboard: Decimal-safe money formatting and the server-rendered equity chart."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import truncatechars
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
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


AVERAGE_PRICE_PLACES = (Decimal("100"), 2)
"""An average of fills in KRW is shown to 2 decimals once it is 100 KRW or more (122,205,830.98, not the
7 decimals the division leaves); a cheap coin's average keeps up to 8, as its prices do."""


@register.filter
def avg_price(value: object) -> str:
    """An average buy or entry price: separators, 2 decimals from 100 KRW up, up to 8 below, no trailing zeros."""
    number = _decimal(value)
    if number is None:
        return format_grouped(value, 8)
    bound, places = AVERAGE_PRICE_PLACES
    return format_grouped(number, places if abs(number) >= bound else 8)


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


def escaped_rows(row_format: str, rows: Iterable[Sequence[object]], separator: str) -> SafeString:
    """Table rows built in one pass, for the polled tables with many cells: `row_format`'s `{}` are filled with the
    cells, each escaped as the template language escapes a variable (its `escape` is `html.escape`), markup
    that is already safe left alone."""
    return mark_safe(  # noqa: S308 - every cell is escaped here
        separator.join(
            row_format.format(*(cell.__html__() if hasattr(cell, "__html__") else html.escape(str(cell)) for cell in row))
            for row in rows
        )
    )


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


# ---------------------------------------------------------------------------------------------------
# The polled tables' rows, built in one pass (escaped_rows): the same markup as the template rows they replace.
# ---------------------------------------------------------------------------------------------------
_ORDER_ROW = (
    '<tr class="order side-{}" data-identifier="{}">\n'
    '        <td>{}</td><td data-side="{}" class="side-{}">{}</td><td data-ord-type="{}">{}</td>\n'
    '        <td><span data-status="{}" class="badge status-{}" title="{}">{}</span></td>\n'
    '        <td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>\n'
    "      </tr>{}"
)
_FILL_ROW = '\n      <tr class="fill"><td></td><td colspan="7" class="muted small">↳ {} {} @ {} · {} {} · {}</td></tr>'


@register.simple_tag
def order_rows(orders: Sequence[Mapping[str, Any]]) -> SafeString:
    """The Recent orders table's rows (selectors.orders_recent_rows), each followed by its fills."""
    fill_word, fee_word = gettext("fill"), gettext("fee")

    def cells(order: Mapping[str, Any]) -> tuple[object, ...]:
        side, status, ord_type = order["side"], order["status"], order["ord_type"]
        fills = escaped_rows(
            _FILL_ROW,
            (
                (fill_word, volume_text(fill["volume"]), num(fill["price"]), fee_word, num(fill["fee"]), local_stamp(fill["ts"]))
                for fill in order["fills"]
            ),
            "",
        )
        return (
            *(side, order["identifier"], local_stamp(order["ts"], "m-d H:i:s"), side, side, code_label(side, "side")),
            *(ord_type, code_label(ord_type, "order_type"), status, status, truncatechars(order["error_message"], 200)),
            *(code_label(status, "order_status"), num(order["price"]), volume_text(order["volume"])),
            *(volume_text(order["executed_volume"]), num(order["paid_fee"]), fills),
        )

    return escaped_rows(_ORDER_ROW, (cells(order) for order in orders), "\n      ")


_EVENT_ROW = (
    '<li class="level-{}"><time>{}</time> <span data-level="{}" class="lvl">{}</span>'
    ' <span data-kind="{}" class="kind">{}</span> {}</li>'
)


@register.simple_tag
def event_rows(events: Sequence[Any]) -> SafeString:
    """The Log panel's lines (selectors.events_recent)."""
    rows = (
        (
            *(event.level, local_stamp(event.ts, "m-d H:i:s"), event.level, code_label(event.level, "level")),
            *(event.kind, code_label(event.kind, "kind"), truncatechars(event_text(event), 240)),
        )
        for event in events
    )
    return escaped_rows(_EVENT_ROW, rows, "\n    ")


def local_stamp(value: datetime | None, format_string: str = "H:i:s") -> str:
    """`{{ value|stamp:format_string }}` outside a template (which shows an aware time in the current time zone)."""
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return stamp(value, format_string)
