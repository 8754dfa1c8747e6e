"""Server-rendered line charts (plain SVG, no script, no inline style) and the rule that keeps their scale sensible.

A chart scaled to its own minimum and maximum stretches any wiggle to its full height: a 13 KRW dip of a
1,000,000 KRW account would look like a crash. `value_range` gives the y-axis at least `min_span`, centred
on the data, so small moves stay small on screen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

EQUITY_MIN_SPAN_RATIO = Decimal("0.01")
"""The equity chart's y-range covers at least 1% of the latest equity."""
EQUITY_MIN_SPAN_KRW = Decimal("1000")

CHART_WIDTH = 600
CHART_HEIGHT = 160
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 4, 4, 8, 18


def value_range(values: Sequence[Decimal], min_span: Decimal) -> tuple[Decimal, Decimal]:
    """(low, high) of the y-axis: the data's own range, widened around its middle to at least `min_span`."""
    low, high = min(values), max(values)
    span = high - low
    if span >= min_span:
        return low, high
    middle = (low + high) / 2
    half = max(min_span, Decimal(1)) / 2
    return middle - half, middle + half


def equity_min_span(values: Sequence[Decimal]) -> Decimal:
    return max(EQUITY_MIN_SPAN_KRW, abs(values[-1]) * EQUITY_MIN_SPAN_RATIO) if values else EQUITY_MIN_SPAN_KRW


def _krw_text(value: Decimal) -> str:
    rounded = value.quantize(Decimal(1))
    return f"{(abs(rounded) if rounded == 0 else rounded):,f} KRW"


class _ChartCache:
    """The last charts drawn, for series the selectors hand out again unchanged (the same list object: they keep
    their series in memory until a new row arrives), so a poll of an unchanged chart does not draw it again.
    An entry holds its series, so the object's id cannot be reused while the entry lives."""

    MAX_ENTRIES = 16

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[object, ...], tuple[Sequence[tuple[datetime, Decimal]], SafeString]] = OrderedDict()

    def get(self, key: tuple[object, ...], series: Sequence[tuple[datetime, Decimal]]) -> SafeString | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] is not series:
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[object, ...], series: Sequence[tuple[datetime, Decimal]], svg: SafeString) -> None:
        with self.lock:
            self.entries[key] = (series, svg)
            self.entries.move_to_end(key)
            while len(self.entries) > self.MAX_ENTRIES:
                self.entries.popitem(last=False)


_chart_cache = _ChartCache()


def line_chart_svg(
    series: Sequence[tuple[datetime, Decimal]],
    *,
    title: str,
    min_span: Decimal,
    time_format: str = "H:i",
    css_class: str = "equity-chart",
    zero_line: bool = False,
) -> SafeString:
    """An SVG line chart of (ts, value) points whose y-axis spans at least `min_span`. With `zero_line`, a line
    at 0 when 0 is inside the range (profit charts); the colour follows the last value's side of the first.

    A tuple `series` is never changed in place, so its chart is kept and reused (see _ChartCache)."""
    if not isinstance(series, tuple):
        return _line_chart_svg(series, title, min_span, time_format, css_class, zero_line)
    key = (id(series), len(series), title, min_span, time_format, css_class, zero_line, timezone.get_current_timezone_name())
    svg = _chart_cache.get(key, series)
    if svg is None:
        svg = _line_chart_svg(series, title, min_span, time_format, css_class, zero_line)
        _chart_cache.put(key, series, svg)
    return svg


def _line_chart_svg(
    series: Sequence[tuple[datetime, Decimal]],
    title: str,
    min_span: Decimal,
    time_format: str,
    css_class: str,
    zero_line: bool,
) -> SafeString:
    if len(series) < 2:
        return format_html('<p class="muted chart-empty">{}</p>', title)
    values = [value for _, value in series]
    low, high = value_range(values, min_span)
    span = high - low
    t0 = series[0][0].timestamp()
    t_span = (series[-1][0].timestamp() - t0) or 1.0
    width = CHART_WIDTH - PAD_LEFT - PAD_RIGHT
    height = CHART_HEIGHT - PAD_TOP - PAD_BOTTOM

    def y_of(value: Decimal) -> float:
        # Pixel positions only: the money itself is never converted to float, only its place on screen.
        return PAD_TOP + height * float((high - value) / span)

    points = " ".join(f"{PAD_LEFT + width * (ts.timestamp() - t0) / t_span:.1f},{y_of(value):.1f}" for ts, value in series)
    rising = values[-1] >= values[0]
    label_y = CHART_HEIGHT - 4
    texts = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="{}">{}</text>',
        [
            (PAD_LEFT, PAD_TOP + 10, "start", _krw_text(high)),
            (PAD_LEFT, PAD_TOP + height - 2, "start", _krw_text(low)),
            (PAD_LEFT, label_y, "start", date_format(timezone.localtime(series[0][0]), time_format)),
            (CHART_WIDTH - PAD_RIGHT, label_y, "end", date_format(timezone.localtime(series[-1][0]), time_format)),
        ],
    )
    zero = ""
    if zero_line and low < 0 < high:
        y = f"{y_of(Decimal(0)):.1f}"
        zero = format_html('<line class="zero" x1="{}" x2="{}" y1="{}" y2="{}"/>', PAD_LEFT, CHART_WIDTH - PAD_RIGHT, y, y)
    return format_html(
        '<svg class="{} {}" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="none"'
        ' data-low="{}" data-high="{}"><title>{}</title>{}<polyline fill="none" points="{}"/>{}</svg>',
        css_class,
        "rising" if rising else "falling",
        CHART_WIDTH,
        CHART_HEIGHT,
        title,
        low,
        high,
        title,
        zero,
        mark_safe(points),  # noqa: S308 - numbers formatted above; nothing user-supplied
        texts,
    )
