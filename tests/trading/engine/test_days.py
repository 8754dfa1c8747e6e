"""The trading day of a moment: remembered between lookups, never different from converting the moment itself."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from trading.engine.days import trading_day

# Zones whose clocks change at local midnight (a missing or a repeated midnight) and a zone without changes.
ZONES = ["Asia/Seoul", "America/Santiago", "America/Havana", "America/Asuncion", "Europe/London"]


def _moments_around_midnights(zone: ZoneInfo, year: int) -> list[datetime]:
    """Every local midnight of `year` in `zone`, and the microsecond before and after each, in UTC."""
    moments: list[datetime] = []
    day = date(year, 1, 1)
    while day.year == year:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        moments += [midnight - timedelta(microseconds=1), midnight, midnight + timedelta(microseconds=1)]
        moments.append(midnight + timedelta(hours=1))
        day += timedelta(days=1)
    return moments


@pytest.mark.parametrize("name", ZONES)
def test_every_moment_falls_on_the_day_its_local_time_shows_in_order_and_shuffled(name: str) -> None:
    zone = ZoneInfo(name)
    moments = _moments_around_midnights(zone, 2016)
    for moment in moments:
        assert trading_day(moment, name) == moment.astimezone(zone).date(), moment
    shuffled = moments[:]
    random.Random(5).shuffle(shuffled)
    for moment in shuffled:
        assert trading_day(moment, zone) == moment.astimezone(zone).date(), moment


def test_the_same_moment_in_another_zone_gets_that_zone_s_day() -> None:
    moment = datetime(2025, 3, 1, 16, 0, tzinfo=UTC)  # 01:00 on 2 March in Seoul, still 1 March in London
    assert trading_day(moment, "Asia/Seoul") == date(2025, 3, 2)
    assert trading_day(moment, "Europe/London") == date(2025, 3, 1)
    assert trading_day(moment, "Asia/Seoul") == date(2025, 3, 2)


def test_a_moment_given_in_local_time_is_placed_by_its_instant() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    assert trading_day(datetime(2025, 3, 1, 23, 59, 59, 999999, tzinfo=seoul), "Asia/Seoul") == date(2025, 3, 1)
    assert trading_day(datetime(2025, 3, 2, 0, 0, tzinfo=seoul), "Asia/Seoul") == date(2025, 3, 2)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        trading_day(datetime(2025, 3, 1, 12, 0), "Asia/Seoul")
