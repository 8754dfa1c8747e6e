"""The risk panel's three levels: within a limit, exactly at it (an ordinary full-size order), over it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading.risk_levels import LEVEL_AT, LEVEL_OK, LEVEL_OVER, limit_level


@pytest.mark.parametrize(
    ("used", "limit", "level"),
    [
        (Decimal("9999"), Decimal("10000"), LEVEL_OK),
        (Decimal("10000"), Decimal("10000"), LEVEL_AT),
        (Decimal("10000.00000000"), Decimal("10000"), LEVEL_AT),
        (Decimal("10000.01"), Decimal("10000"), LEVEL_OVER),
        (Decimal("0.3000"), Decimal("0.3"), LEVEL_AT),
        (Decimal("0.3012"), Decimal("0.3"), LEVEL_OVER),
        (2, 3, LEVEL_OK),
        (3, 3, LEVEL_AT),
        (4, 3, LEVEL_OVER),
        (0, 0, LEVEL_OK),
        (None, Decimal("10000"), LEVEL_OK),
    ],
)
def test_below_at_and_over(used, limit, level):
    assert limit_level(used, limit) == level
