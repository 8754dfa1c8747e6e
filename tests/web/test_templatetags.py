from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.templatetags.dashboard import avg_price, equity_svg, krw, num, pct, signed_krw


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1234567.5"), "1,234,568"),
        (Decimal("1234567.49999999"), "1,234,567"),
        (Decimal("-1234.5"), "-1,235"),
        (Decimal("-0.4"), "0"),
        (Decimal("100000000000"), "100,000,000,000"),
        ("5000", "5,000"),
        (None, "—"),
        ("not a number", "—"),
    ],
)
def test_krw_is_whole_won_with_separators(value, expected):
    assert krw(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.00010000"), "0.0001"),
        (Decimal("12345678.12345678"), "12,345,678.12345678"),
        (Decimal("101234567.50000000"), "101,234,567.5"),
        (Decimal("0E-8"), "0"),
        (0.1, "0.1"),  # a stray float shows its short form, not 0.1000000000000000055511151231257827
    ],
)
def test_num_keeps_up_to_eight_decimals_exactly(value, expected):
    assert num(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("122205830.9807516"), "122,205,830.98"),
        (Decimal("122182500"), "122,182,500"),
        (Decimal("100.004"), "100"),
        (Decimal("99.12345678"), "99.12345678"),
        (Decimal("0.00012345"), "0.00012345"),
        (None, "—"),
    ],
)
def test_an_average_price_of_100_krw_or_more_has_at_most_two_decimals(value, expected):
    assert avg_price(value) == expected


def test_signed_and_percent():
    assert signed_krw(Decimal("1234")) == "+1,234"
    assert signed_krw(Decimal("-1234")) == "-1,234"
    assert signed_krw(Decimal("0.2")) == "0"
    assert pct(Decimal("0.12345")) == "12.3%"


def _ys(svg: str) -> list[float]:
    return [float(point.split(",")[1]) for point in re.search(r'points="([^"]+)"', svg).group(1).split()]


def test_a_13_krw_dip_of_a_million_krw_account_stays_a_ripple_in_the_middle():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    values = [Decimal(1_000_000), Decimal(1_000_000), Decimal(999_987), Decimal(999_990), Decimal(999_995)]
    svg = str(equity_svg([(start + timedelta(minutes=i), value) for i, value in enumerate(values)], "Equity", "H:i"))
    ys = _ys(svg)
    # The plot is 134 px high (160 less the padding): a 13 KRW move on a 10,000 KRW axis is under 1 % of it.
    assert max(ys) - min(ys) < 2
    # Drawn about the middle, not stretched from top to bottom.
    assert min(ys) > 70
    assert max(ys) < 90
    # The axis spans 1% of the latest equity.
    assert "1,004,993 KRW" in svg
    assert "994,994 KRW" in svg


def test_equity_svg_scales_to_its_own_range_and_labels_it():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    # A move larger than 1% of the equity: the axis is the data's own range.
    series = [(start + timedelta(minutes=i), Decimal(1_000_000 + i * 5000)) for i in range(5)]
    svg = str(equity_svg(series, "Equity", "H:i"))
    ys = _ys(svg)
    assert len(ys) == 5
    assert ys == sorted(ys, reverse=True)  # rising equity goes up the screen
    assert ys[0] > 130  # from the bottom of the plot
    assert ys[-1] < 10  # to its top
    assert "1,020,000 KRW" in svg
    assert "1,000,000 KRW" in svg
    assert "09:00" in svg  # the time axis is in Seoul
    assert 'class="equity-chart rising"' in svg


def test_equity_svg_with_too_few_points_says_so():
    assert "Not enough" in str(equity_svg([], "Not enough snapshots"))
