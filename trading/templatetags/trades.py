"""Display helpers for the Trades and Performance panels: reasons, holding times, the cumulative profit chart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import template
from django.utils.formats import localize
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext, gettext_lazy

from trading.charts import line_chart_svg
from trading.templatetags.dashboard import escaped_rows, krw, local_stamp, num, pct, sign_class, signed_krw, stamp

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


_ROUND_TRIP_ROW = (
    '<tr class="round-trip">\n'
    '        <td data-label="{}">{}</td>\n'
    '        <td data-label="{}">{}</td>\n'
    '        <td class="num" data-label="{}">{}</td>\n'
    '        <td class="num" data-label="{}">{}</td>\n'
    '        <td class="num" data-label="{}">{}</td>\n'
    '        <td class="num" data-label="{}">{}</td>\n'
    '        <td class="num {}" data-label="{}" data-profit="{}">{} KRW ({})</td>\n'
    '        <td data-label="{}">{} → {}</td>\n'
    '        <td data-label="{}">{}</td>\n'
    "      </tr>"
)


@register.simple_tag
def round_trip_rows(trips: Sequence[object], now: datetime) -> SafeString:
    """The rows of the round trips table, built in one pass: the panel is polled, and the template language's
    lookups and filters per cell cost milliseconds for 20 rows. The same markup as a template row, escaped alike."""
    labels = [
        gettext(text) for text in ("Entry", "Exit", "Entry price", "Exit price", "Volume", "Fees", "Profit", "Reason", "Holding")
    ]
    return escaped_rows(_ROUND_TRIP_ROW, (_round_trip_cells(trip, now, labels) for trip in trips), "\n      ")


def _round_trip_cells(trip: Any, now: datetime, labels: list[str]) -> tuple[object, ...]:
    entry, exit_, entry_price, exit_price, volume, fees, profit, reason, holding = labels
    return (
        entry,
        local_stamp(trip.entry_at, "m-d H:i:s"),
        exit_,
        local_stamp(trip.exit_at, "m-d H:i:s"),
        entry_price,
        num(trip.avg_entry_price),
        exit_price,
        num(trip.avg_exit_price),
        volume,
        num(trip.buy_volume),
        fees,
        krw(trip.fees),
        sign_class(trip.profit),
        profit,
        localize(trip.profit),
        signed_krw(trip.profit),
        signed_pct(trip.profit_pct),
        reason,
        reason_label(trip.entry_reason),
        reason_label(trip.exit_reason),
        holding,
        holding_text(trip_holding(trip, now)),
    )


_PERIOD_ROW = (
    '<tr data-period-start="{}">\n'
    '          <td data-label="{}">{}</td>\n'
    '          <td class="num" data-label="{}">{}</td>\n'
    '          <td class="num" data-label="{}">{}</td>\n'
    '          <td class="num {}" data-label="{}" data-profit="{}">{} KRW</td>\n'
    '          <td class="num" data-label="{}">{}</td>\n'
    "        </tr>"
)


@register.simple_tag
def period_rows(rows: Sequence[Any], period: str) -> SafeString:
    """The rows of a Performance period table (trade_selectors.profit_by_period), built in one pass."""
    period_label, trips, win_rate, profit, fees = (
        gettext(text) for text in ("Period", "Round trips", "Win rate", "Profit", "Fees")
    )
    return escaped_rows(
        _PERIOD_ROW,
        (
            (
                *(stamp(row.start, "Y-m-d"), period_label, stamp(row.start, "Y-m" if period == "month" else "Y-m-d")),
                *(trips, localize(row.stats.trades), win_rate, pct(row.stats.win_rate), sign_class(row.stats.profit), profit),
                *(localize(row.stats.profit), signed_krw(row.stats.profit), fees, krw(row.stats.fees)),
            )
            for row in rows
        ),
        "\n        ",
    )
