"""Streamed CSV and JSON exports of any queryset, in constant memory whatever the row count.

Rows are read in chunks straight from the database cursor (a server-side cursor on PostgreSQL) and
formatted here rather than through the ORM's per-value converters, which are the slow part at a
million rows. The formats are fixed so a spreadsheet or a script can rely on them:

- Decimals are exact strings with the column's stored scale (`"9995.00000000"`), never floats.
- Timestamps are ISO-8601 in UTC with an explicit offset (`2026-11-21T13:05:00.123456+00:00`); dates
  are `YYYY-MM-DD`.
- JSON columns are embedded as JSON (an object in the JSON export, compact JSON text in a CSV cell).
- Empty values are an empty CSV cell and `null` in JSON.
- Every configured secret is masked (exchange/redact.py), a chunk of rows at a time. Rows are masked when
  written (patterns such as bearer tokens included); this guards rows written before a secret was set.

CSV options for people opening the file in a spreadsheet (`CsvOptions`; off by default, so scripts keep the
fixed format above):

- `bom`: the file starts with a UTF-8 byte order mark, so Excel reads Korean text as UTF-8;
- `local_times`: times in the configured zone (Asia/Seoul) as `2026-12-05 21:04:09`, the zone in the header
  (`ts (Asia/Seoul)`);
- `display_numbers`: numbers as the console shows them (trading/formatting.py): `10,000`, `-9.49`, `0.00100000`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from json.encoder import encode_basestring
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models
from django.db.models import Func, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.db.models.sql.constants import MULTI
from django.http import StreamingHttpResponse
from django.utils import timezone

from exchange.redact import configured_secrets, mask_values
from trading.formatting import number_text

FORMATS = ("csv", "json")
CHUNK_ROWS = 2000
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV export is written for a spreadsheet; every option off is the fixed machine format."""

    bom: bool = False
    local_times: bool = False
    display_numbers: bool = False

    # The query parameters (and their "on" values) an export URL takes: ?bom=1&tz=local&numbers=display
    PARAMETERS = ("bom", "tz", "numbers")

    @classmethod
    def from_query(cls, query: Any) -> CsvOptions:
        """The options an export URL's query parameters ask for; anything else leaves an option off."""
        return cls(
            bom=query.get("bom") in ("1", "true", "yes"),
            local_times=query.get("tz") == "local",
            display_numbers=query.get("numbers") == "display",
        )


MACHINE = CsvOptions()
EXCEL = CsvOptions(bom=True, local_times=True, display_numbers=True)
BOM = "\ufeff"
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Column:
    header: str
    path: str  # a values_list path: a field name, an attname such as order_id, or order__identifier


def columns_for(model: type[models.Model], extra: Sequence[str] = ()) -> list[Column]:
    """Every concrete column of `model` (foreign keys as `<name>_id`), then `extra` paths across relations."""
    columns = [Column(header=field.attname, path=field.attname) for field in model._meta.concrete_fields]
    columns += [Column(header=path.replace(LOOKUP_SEP, "_"), path=path) for path in extra]
    return columns


def file_name(basename: str, fmt: str, *, now: datetime | None = None) -> str:
    stamp = (now or timezone.now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{basename}-{stamp}.{fmt}"


def _field_at(model: type[models.Model], path: str) -> models.Field[Any, Any]:
    parts = path.split(LOOKUP_SEP)
    field: Any = None
    for index, part in enumerate(parts):
        field = model._meta.get_field(part)
        if index < len(parts) - 1:
            model = field.related_model
    if field.is_relation:
        field = field.target_field
    found: models.Field[Any, Any] = field
    return found


# ---------------------------------------------------------------------------------------------------
# Per-column formatters: raw database value → text. One pair (CSV, JSON) per kind of column and backend.
# ---------------------------------------------------------------------------------------------------
_FLOAT_CONTEXT = Context(prec=15)  # SQLite keeps 15 significant digits in a REAL; Django reads them the same way


def _iso_datetime(value: str | datetime) -> str:
    # Normally already formatted by the database (see _database_formatted); a parsed value otherwise.
    if type(value) is str:
        return value
    return _aware_datetime(value)  # type: ignore[arg-type]


def _aware_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        return value.isoformat() + "+00:00"
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat()


def _date(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _decimal_formatter(places: int | None) -> Callable[[Any], str]:
    quantum = Decimal(1).scaleb(-places) if places is not None else None
    zeros = "." + "0" * places if places else ""
    float_fixed = f".{places}f" if places is not None else ""
    # Below this magnitude a double is within half of the last decimal place of the decimal it was stored
    # from, so rounding it to `places` gives that decimal back exactly. (Django's own reading rounds to 15
    # significant digits, which can drop a 16th; SQLite keeps REAL to about 15-17 digits either way.)
    float_exact_below = 2.0**51 * 10.0 ** -(places or 0) if places is not None else 0.0

    def fmt(value: Any) -> str:
        # "f" never switches to exponent notation (str() would print 1E-8 or 0E-8).
        kind = type(value)
        if kind is float:
            if -float_exact_below < value < float_exact_below:
                return format(value, float_fixed)
            number = _FLOAT_CONTEXT.create_decimal_from_float(value)
        elif kind is str:
            point = value.find(".")
            if point >= 0 and len(value) - point - 1 == places and "e" not in value and "E" not in value:
                text: str = value
                return text  # stored as text at the column's scale already
            number = Decimal(value)
        elif kind is int:
            return f"{value}{zeros}"  # SQLite stores whole amounts as INTEGER
        elif isinstance(value, Decimal):
            return f"{value:f}"  # PostgreSQL: already at the column's scale
        else:
            number = Decimal(str(value))
        if quantum is not None:
            number = number.quantize(quantum)
        return f"{number:f}"

    return fmt


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        # Stored JSON text (SQLite, and PostgreSQL as Django reads jsonb) is passed through untouched.
        return value
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


def _formatters(field: models.Field[Any, Any], vendor: str) -> tuple[Callable[[Any], Any], Callable[[Any], str]]:
    """(csv formatter, json formatter) for one column; neither is called with None."""
    if isinstance(field, models.DateTimeField):
        if _database_formatted(field, vendor) is not None:
            return _identity, lambda value: '"' + _iso_datetime(value) + '"'
        return _iso_datetime, lambda value: '"' + _iso_datetime(value) + '"'
    if isinstance(field, models.DateField):
        return _date, lambda value: '"' + _date(value) + '"'
    if isinstance(field, models.DecimalField):
        decimal_text = _decimal_formatter(field.decimal_places)
        return decimal_text, lambda value: '"' + decimal_text(value) + '"'
    if isinstance(field, models.JSONField):
        return _json_text, _json_text
    if isinstance(field, models.BooleanField):
        return _bool_text, _bool_text
    if isinstance(field, (models.IntegerField, models.AutoField)):
        return _identity, str
    if isinstance(field, models.FloatField):
        return _identity, lambda value: json.dumps(float(value))
    return _identity, lambda value: encode_basestring(str(value))


def _identity(value: Any) -> Any:
    return value


# ---------------------------------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------------------------------
class _SqliteIsoTime(Func):
    """A stored SQLite datetime (naive UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]") as ISO-8601 with its offset,
    formatted by SQLite: no per-value parsing in Python, which is the slow part at a million rows."""

    template = "(REPLACE(%(expressions)s, ' ', 'T') || '+00:00')"
    output_field = models.TextField()


class _PostgresIsoTime(Func):
    """A timestamptz as ISO-8601 in UTC, formatted by PostgreSQL (microseconds only when not zero, like
    Python's isoformat): Django's Python-level timestamptz loader is the slow part at a million rows."""

    template = "REPLACE(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), '.000000+', '+')"
    output_field = models.TextField()


class _PostgresText(Func):
    """numeric as its text: exactly the stored digits at the column's scale, without building a Decimal."""

    template = "(%(expressions)s)::text"
    output_field = models.TextField()


def _database_formatted(field: models.Field[Any, Any], vendor: str) -> type[Func] | None:
    """The SQL wrapper that makes the database return the column already formatted, if any."""
    if isinstance(field, models.DateTimeField):
        return {"sqlite": _SqliteIsoTime, "postgresql": _PostgresIsoTime}.get(vendor)
    if isinstance(field, models.DecimalField) and vendor == "postgresql":
        return _PostgresText
    return None


def _raw_chunks(queryset: QuerySet[Any], columns: Sequence[Column]) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of raw rows (no ORM conversion) for `columns`, from a chunked (server-side) cursor."""
    paths: list[str] = []
    wrapped: dict[str, Func] = {}
    vendor = connections[queryset.db].vendor
    for index, column in enumerate(columns):
        wrapper = _database_formatted(_field_at(queryset.model, column.path), vendor)
        if wrapper is None:
            paths.append(column.path)
        else:
            alias = f"export_text_{index}"
            wrapped[alias] = wrapper(column.path)
            paths.append(alias)
    query = (queryset.annotate(**wrapped) if wrapped else queryset).values_list(*paths).query
    compiler = query.get_compiler(using=queryset.db)
    width = len(paths)
    for rows in compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=CHUNK_ROWS):
        # The compiler may select extra columns (e.g. for ordering); keep the ones asked for.
        yield [row[:width] for row in rows] if rows and len(rows[0]) != width else rows


class _Echo:
    """A file-like object whose write returns what it was given, so csv.writer builds lines for us."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, value: str) -> None:
        self.parts.append(value)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def _local_time(value: str | datetime) -> str:
    """A stored time (ISO text in UTC, or a datetime) in the configured zone, as a spreadsheet reads it."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return timezone.localtime(moment).strftime(LOCAL_TIME_FORMAT)


def _csv_converter(column: Column, field: models.Field[Any, Any], vendor: str, options: CsvOptions) -> Callable[[Any], Any]:
    machine = _formatters(field, vendor)[0]
    if options.local_times and isinstance(field, models.DateTimeField):
        return lambda value: _local_time(machine(value))
    if options.display_numbers and isinstance(field, models.DecimalField):
        return lambda value: number_text(column.path, Decimal(machine(value)))
    return machine


def _csv_header(column: Column, field: models.Field[Any, Any], options: CsvOptions) -> str:
    if options.local_times and isinstance(field, models.DateTimeField):
        return f"{column.header} ({timezone.get_current_timezone_name()})"
    return column.header


def stream_csv(queryset: QuerySet[Any], columns: Sequence[Column], options: CsvOptions = MACHINE) -> Iterator[str]:
    vendor = connections[queryset.db].vendor
    fields = [_field_at(queryset.model, column.path) for column in columns]
    converters = [_csv_converter(column, field, vendor, options) for column, field in zip(columns, fields, strict=True)]
    convert_at = [index for index, fmt in enumerate(converters) if fmt is not _identity]
    secrets = configured_secrets()
    buffer = _Echo()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_header(column, field, options) for column, field in zip(columns, fields, strict=True)])
    yield (BOM if options.bom else "") + buffer.take()
    for rows in _raw_chunks(queryset, columns):
        out = []
        for row in rows:
            values = list(row)
            for index in convert_at:
                value = values[index]
                if value is not None:
                    values[index] = converters[index](value)
            out.append(values)
        writer.writerows(out)
        yield mask_values(buffer.take(), secrets)


def stream_json(queryset: QuerySet[Any], columns: Sequence[Column]) -> Iterator[str]:
    """A JSON array of objects, one per row, keys in column order; streamed a chunk at a time."""
    vendor = connections[queryset.db].vendor
    converters = [_formatters(_field_at(queryset.model, column.path), vendor)[1] for column in columns]
    keys = [encode_basestring(column.header) + ":" for column in columns]
    pairs = list(zip(keys, converters, strict=True))
    secrets = configured_secrets()
    first = True
    yield "["
    for rows in _raw_chunks(queryset, columns):
        parts = []
        for row in rows:
            body = ",".join(
                [key + ("null" if value is None else fmt(value)) for (key, fmt), value in zip(pairs, row, strict=True)]
            )
            parts.append(("\n{" if first else ",\n{") + body + "}")
            first = False
        yield mask_values("".join(parts), secrets)
    yield "\n]\n"


def export_response(
    queryset: QuerySet[Any], *, fmt: str, basename: str, columns: Sequence[Column], options: CsvOptions = MACHINE
) -> StreamingHttpResponse:
    """A streamed download of `queryset` as CSV or JSON, named `<basename>-<UTC time>.<fmt>`; `options` shape a CSV."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    body = stream_csv(queryset, columns, options) if fmt == "csv" else stream_json(queryset, columns)
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{file_name(basename, fmt)}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
