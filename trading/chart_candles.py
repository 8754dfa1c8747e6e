"""The candles the engine decides on, stored so the console's candle chart can draw them.

The engine reads its candles from the exchange and keeps them in memory (trading/engine/candles.py); each
newly closed one is also written here, once. Candles from Upbit (live, or paper on Upbit's quotes) go into the
market history (`Candle`, through `trading.candles.candles_store`), where they also serve backtests; candles
from any other quotation host (the sandbox) go into `EngineCandle` under that host, so made-up prices never
mix with the real history (trading/chart_models.py). `candle_source()` names the host, and the chart reads
the table that source writes to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection, transaction

from exchange.account import UPBIT_HOST, api_host
from exchange.types import Candle as ExchangeCandle
from trading.candles import candles_store
from trading.chart_models import EngineCandle
from trading.models import Candle

logger = logging.getLogger("autocoin.chart")

COLUMNS = ("open", "high", "low", "close", "volume")


def candle_source() -> str:
    """The host (and port) the engine's candles come from under the current settings."""
    return api_host(settings.UPBIT_API_BASE)


def is_market_history(source: str) -> bool:
    """Whether `source` is Upbit itself, whose candles belong in the market history (`Candle`)."""
    return source == UPBIT_HOST


def engine_candles_store(*, source: str, market: str, unit: int, candles: Sequence[ExchangeCandle]) -> int:
    """Store closed candles (oldest first), keeping any already stored for the same start. Returns how many were new."""
    if not candles:
        return 0
    if is_market_history(source):
        rows = [(c.start, c.open, c.high, c.low, c.close, c.volume, c.value) for c in candles]
        return candles_store(market=market, unit=unit, rows=rows)
    table = connection.ops.quote_name(EngineCandle._meta.db_table)
    names = ("source", "market", "unit", "ts", "open", "high", "low", "close", "volume", "value")
    columns = ", ".join(connection.ops.quote_name(name) for name in names)
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608 - quoted model names only
        "ON CONFLICT (source, market, unit, ts) DO NOTHING"
    )
    adapt = connection.ops.adapt_datetimefield_value
    stored = EngineCandle.objects.filter(source=source, market=market, unit=unit)
    first, last = candles[0].start, candles[-1].start
    with transaction.atomic():
        before = stored.filter(ts__gte=first, ts__lte=last).count()
        with connection.cursor() as cursor:
            cursor.executemany(
                sql,
                [(source, market, unit, adapt(c.start), c.open, c.high, c.low, c.close, c.volume, c.value) for c in candles],
            )
        return stored.filter(ts__gte=first, ts__lte=last).count() - before


def _table_and_filter(source: str) -> tuple[str, str, list[Any]]:
    if is_market_history(source):
        return connection.ops.quote_name(Candle._meta.db_table), "", []
    return connection.ops.quote_name(EngineCandle._meta.db_table), " AND source = %s", [source]


def epoch_sql(column: str = "ts") -> str:
    """SQL for a datetime column as whole UTC epoch seconds, on this database."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    import sqlite3

    return f"unixepoch({column})" if sqlite3.sqlite_version_info >= (3, 38) else f"CAST(strftime('%%s', {column}) AS INTEGER)"


def number_sql(name: str) -> str:
    """SQL for a decimal column as a double (the chart draws floats)."""
    return f"CAST({name} AS DOUBLE PRECISION)" if connection.vendor == "postgresql" else f"CAST({name} AS REAL)"


def _moment(epoch: int) -> Any:
    return connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(epoch, tz=UTC))


def chart_block(
    *, source: str, market: str, unit: int, before: int | None, count: int, after: int | None = None
) -> npt.NDArray[np.float64]:
    """The newest `count` stored candles starting before `before` (epoch seconds; None: the newest of all), oldest
    first, as a 6 × n float64 block (start, open, high, low, close, volume), in one query.

    The database converts the numbers (as `trading.candles` does for backtests), so no Decimal or datetime is
    built per row: the chart draws floats and computes its indicators on floats, as the strategies do.
    With `after` instead: the oldest `count` candles starting after it (what was stored since a block was read)."""
    table, source_filter, values = _table_and_filter(source)
    select = ", ".join([epoch_sql(), *(number_sql(name) for name in COLUMNS)])
    sql = f"SELECT {select} FROM {table} WHERE market = %s AND unit = %s{source_filter}"  # noqa: S608 - quoted model names only
    params: list[Any] = [market, unit, *values]
    if before is not None:
        sql += " AND ts < %s"
        params.append(_moment(before))
    if after is not None:
        sql += " AND ts > %s"
        params.append(_moment(after))
    sql += " ORDER BY ts ASC LIMIT %s" if after is not None else " ORDER BY ts DESC LIMIT %s"
    params.append(count)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()  # one call into the driver: a few thousand rows, cheaper than iterating the wrapper
    if not rows:
        return np.empty((1 + len(COLUMNS), 0), dtype=np.float64)
    block = np.array(rows, dtype=np.float64)
    return np.ascontiguousarray((block if after is not None else block[::-1]).T)


def stored_span(*, source: str, market: str, unit: int) -> tuple[int, int]:
    """The first and last stored candle start (epoch seconds; 0, 0 when none), in one statement the unique index
    answers: what a cached page is checked against (candles are only ever added; see `_IndicatorCache`)."""
    table, source_filter, values = _table_and_filter(source)
    where = f"FROM {table} WHERE market = %s AND unit = %s{source_filter}"
    first = epoch_sql(f"(SELECT MIN(ts) {where})")
    last = epoch_sql(f"(SELECT MAX(ts) {where})")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {first}, {last}", [market, unit, *values] * 2)
        row = cursor.fetchone()
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


def newer_count(*, source: str, market: str, unit: int, after: int, limit: int) -> int:
    """How many stored candles start after `after` (epoch seconds), counting at most `limit`: a live poll's first look."""
    table, source_filter, values = _table_and_filter(source)
    inner = f"SELECT 1 FROM {table} WHERE market = %s AND unit = %s{source_filter} AND ts > %s LIMIT %s"  # noqa: S608 - quoted model names only
    sql = f"SELECT COUNT(*) FROM ({inner}) AS newer"  # noqa: S608 - no value in the text
    with connection.cursor() as cursor:
        cursor.execute(sql, [market, unit, *values, _moment(after), limit])
        row = cursor.fetchone()
    return int(row[0]) if row else 0
