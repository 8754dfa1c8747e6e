"""A columnar copy of the stored candles of one market and unit, so a backtest reads a year of minutes in milliseconds.

The candle table stays the source of truth. The copy is one `.npy` file per database, market and unit: a
6 × n float64 block (start in UTC epoch seconds, open, high, low, close, volume) of every stored candle,
oldest first, exactly the floats `candle_arrays` reads from the table. The file's name carries the stamp of
what it holds: the layout version, the number of candles and the first and last start. A reader asks the
database for the current stamp (one query on the unique index) and uses the file only when the stamps agree;
otherwise the table is read and a new file written in its place.

Candles are only ever added (never changed in place); every write goes through `candles_store`, which drops
the files of the market and unit it adds to, and the importer and the fetcher write a fresh copy once their
rows are committed. The stamp is the safety net for anything else (a restore, a row deleted by hand): a
different count or first or last start makes the file unused. The stamp is taken from the rows written, not
from the query before them, so a copy never claims rows it does not hold.

Any file error only costs speed: the table is read instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection

from trading.models import Candle

logger = logging.getLogger("autocoin.candles")

VERSION = 1
"""The layout of the files; a change of layout changes it, so old files are never read."""

Stamp = tuple[int, int, int]
"""(count, first start, last start), starts in UTC epoch seconds."""


def cache_dir() -> Path | None:
    """The folder of this database's copies, or None when the copy is turned off (CANDLE_CACHE_DIR empty)."""
    root = getattr(settings, "CANDLE_CACHE_DIR", None)
    if not root:
        return None
    db = connection.settings_dict
    # Two databases (a test database, a restored copy) never share files.
    identity = "|".join(str(db.get(key) or "") for key in ("ENGINE", "NAME", "HOST", "PORT"))
    return Path(root) / hashlib.sha256(identity.encode()).hexdigest()[:16]


def _prefix(market: str, unit: int) -> str:
    return f"{market}-{unit}-v{VERSION}-"


def _path(directory: Path, market: str, unit: int, stamp: Stamp) -> Path:
    count, first, last = stamp
    return directory / f"{_prefix(market, unit)}{count}-{first}-{last}.npy"


def stored_stamp(market: str, unit: int) -> Stamp:
    """The stamp of the stored candles of `market`/`unit`, in one statement the unique index answers."""
    table = connection.ops.quote_name(Candle._meta.db_table)
    where = f"FROM {table} WHERE market = %s AND unit = %s"
    if connection.vendor == "postgresql":
        epoch = "CAST(EXTRACT(EPOCH FROM {}) AS BIGINT)"
    else:
        epoch = "CAST(strftime('%%s', {}) AS INTEGER)"
    sql = (
        f"SELECT (SELECT COUNT(*) {where}), "
        f"{epoch.format(f'(SELECT MIN(ts) {where})')}, {epoch.format(f'(SELECT MAX(ts) {where})')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [market, unit] * 3)
        count, first, last = cursor.fetchone()
    return int(count or 0), int(first or 0), int(last or 0)


def table_stamp(table: npt.NDArray[np.float64]) -> Stamp:
    """The stamp of a 6 × n block read from the table."""
    count = int(table.shape[1])
    if count == 0:
        return 0, 0, 0
    return count, int(table[0, 0]), int(table[0, -1])


def cache_read(market: str, unit: int, stamp: Stamp) -> npt.NDArray[np.float64] | None:
    """The copy of `market`/`unit` holding exactly `stamp`, or None (none, stale, unreadable or turned off)."""
    directory = cache_dir()
    if directory is None or stamp[0] == 0:
        return None
    path = _path(directory, market, unit, stamp)
    try:
        table = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("candle copy %s is unreadable (%s); reading the table", path, error)
        return None
    if table.dtype != np.float64 or table.ndim != 2 or table.shape[0] != 6 or table_stamp(table) != stamp:
        return None
    return table  # type: ignore[no-any-return]


def cache_write(market: str, unit: int, table: npt.NDArray[np.float64]) -> Path | None:
    """Keep `table` (every stored candle of `market`/`unit`) as the copy, replacing older ones; returns its path."""
    directory = cache_dir()
    stamp = table_stamp(table)
    if directory is None or stamp[0] == 0:
        return None
    path = _path(directory, market, unit, stamp)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.save(handle, np.ascontiguousarray(table), allow_pickle=False)
        os.replace(partial, path)  # readers see the whole file or none
    except OSError as error:
        logger.warning("cannot keep the candle copy %s (%s); backtests read the table instead", path, error)
        return None
    cache_drop(market, unit, keep=path)
    return path


def cache_drop(market: str, unit: int, *, keep: Path | None = None) -> None:
    """Remove the copies of `market`/`unit` (but `keep`): called whenever candles of it are added."""
    directory = cache_dir()
    if directory is None or not directory.is_dir():
        return
    for path in directory.glob(f"{_prefix(market, unit)}*.npy"):
        if path != keep:
            path.unlink(missing_ok=True)
