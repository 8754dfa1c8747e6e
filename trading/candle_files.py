"""Candles from CSV files: Upbit's own candle columns or the OHLCV layout pyupbit writes, checked row by row,
then stored with `trading.candles.candles_store` (one bad row and nothing is stored)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import transaction

from trading.candles import (
    OHLCV_DEFAULT_TZ,
    UNITS,
    CandleDataError,
    Row,
    candle_cache_refresh,
    candles_store,
    parse_unit,
    unit_label,
)

_MAX_ERRORS_SHOWN = 20
_ZERO = Decimal("0")


_UPBIT_PRICE_COLUMNS = ("opening_price", "high_price", "low_price", "trade_price")
_OHLCV_PRICE_COLUMNS = ("open", "high", "low", "close")
_TIME_HEADERS = {"", "time", "timestamp", "datetime", "date", "ts", "index", "candle_date_time", "unnamed: 0"}


@dataclass
class ImportResult:
    path: str
    layout: str
    market: str
    market_source: str
    unit: int
    unit_source: str
    rows_read: int
    candles: int
    inserted: int
    duplicate_lines: list[int] = field(default_factory=list)
    conflicting_lines: list[tuple[int, int]] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None

    @property
    def already_stored(self) -> int:
        return self.candles - self.inserted


@dataclass(frozen=True)
class _Layout:
    name: str
    time_index: int
    time_tz: str
    prices: tuple[int, int, int, int]
    volume: int | None
    value: int | None
    market: int | None
    unit: int | None


def _detect_layout(header: list[str], *, tz: str) -> _Layout:
    names = [name.strip().lower() for name in header]
    position = {name: index for index, name in enumerate(names)}
    if "candle_date_time_utc" in position or "candle_date_time_kst" in position:
        missing = [name for name in _UPBIT_PRICE_COLUMNS if name not in position]
        if missing:
            raise CandleDataError(f"line 1: Upbit candle columns are missing {', '.join(missing)}")
        if "candle_date_time_utc" in position:
            time_index, time_tz = position["candle_date_time_utc"], "UTC"
        else:
            time_index, time_tz = position["candle_date_time_kst"], "Asia/Seoul"
        return _Layout(
            name="upbit",
            time_index=time_index,
            time_tz=time_tz,
            prices=tuple(position[name] for name in _UPBIT_PRICE_COLUMNS),  # type: ignore[arg-type]
            volume=position.get("candle_acc_trade_volume"),
            value=position.get("candle_acc_trade_price"),
            market=position.get("market"),
            unit=position.get("unit"),
        )
    if all(name in position for name in _OHLCV_PRICE_COLUMNS):
        time_columns = [index for index, name in enumerate(names) if name in _TIME_HEADERS]
        if not time_columns:
            raise CandleDataError(
                "line 1: no time column; the first column should be the candle time (unnamed, or named time/timestamp/date)"
            )
        return _Layout(
            name="ohlcv",
            time_index=time_columns[0],
            time_tz=tz,
            prices=tuple(position[name] for name in _OHLCV_PRICE_COLUMNS),  # type: ignore[arg-type]
            volume=position.get("volume"),
            value=position.get("value"),
            market=position.get("market"),
            unit=position.get("unit"),
        )
    raise CandleDataError(
        "line 1: unknown columns; expected Upbit's candle columns (candle_date_time_utc, opening_price, high_price, "
        "low_price, trade_price, candle_acc_trade_volume) or a time column followed by open, high, low, close, volume"
    )


def _parse_time(text: str, zone: ZoneInfo) -> datetime:
    value = text.strip()
    if value.isdigit():
        # Epoch numbers are UTC by definition; 13 digits are milliseconds.
        number = int(value)
        return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, tz=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _decimal(text: str, name: str) -> Decimal:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{name} {text.strip()!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} {text.strip()!r} is not a finite number")
    return number


def _infer_unit(times: Iterable[datetime]) -> int:
    ordered = sorted(set(times))
    if len(ordered) < 2:
        raise CandleDataError("cannot tell the candle unit from a single candle; pass --unit")
    spacing = Counter(int((b - a).total_seconds()) // 60 for a, b in pairwise(ordered))
    minutes, _ = spacing.most_common(1)[0]
    if minutes not in UNITS:
        raise CandleDataError(f"cannot tell the candle unit: the most common spacing is {minutes} minutes; pass --unit")
    return minutes


def _format_errors(errors: list[tuple[int, str]], total_rows: int) -> str:
    shown = "; ".join(f"line {line}: {message}" for line, message in errors[:_MAX_ERRORS_SHOWN])
    more = f"; … and {len(errors) - _MAX_ERRORS_SHOWN} more" if len(errors) > _MAX_ERRORS_SHOWN else ""
    return f"{len(errors)} bad row(s) of {total_rows}, nothing imported: {shown}{more}"


def candles_import(
    *, path: Path | str, market: str | None = None, unit: int | None = None, tz: str = OHLCV_DEFAULT_TZ
) -> ImportResult:
    """Import a candle CSV (Upbit's candle columns, or pyupbit's OHLCV layout) all or nothing.

    Every row is validated before anything is written; one bad row and nothing is stored, with the
    offending line numbers in the error. The same minute twice in the file is stored once (identical
    lines collapse; if the lines differ the later one wins and is reported). Candles already stored
    are kept as they are.

    The market comes from `market`, else the file's `market` column. The unit comes from `unit`,
    else the file's `unit` column, else the most common spacing between consecutive timestamps."""
    source = Path(path)
    if not source.is_file():
        raise CandleDataError(f"{source}: no such file")
    zone_name = tz
    try:
        ZoneInfo(zone_name)
    except (KeyError, ValueError):
        raise CandleDataError(f"time zone {tz!r} is not known; use an IANA name such as Asia/Seoul or UTC") from None

    errors: list[tuple[int, str]] = []
    # The cells stay text: candles_store hands validated text to the driver as it is.
    parsed: list[tuple[int, datetime, tuple[str, ...], str | None, str | None]] = []
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise CandleDataError(f"{source}: the file is empty") from None
        except (csv.Error, UnicodeDecodeError) as error:
            raise CandleDataError(f"{source}: line 1: cannot read the header ({error})") from None
        layout = _detect_layout(header, tz=zone_name)
        time_zone = ZoneInfo(layout.time_tz)
        width = len(header)
        numeric = (*layout.prices, layout.volume, layout.value)
        complete = None not in numeric
        try:
            for record in reader:
                line = reader.line_num
                if not record or all(not cell.strip() for cell in record):
                    continue
                if len(record) != width:
                    errors.append((line, f"{len(record)} columns, the header has {width}"))
                    continue
                try:
                    ts = _parse_time(record[layout.time_index], time_zone)
                except (ValueError, OverflowError, OSError):
                    errors.append((line, f"time {record[layout.time_index].strip()!r} is not a date-time"))
                    continue
                if complete:
                    texts = tuple(record[index].strip() for index in numeric)  # type: ignore[index]
                else:
                    texts = tuple("0" if index is None else record[index].strip() for index in numeric)
                try:
                    o, h, lo, c, volume, value = map(Decimal, texts)
                    problem = _ohlc_problem(o, h, lo, c, volume, value)
                except (InvalidOperation, ValueError):
                    problem = _number_problem(record, layout)
                if problem:
                    errors.append((line, problem))
                    continue
                row_market = record[layout.market].strip().upper() if layout.market is not None else None
                row_unit = record[layout.unit].strip() if layout.unit is not None else None
                parsed.append((line, ts, texts, row_market, row_unit))
        except (csv.Error, UnicodeDecodeError) as error:
            raise CandleDataError(f"{source}: line {reader.line_num}: cannot read the file ({error})") from None

    total_rows = len(parsed) + len(errors)
    if total_rows == 0:
        raise CandleDataError(f"{source}: no candle rows after the header")

    # Market: the option, or the file's own column (one market per file).
    file_markets = {row[3] for row in parsed if row[3]}
    if market:
        market = market.strip().upper()
        market_source = "--market"
        for line, _ts, _values, row_market, _unit in parsed:
            if row_market and row_market != market:
                errors.append((line, f"market {row_market} is not {market}"))
    elif len(file_markets) == 1:
        market, market_source = file_markets.pop(), "the file's market column"
    elif len(file_markets) > 1:
        raise CandleDataError(f"the file holds several markets ({', '.join(sorted(file_markets))}); pass --market to import one")
    else:
        raise CandleDataError("the file has no market column; pass --market, e.g. --market KRW-BTC")

    # Unit: the option, the file's unit column, or the spacing of the timestamps.
    file_units = {row[4] for row in parsed if row[4]}
    if unit is not None:
        unit_source = "--unit"
        for line, _ts, _values, _market, row_unit in parsed:
            if row_unit and row_unit != str(unit):
                errors.append((line, f"unit {row_unit} is not {unit}"))
    elif len(file_units) == 1:
        unit, unit_source = parse_unit(next(iter(file_units))), "the file's unit column"
    elif layout.name == "upbit" and not file_units and not parsed:
        raise CandleDataError("no valid rows to infer the unit from; pass --unit")
    else:
        if not parsed:
            raise CandleDataError(_format_errors(errors, total_rows))
        unit, unit_source = _infer_unit(row[1] for row in parsed), "the spacing of the timestamps"

    step = unit * 60
    for line, ts, _values, _market, _unit in parsed:
        if int(ts.timestamp()) % step or ts.microsecond:
            errors.append((line, f"{ts:%Y-%m-%d %H:%M:%S} UTC is not the start of a {unit_label(unit)} candle"))
    if errors:
        errors.sort()
        raise CandleDataError(_format_errors(errors, total_rows))

    # The same candle twice: identical lines collapse; differing lines keep the later one (a later fetch
    # of a candle that was still forming), and both line numbers are reported.
    by_time: dict[datetime, tuple[int, tuple[str, ...]]] = {}
    duplicates: list[int] = []
    conflicts: list[tuple[int, int]] = []
    for line, ts, values, _market, _unit in parsed:
        seen = by_time.get(ts)
        if seen is not None:
            if seen[1] == values:
                duplicates.append(line)
                continue
            conflicts.append((seen[0], line))
        by_time[ts] = (line, values)
    rows: list[Row] = [(ts, *values) for ts, (_line, values) in sorted(by_time.items())]  # type: ignore[misc]

    inserted = candles_store(market=market, unit=unit, rows=rows)
    if inserted:
        # Once the rows are committed (the importer's transaction may still roll back), the next backtest finds a fresh copy.
        transaction.on_commit(lambda: candle_cache_refresh(market=market, unit=unit))
    return ImportResult(
        path=str(source),
        layout=layout.name,
        market=market,
        market_source=market_source,
        unit=unit,
        unit_source=unit_source,
        rows_read=total_rows,
        candles=len(rows),
        inserted=inserted,
        duplicate_lines=duplicates,
        conflicting_lines=conflicts,
        first=rows[0][0],
        last=rows[-1][0],
    )


def _number_problem(record: list[str], layout: _Layout) -> str:
    """The message for the first cell of a row that is not a finite number."""
    cells = [*zip(layout.prices, _OHLCV_PRICE_COLUMNS, strict=True), (layout.volume, "volume"), (layout.value, "value")]
    for index, name in cells:
        if index is None:
            continue
        try:
            _decimal(record[index], name)
        except ValueError as error:
            return str(error)
    return "the numbers are not finite"


def _ohlc_problem(o: Decimal, h: Decimal, lo: Decimal, c: Decimal, volume: Decimal, value: Decimal) -> str:
    """What is wrong with one candle's numbers ('' when nothing). Raises InvalidOperation for NaN."""
    if not (o + h + lo + c + volume + value).is_finite():
        raise InvalidOperation
    if o <= 0 or h <= 0 or lo <= 0 or c <= 0:
        return "prices must be positive"
    if h < lo or h < o or h < c:
        return f"high {h} is below the open, low or close"
    if lo > o or lo > c:
        return f"low {lo} is above the open or close"
    if volume < 0 or value < 0:
        return "volume and value must not be negative"
    return ""
