"""The trading day: the local calendar day in TIME_ZONE, which the daily PnL and the daily loss limit count."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_ZONES: dict[str, ZoneInfo] = {}
_MICROSECOND = timedelta(microseconds=1)
_LAST_DAY: dict[ZoneInfo, tuple[datetime, datetime, date]] = {}
"""Per zone, the last day looked up and the UTC instants [first, last] it spans: the engine and the backtest ask
about the same day many times in a row, and two comparisons cost less than a time-zone conversion."""


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    zone = _ZONES.get(tz)
    if zone is None:
        zone = _ZONES[tz] = ZoneInfo(tz)
    return zone


def trading_day(ts: datetime, tz: str | ZoneInfo) -> date:
    """The local calendar day of the aware time `ts` in `tz` (Asia/Seoul: the day turns at 15:00 UTC, not 00:00 UTC)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"trading_day needs an aware datetime, got naive {ts.isoformat()}")
    zone = tz if isinstance(tz, ZoneInfo) else _zone(tz)
    last = _LAST_DAY.get(zone)
    if last is not None and last[0] <= ts <= last[1]:
        return last[2]
    day = ts.astimezone(zone).date()
    _remember_day(zone, day)
    return day


def _remember_day(zone: ZoneInfo, day: date) -> None:
    """Keep `day`'s span in UTC for the next lookups, when both ends are verified to fall on it (a time-zone
    change at midnight can make local midnight ambiguous or missing: such a day is simply not kept)."""
    first = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    last = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC) - _MICROSECOND
    inside = first.astimezone(zone).date() == day and last.astimezone(zone).date() == day
    outside = (first - _MICROSECOND).astimezone(zone).date() != day and (last + _MICROSECOND).astimezone(zone).date() != day
    if inside and outside:
        _LAST_DAY[zone] = (first, last, day)


def day_start(ts: datetime, tz: str | ZoneInfo) -> datetime:
    """Local midnight that began the trading day of `ts`, as an aware datetime in `tz`."""
    zone = _zone(tz)
    return datetime.combine(trading_day(ts, zone), time(0), tzinfo=zone)


def next_day_start(ts: datetime, tz: str | ZoneInfo) -> datetime:
    """Local midnight that ends the trading day of `ts` (when a daily loss block lifts)."""
    zone = _zone(tz)
    return datetime.combine(trading_day(ts, zone) + timedelta(days=1), time(0), tzinfo=zone)
