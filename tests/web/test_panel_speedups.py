"""The shortcuts that keep the polled panels cheap show exactly what the slower, general ways show."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from trading.charts import line_chart_svg
from trading.labels import code_label

SEOUL_EVENING = datetime(2026, 12, 5, 14, 4, 9, tzinfo=UTC)  # 23:04:09 in Seoul


@pytest.mark.parametrize("fmt", ["Y-m-d H:i:s", "m-d H:i:s", "m-d H:i", "H:i:s", "H:i", "Y-m-d", "Y-m", "D, j M"])
@pytest.mark.parametrize("value", [SEOUL_EVENING, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), date(2026, 3, 9), None, ""])
def test_stamp_shows_what_the_date_filter_shows(fmt, value):
    def shown(source: str) -> str:
        try:
            return Template(source).render(Context({"value": value, "fmt": fmt}))
        except TypeError as refused:  # a date with a time format: both refuse alike
            return f"refused: {refused}"

    assert shown("{% load dashboard %}[{{ value|stamp:fmt }}]") == shown("[{{ value|date:fmt }}]")


def test_stamp_uses_the_time_zone_of_the_page():
    rendered = Template('{% load dashboard %}{{ value|stamp:"m-d H:i:s" }}')
    assert rendered.render(Context({"value": SEOUL_EVENING})) == "12-05 23:04:09"
    with timezone.override("UTC"):
        assert rendered.render(Context({"value": SEOUL_EVENING})) == "12-05 14:04:09"
    assert Template('{% load dashboard %}{{ value|stamp:"Y-m" }}').render(Context({"value": date(2026, 3, 9)})) == "2026-03"


def test_a_label_follows_the_language_even_when_remembered():
    with translation.override("en"):
        english = code_label("RUNNING", "state")
    with translation.override("ko"):
        korean = code_label("RUNNING", "state")
        assert code_label("RUNNING", "state") == korean
    assert english == "RUNNING"
    assert korean != english
    assert code_label("NO_SUCH_CODE", "state") == "NO_SUCH_CODE"


def _series(values: list[int]) -> tuple[tuple[datetime, Decimal], ...]:
    return tuple((SEOUL_EVENING + timedelta(minutes=index), Decimal(value)) for index, value in enumerate(values))


def test_a_kept_chart_is_reused_only_for_the_same_series():
    series = _series([1_000_000, 1_000_500, 999_000])
    first = line_chart_svg(series, title="Today", min_span=Decimal(1000))
    assert line_chart_svg(series, title="Today", min_span=Decimal(1000)) is first
    # Equal points in a new tuple, a list, another title: drawn again, the same way.
    assert line_chart_svg(_series([1_000_000, 1_000_500, 999_000]), title="Today", min_span=Decimal(1000)) == first
    assert line_chart_svg(list(series), title="Today", min_span=Decimal(1000)) == first
    assert "오늘" in line_chart_svg(series, title="오늘", min_span=Decimal(1000))
    changed = line_chart_svg(_series([1_000_000, 1_000_500, 1_200_000]), title="Today", min_span=Decimal(1000))
    assert changed != first
    assert "1,200,000 KRW" in changed


def test_rows_built_in_one_pass_escape_what_they_show():
    from types import SimpleNamespace

    from trading.templatetags.dashboard import event_rows, order_rows

    hostile = '<script>alert("x")</script>'
    order = {
        "side": "buy",
        "identifier": hostile,
        "ts": SEOUL_EVENING,
        "ord_type": "limit",
        "status": "REJECTED",
        "error_message": hostile,
        "price": Decimal("150000000"),
        "volume": Decimal("0.001"),
        "executed_volume": Decimal("0"),
        "paid_fee": Decimal("0"),
        "fills": [{"volume": Decimal("0.001"), "price": Decimal("150000000"), "fee": Decimal("75"), "ts": SEOUL_EVENING}],
    }
    with translation.override("en"):
        orders = order_rows([order])
        event = SimpleNamespace(level="ERROR", ts=SEOUL_EVENING, kind="error", message=hostile, meta={})
        events = event_rows([event])
    assert "<script>" not in orders
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in orders
    assert "12-05 23:04:09" in orders
    assert "↳ fill 0.00100000 @ 150,000,000 · fee 75 · 23:04:09" in orders
    assert "<script>" not in events
    assert "&lt;script&gt;" in events
