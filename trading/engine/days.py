"""The trading day: the local calendar day in TIME_ZONE, which the daily PnL and the daily loss limit count."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_ZONES: dict[str, ZoneInfo] = {}


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
    return ts.astimezone(_zone(tz)).date()


def day_start(ts: datetime, tz: str | ZoneInfo) -> datetime:
    """Local midnight that began the trading day of `ts`, as an aware datetime in `tz`."""
    zone = _zone(tz)
    return datetime.combine(trading_day(ts, zone), time(0), tzinfo=zone)


def next_day_start(ts: datetime, tz: str | ZoneInfo) -> datetime:
    """Local midnight that ends the trading day of `ts` (when a daily loss block lifts)."""
    zone = _zone(tz)
    return datetime.combine(trading_day(ts, zone) + timedelta(days=1), time(0), tzinfo=zone)
