"""How numbers and times read on every page: the dashboard's filters, the admin's columns and detail pages, exports.

- KRW amounts: thousands separators, at most two decimals, trailing zeros dropped (`10,000`, `-9.49`);
- prices: separators, up to 8 decimals, trailing zeros dropped (`150,000,000`, `0.0123`);
- coin volumes: always 8 decimals, Upbit's precision (`0.00100000`);
- times: 24-hour, in the configured zone (Asia/Seoul), with seconds (`2026-12-05 21:04:09`).

Exact: Decimal in, text out, never through float. Rounding is half-up, as people round.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import timezone

EMPTY = "—"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PLACES = {0: Decimal("1"), 2: Decimal("0.01"), 4: Decimal("0.0001"), 8: Decimal("0.00000001")}


def to_decimal(value: object) -> Decimal | None:
    """`value` as a finite Decimal, or None for nothing, text that is not a number, NaN and infinities."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        # Floats never reach money code; a stray one is shown through its shortest repr, not its binary value.
        value = repr(value)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def format_grouped(value: object, places: int = 8, *, strip: bool = True, empty: str = EMPTY) -> str:
    """`1234567.5` → "1,234,567.5": thousands separators, rounded half-up to `places`, no float on the way.
    With `strip=False` every decimal place stays ("0.00100000")."""
    number = to_decimal(value)
    if number is None:
        return empty
    rounded = number.quantize(PLACES[places], rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    text = f"{rounded:,f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def krw_text(value: object, *, empty: str = EMPTY) -> str:
    """A KRW amount (balances, totals, profit): `10000.00000000` → "10,000", `-9.49493827` → "-9.49"."""
    return format_grouped(value, 2, empty=empty)


def price_text(value: object, *, empty: str = EMPTY) -> str:
    """A price (or any other exact number): up to 8 decimals, trailing zeros dropped."""
    return format_grouped(value, 8, empty=empty)


def volume_text(value: object, *, empty: str = EMPTY) -> str:
    """A coin volume with all 8 decimals: `0.001` → "0.00100000"."""
    return format_grouped(value, 8, strip=False, empty=empty)


def local_time_text(value: datetime | None, *, empty: str = EMPTY) -> str:
    """A stored (UTC) time in the configured zone, 24-hour, with seconds."""
    if value is None:
        return empty
    return timezone.localtime(value).strftime(TIME_FORMAT)


# Which Decimal columns are coin volumes (all 8 decimals) and which are shown exactly like prices (up to 8 decimals,
# trailing zeros dropped: prices, scores, and fees, which are a few won with decimals); every other Decimal column
# is a KRW amount (separators, at most two decimals).
VOLUME_FIELDS = frozenset({"volume", "executed_volume", "coin_volume", "remaining_volume"})
PRICE_FIELDS = frozenset(
    {
        *("price", "open", "high", "low", "close", "avg_buy_price", "peak_price", "last_price", "start_price"),
        *("score", "duration_sec", "fee", "fees", "paid_fee", "reserved_fee", "remaining_fee"),
    }
)


def number_text(field: str, value: object, *, empty: str = EMPTY) -> str:
    """The Decimal `value` of column `field` (its last name, e.g. "order__price" → "price"), formatted for its kind."""
    name = field.rsplit("__", 1)[-1]
    if name in VOLUME_FIELDS:
        return volume_text(value, empty=empty)
    if name in PRICE_FIELDS:
        return price_text(value, empty=empty)
    return krw_text(value, empty=empty)
