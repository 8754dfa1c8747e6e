"""Stored candles: import from CSV files, fetch from Upbit's quotation API, read back fast for backtests.

One row per (market, unit, candle start in UTC). A minute with no trade has no candle on Upbit, and
none here: gaps stay gaps. Writes go through one `INSERT … ON CONFLICT DO NOTHING` statement run
with `executemany` (SQLite and PostgreSQL both speak it), which is what lets a year of minute candles
(525,600 rows) go in within seconds; building half a million model instances would not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction

from trading.candle_cache import cache_dir, cache_drop, cache_read, cache_write, stored_stamp
from trading.models import Candle
from trading.strategies.indicators import CandleArrays

logger = logging.getLogger("autocoin.candles")

UNIT_DAY = 1440
MINUTE_UNITS: tuple[int, ...] = (1, 3, 5, 10, 15, 30, 60, 240)
UNITS: tuple[int, ...] = (*MINUTE_UNITS, UNIT_DAY)
PAGE_SIZE = 200
# pyupbit writes its time index in KST without a zone; a naive time in the plain OHLCV layout is read in this zone.
OHLCV_DEFAULT_TZ = "Asia/Seoul"
_BATCH = 5000
_MAX_ERRORS_SHOWN = 20
_ZERO = Decimal("0")


class CandleDataError(ValueError):
    """Input that cannot become candles. The text is shown to the person as-is (one line, or a short list)."""


# ---------------------------------------------------------------------------------------------------
# Units and time ranges
# ---------------------------------------------------------------------------------------------------
def parse_unit(text: str | int) -> int:
    """`1`, `60`, `240` … minutes, or `day` / `1d` / `1440` for day candles."""
    value = str(text).strip().lower()
    if value in {"day", "days", "d", "1d", "1440"}:
        return UNIT_DAY
    value = value.removesuffix("m").removesuffix("min")
    if value.isdigit() and int(value) in MINUTE_UNITS:
        return int(value)
    raise CandleDataError(f"unit {text!r} is not supported; use one of {', '.join(map(str, MINUTE_UNITS))} (minutes) or day")


def unit_label(unit: int) -> str:
    return "day" if unit == UNIT_DAY else f"{unit}m"


def floor_to_unit(moment: datetime, unit: int) -> datetime:
    """The start of the candle that contains `moment` (Upbit aligns candles on the UTC epoch; days at 00:00 UTC)."""
    seconds = int(moment.timestamp())
    step = unit * 60
    return datetime.fromtimestamp(seconds - seconds % step, tz=UTC)


def parse_moment(text: str, *, tz: str, end_of_day: bool = False) -> datetime:
    """A date (`2025-01-01`) or date-time (`2025-01-01T09:00`, `…+09:00`) as an aware UTC datetime.

    Naive values are read in `tz` (the person's zone). A bare date given as the end of a range means
    the end of that day, so `--from 2025-01-01 --to 2025-12-31` covers the whole year."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
            if end_of_day:
                moment += timedelta(days=1)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise CandleDataError(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[+09:00]") from None
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------
Row = tuple[datetime, Decimal | str, Decimal | str, Decimal | str, Decimal | str, Decimal | str, Decimal | str]
"""(start UTC, open, high, low, close, volume, value); numbers as Decimal or validated decimal text."""


def _insert_sql() -> str:
    table = connection.ops.quote_name(Candle._meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(name) for name in ("market", "unit", "ts", "open", "high", "low", "close", "volume", "value")
    )
    return (
        f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (market, unit, ts) DO NOTHING"  # noqa: S608 - quoted model names only; values are parameters
    )


def _ts_adapter() -> Callable[[datetime], Any]:
    """Django's own datetime adapter, or on SQLite with UTC storage the same text made without its per-row overhead."""
    if connection.vendor == "sqlite" and getattr(connection, "timezone_name", "UTC") == "UTC":
        return lambda ts: ts.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return connection.ops.adapt_datetimefield_value


def _stored_count(market: str, unit: int, first: datetime, last: datetime) -> int:
    return Candle.objects.filter(market=market, unit=unit, ts__gte=first, ts__lte=last).count()


def candles_store(*, market: str, unit: int, rows: Sequence[Row]) -> int:
    """Insert candles, keeping any already stored for the same minute. Returns how many were new.

    Runs in the caller's transaction when there is one (the importer's all-or-nothing transaction)."""
    if not rows:
        return 0
    first = min(row[0] for row in rows)
    last = max(row[0] for row in rows)
    adapt_ts = _ts_adapter()
    sql = _insert_sql()
    with transaction.atomic():
        before = _stored_count(market, unit, first, last)
        with connection.cursor() as cursor:
            for offset in range(0, len(rows), _BATCH):
                # Prices go to the driver as they are (Decimal, or the validated text of a CSV cell):
                # both drivers take either for a numeric column, exactly.
                cursor.executemany(
                    sql,
                    [
                        (market, unit, adapt_ts(ts), o, h, lo, c, v, val)
                        for ts, o, h, lo, c, v, val in rows[offset : offset + _BATCH]
                    ],
                )
        inserted = _stored_count(market, unit, first, last) - before
    if inserted:
        # The columnar copy no longer holds every stored candle (candle_cache.py).
        cache_drop(market, unit)
    return inserted


# ---------------------------------------------------------------------------------------------------
# Fetch from Upbit
# ---------------------------------------------------------------------------------------------------
class CandleSource(Protocol):
    """The quotation part of the exchange client (`exchange.upbit.UpbitClient`)."""

    def get_minute_candles(self, market: str, *, unit: int = 1, count: int = 200, to: datetime | None = None) -> list[Any]: ...

    def get_day_candles(self, market: str, *, count: int = 200, to: datetime | None = None) -> list[Any]: ...


@dataclass
class FetchResult:
    market: str
    unit: int
    start: datetime
    end: datetime
    pages: int = 0
    received: int = 0
    inserted: int = 0
    skipped_ranges: list[tuple[datetime, datetime]] = field(default_factory=list)
    oldest: datetime | None = None


@dataclass(frozen=True)
class FetchProgress:
    pages: int
    inserted: int
    reached: datetime
    segment_start: datetime
    segment_end: datetime


def _fetch_page(
    source: CandleSource, market: str, unit: int, to: datetime, *, retries: int, sleep: Callable[[float], None]
) -> list[Any]:
    from exchange.exceptions import RetryLater

    delay = 0.5
    for attempt in range(retries + 1):
        try:
            if unit == UNIT_DAY:
                return source.get_day_candles(market, count=PAGE_SIZE, to=to)
            return source.get_minute_candles(market, unit=unit, count=PAGE_SIZE, to=to)
        except RetryLater:
            if attempt == retries:
                raise
            logger.warning("candle page before %s: retrying in %.1fs", to.isoformat(), delay)
            sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def _stored_span(market: str, unit: int, start: datetime, end: datetime) -> tuple[datetime | None, datetime | None]:
    stored = Candle.objects.filter(market=market, unit=unit, ts__gte=start, ts__lt=end)
    oldest = stored.order_by("ts").values_list("ts", flat=True).first()
    newest = stored.order_by("-ts").values_list("ts", flat=True).first()
    return oldest, newest


def candles_fetch(
    *,
    source: CandleSource,
    market: str,
    unit: int,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    progress: Callable[[FetchProgress], None] | None = None,
    retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Fetch candles with start in [start, end) from Upbit, newest first, 200 per page, and store them.

    Resumable: what is already stored inside the range is not fetched again. Only the part newer than
    the newest stored candle and the part older than the oldest stored one are requested, so a run
    cut short (it stores each page as it goes, oldest page last) continues where it stopped. Gaps
    inside the stored span are real minutes without trades and are not asked for again.
    The candle still forming at `now` is never fetched: a stored candle is never overwritten, so a
    half-formed one would stay wrong for good."""
    if unit not in UNITS:
        raise CandleDataError(f"unit {unit} is not supported")
    if start >= end:
        raise CandleDataError(f"the range is empty: {start:%Y-%m-%d %H:%M} is not before {end:%Y-%m-%d %H:%M} (UTC)")
    now = now or datetime.now(tz=UTC)
    end = min(end, floor_to_unit(now, unit))
    start = (
        floor_to_unit(start, unit)
        if floor_to_unit(start, unit) == start
        else floor_to_unit(start, unit) + timedelta(minutes=unit)
    )
    result = FetchResult(market=market, unit=unit, start=start, end=end)
    if start >= end:
        return result

    oldest, newest = _stored_span(market, unit, start, end)
    if oldest is None or newest is None:
        segments = [(start, end)]
    else:
        segments = [(newest + timedelta(minutes=unit), end), (start, oldest)]
        result.skipped_ranges.append((oldest, newest))

    for segment_start, segment_end in segments:
        if segment_start >= segment_end:
            continue
        to = segment_end
        while True:
            page = _fetch_page(source, market, unit, to, retries=retries, sleep=sleep)
            result.pages += 1
            if not page:
                break
            result.received += len(page)
            rows: list[Row] = [
                (c.start, c.open, c.high, c.low, c.close, c.volume, c.value)
                for c in page
                if segment_start <= c.start < min(to, segment_end)
            ]
            result.inserted += candles_store(market=market, unit=unit, rows=rows)
            page_oldest = min(c.start for c in page)
            if rows:
                result.oldest = min(result.oldest or rows[0][0], min(row[0] for row in rows))
            if progress:
                progress(FetchProgress(result.pages, result.inserted, page_oldest, segment_start, segment_end))
            # A server that ignores `to` would hand back the same page forever.
            if page_oldest <= segment_start or page_oldest >= to:
                break
            to = page_oldest
    if result.inserted:
        transaction.on_commit(lambda: candle_cache_refresh(market=market, unit=unit))
    return result


# ---------------------------------------------------------------------------------------------------
# Reading for the backtest
# ---------------------------------------------------------------------------------------------------
def candle_arrays(*, market: str, unit: int, start: datetime, end: datetime) -> CandleArrays:
    """Stored candles with start in [start, end) as the strategies' float columns.

    Read from the columnar copy of the market and unit (candle_cache.py) when it holds exactly what is
    stored, else from the table with one query, keeping a new copy of all of it for the next run. Both give
    the same floats: the copy is the table's own query written to a file."""
    if cache_dir() is None:
        return _columns(_table_block(market=market, unit=unit, start=start, end=end), unit)
    table = cache_read(market, unit, stored_stamp(market, unit))
    if table is None:
        table = _table_block(market=market, unit=unit, start=None, end=None)
        cache_write(market, unit, table)
    starts = table[0]
    first = int(np.searchsorted(starts, start.timestamp(), side="left"))
    last = int(np.searchsorted(starts, end.timestamp(), side="left"))
    return _columns(table[:, first:last], unit)


def candle_cache_refresh(*, market: str, unit: int) -> None:
    """Write the columnar copy of `market`/`unit` now (after an import or a fetch), so the next backtest finds it."""
    if cache_dir() is not None and cache_read(market, unit, stored_stamp(market, unit)) is None:
        cache_write(market, unit, _table_block(market=market, unit=unit, start=None, end=None))


def _columns(table: npt.NDArray[np.float64], unit: int) -> CandleArrays:
    """A 6 × n block (start, open, high, low, close, volume) as CandleArrays; each row is contiguous already."""
    return CandleArrays(
        open=np.ascontiguousarray(table[1]),
        high=np.ascontiguousarray(table[2]),
        low=np.ascontiguousarray(table[3]),
        close=np.ascontiguousarray(table[4]),
        volume=np.ascontiguousarray(table[5]),
        start=table[0].astype(np.int64),
        unit_sec=unit * 60,
    )


def _table_block(*, market: str, unit: int, start: datetime | None, end: datetime | None) -> npt.NDArray[np.float64]:
    """Stored candles (all of them, or those with start in [start, end)) as a 6 × n float64 block, with one query.

    The database does the conversions (epoch seconds, double precision) so no Decimal or datetime
    object is built per row, and the rows stream straight into one float64 block (no list of row
    tuples in between)."""
    table = connection.ops.quote_name(Candle._meta.db_table)
    columns = ("open", "high", "low", "close", "volume")
    if connection.vendor == "postgresql":
        epoch = "CAST(EXTRACT(EPOCH FROM ts) AS BIGINT)"
        select = ", ".join([epoch, *(f"CAST({name} AS DOUBLE PRECISION)" for name in columns)])
    else:
        # unixepoch() (SQLite 3.38+) is the same whole seconds as strftime('%s') at a third of the cost.
        epoch = "unixepoch(ts)" if _sqlite_version() >= (3, 38) else "CAST(strftime('%%s', ts) AS INTEGER)"
        select = ", ".join([epoch, *(f"CAST({name} AS REAL)" for name in columns)])
    sql = f"SELECT {select} FROM {table} WHERE market = %s AND unit = %s"  # noqa: S608 - quoted model names only; values are parameters
    values: list[Any] = [market, unit]
    if start is not None and end is not None:
        adapt = connection.ops.adapt_datetimefield_value
        sql += " AND ts >= %s AND ts < %s"
        values += [adapt(start), adapt(end)]
    width = 1 + len(columns)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY ts", values)
        flat = np.fromiter(chain.from_iterable(cursor), dtype=np.float64)
    return np.ascontiguousarray(flat.reshape(-1, width).T)


def _sqlite_version() -> tuple[int, ...]:
    import sqlite3

    return sqlite3.sqlite_version_info


def candle_coverage(*, market: str, unit: int) -> tuple[int, datetime | None, datetime | None]:
    """How many candles are stored for market/unit, and the first and last start."""
    stored = Candle.objects.filter(market=market, unit=unit)
    first = stored.order_by("ts").values_list("ts", flat=True).first()
    last = stored.order_by("-ts").values_list("ts", flat=True).first()
    return stored.count(), first, last
