"""Reads of the account's round trips, its open position and its profit over time (docs/CONSOLE.md, "Trades").

The fills of the current account and market are paired by `trading.round_trips` and kept in memory, extended
with only the new fills on each read (one indexed read, plus a look at the newest row read before, which
notices rows rolled back: then everything is read again). Every panel, the API and /metrics take the open
position's unrealized profit from `position_current`, so they all show the same figure.
"""

from __future__ import annotations

import decimal
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from exchange.rules import DEFAULT_FEE_RATE
from trading.accounts import account_current
from trading.models import MONEY, BalanceSnapshot, EngineState, Fill
from trading.round_trips import (
    RoundTrip,
    TradeFill,
    TripBook,
    TripStats,
    mark_to_market,
    pair_round_trips,
    reason_code,
    trip_stats,
)

T = TypeVar("T")
ZERO = Decimal("0")
HUNDRED = Decimal("100")
PERIODS = ("day", "week", "month")
PERIODS_SHOWN = {"day": 14, "week": 8, "month": 6}
"""How many of the latest periods the dashboard's Performance panel lists."""


# ---------------------------------------------------------------------------------------------------
# The fills, paired, kept in memory
# ---------------------------------------------------------------------------------------------------
_FILL_FIELDS = ("id", "ts", "order__side", "price", "volume", "funds", "fee", "order__reason", "order__signal__meta__reason")
_DECIMAL_COLUMNS = (3, 4, 5, 6)
_SQLITE_DIGITS = decimal.Context(prec=15)
_MONEY_CONTEXT = decimal.Context(prec=MONEY["max_digits"])
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY["decimal_places"])


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row read through SQLite's cursor, converted exactly as Django's SQLite backend converts it (15 significant
    digits, then the field's 8 decimals; UTC datetimes), so the figures equal the engine's, which reads through the ORM."""
    values = list(row)
    ts = values[1] if isinstance(values[1], datetime) else parse_datetime(values[1])
    values[1] = ts if ts is None or ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    for index in _DECIMAL_COLUMNS:
        if values[index] is not None:
            values[index] = _SQLITE_DIGITS.create_decimal_from_float(values[index]).quantize(
                _MONEY_QUANTUM, context=_MONEY_CONTEXT
            )
    return tuple(values)


def _fetch(queryset: QuerySet[Fill, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows of a `values_list` of fills (fields `_FILL_FIELDS` first). On SQLite they are read through the cursor
    and converted here: Django's per-value converters cost seconds on a history of 200,000 fills. Other databases'
    drivers convert on their own, so the ORM is as fast."""
    if connections[queryset.db].vendor != "sqlite":
        return list(queryset)
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return [_sqlite_row(row) for row in cursor.fetchall()]


@dataclass
class _Scan:
    """How far the fills table was read: the highest id seen (any account) and that row's trade id."""

    max_id: int = 0
    trade_id: str = ""


class _TripCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, str], tuple[_Scan, TripBook]] = {}

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()

    def peek(self, market: str, account: str) -> TripBook | None:
        """The book as last read in this process, without reading new fills (None: not read yet)."""
        with self.lock:
            cached = self.entries.get((market, account))
            return cached[1] if cached is not None else None

    def book(self, market: str, account: str) -> TripBook:
        with self.lock:
            cached = self.entries.get((market, account))
            fields = (*_FILL_FIELDS, "trade_id", "order__market", "order__account")
            rows = None
            if cached is not None:
                scan = cached[0]
                # One read (the book is read on every poll of several panels): the newest row read before and every
                # row after it. Fills are never changed or deleted (orders protect them); a rolled-back transaction
                # can still take the newest rows away and give their ids to others, which the first row shows:
                # everything is then read again.
                rows = _fetch(Fill.objects.filter(id__gte=scan.max_id).order_by("id").values_list(*fields))
                if scan.max_id:
                    intact = bool(rows) and rows[0][0] == scan.max_id and rows[0][9] == scan.trade_id
                    rows = rows[1:] if intact else None
            if cached is None or rows is None:
                cached = self._read_all(market, account)
                rows = _fetch(Fill.objects.filter(id__gt=cached[0].max_id).order_by("id").values_list(*fields))
            scan, book = cached
            if rows:
                book = self._fold(book, scan, market, account, rows)
            self.entries[(market, account)] = (scan, book)
            return book

    @staticmethod
    def _read_all(market: str, account: str) -> tuple[_Scan, TripBook]:
        """Every fill of the account and market, paired (the first read in a process, or after rows were rolled back)."""
        newest = Fill.objects.order_by("-id").values_list("id", "trade_id").first()
        if newest is None:
            return _Scan(), TripBook()
        scan = _Scan(max_id=newest[0], trade_id=newest[1])
        return scan, pair_round_trips(_all_fills(market, account, max_id=scan.max_id))

    def _fold(self, book: TripBook, scan: _Scan, market: str, account: str, rows: list[Any]) -> TripBook:
        scan.max_id, scan.trade_id = rows[-1][0], rows[-1][9]
        fresh = sorted((_trade_fill(row) for row in rows if row[10] == market and row[11] == account), key=lambda f: (f.ts, f.id))
        if not fresh:
            return book
        if book.last_key is not None and (fresh[0].ts, fresh[0].id) < book.last_key:
            # A fill dated before the last one folded in (an adopted order's late report): pair everything again.
            return pair_round_trips(_all_fills(market, account))
        # Folded into a fork: a request still reading the previous book (another thread) never sees it change.
        return pair_round_trips(fresh, book.fork())


@functools.lru_cache(maxsize=4096)
def _reason(reason: str, signal_reason: object) -> str:
    """An order's reason code; orders repeat a few reasons, so each is worked out once."""
    code = signal_reason.strip('"') if isinstance(signal_reason, str) else None
    return reason_code(reason, code)


def _trade_fill(row: Any) -> TradeFill:
    pk, ts, side, price, volume, funds, fee, reason, signal_reason = row[:9]
    return TradeFill(
        id=pk, ts=ts, side=side, price=price, volume=volume, funds=funds, fee=fee, reason=_reason(reason or "", signal_reason)
    )


def _all_fills(market: str, account: str, *, max_id: int | None = None) -> list[TradeFill]:
    fills = Fill.objects.filter(order__market=market, order__account=account)
    if max_id is not None:
        fills = fills.filter(id__lte=max_id)
    return [_trade_fill(row) for row in _fetch(fills.order_by("ts", "id").values_list(*_FILL_FIELDS))]


_trip_cache = _TripCache()


def trades_cache_clear() -> None:
    _trip_cache.clear()


def trip_book() -> TripBook:
    """The current account's round trips in the traded market."""
    return _trip_cache.book(settings.TRADING_MARKET, account_current())


def trades_version() -> str:
    """Changes whenever a fill is recorded (what the trades and performance panels show follows from the fills)."""
    return str(Fill.objects.order_by("-id").values_list("id", flat=True).first() or 0)


# ---------------------------------------------------------------------------------------------------
# The open position: the one definition of unrealized profit
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenPosition:
    entry_at: datetime
    entry_reason: str
    volume: Decimal
    cost: Decimal
    """What the position cost, buy fees included (average cost, trading/round_trips.py)."""
    avg_entry_price: Decimal
    """The volume-weighted price of the trip's buys (fees not included)."""
    price: Decimal | None
    """The price it is valued at: the engine's last price, else the latest balance snapshot's (None: none known)."""
    fee_rate: Decimal
    unrealized: Decimal | None
    """Net of the fee a sell would pay now; None without a price."""

    @property
    def unrealized_pct(self) -> Decimal | None:
        if self.unrealized is None or self.cost <= 0:
            return None
        return self.unrealized * HUNDRED / self.cost

    def holding(self, now: datetime) -> timedelta:
        return now - self.entry_at


def sell_fee_rate(state: EngineState) -> Decimal:
    """The sell fee the engine values the position with (it publishes the exchange's rate), else Upbit's default."""
    raw = state.metrics.get("sell_fee_rate") if isinstance(state.metrics, dict) else None
    try:
        rate = Decimal(str(raw)) if raw is not None else DEFAULT_FEE_RATE
    except ArithmeticError:
        return DEFAULT_FEE_RATE
    return rate if rate.is_finite() and 0 <= rate < 1 else DEFAULT_FEE_RATE


def valuation_price(state: EngineState) -> Decimal | None:
    if state.last_price:
        last: Decimal = state.last_price
        return last
    price: Decimal | None = (
        BalanceSnapshot.objects.filter(account=account_current()).order_by("-ts", "-id").values_list("price", flat=True).first()
    )
    return price or None


def position_current(
    state: EngineState | None = None, *, price: Decimal | None = None, book: TripBook | None = None
) -> OpenPosition | None:
    """The open position the fills account for, valued at `price` (default: `valuation_price`); None when flat."""
    book = book or trip_book()
    trip = book.open
    if trip is None or book.volume <= 0:
        return None
    state = state or EngineState.load()
    price = price if price is not None else valuation_price(state)
    fee_rate = sell_fee_rate(state)
    return OpenPosition(
        entry_at=trip.entry_at,
        entry_reason=trip.entry_reason,
        volume=book.volume,
        cost=book.cost,
        avg_entry_price=trip.avg_entry_price,
        price=price,
        fee_rate=fee_rate,
        unrealized=mark_to_market(book.volume, book.cost, price, fee_rate) if price else None,
    )


def position_metrics_text(state: EngineState | None = None) -> str:
    """/metrics lines for the open position (the same figure as the dashboard and the API)."""
    position = position_current(state)
    unrealized = position.unrealized if position is not None else ZERO
    lines = [
        "# HELP autocoin_position_unrealized_krw The open position's unrealized profit in KRW, net of the sell fee.",
        "# TYPE autocoin_position_unrealized_krw gauge",
    ]
    if unrealized is not None:
        lines.append(f"autocoin_position_unrealized_krw {format(unrealized.quantize(Decimal('0.00000001')).normalize(), 'f')}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# Closed round trips
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TradesPage:
    trades: list[RoundTrip]
    """Newest first (by exit time)."""
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def trades_page(*, page: int, page_size: int, book: TripBook | None = None) -> TradesPage:
    closed = (book or trip_book()).closed
    end = len(closed) - (page - 1) * page_size
    start = max(0, end - page_size)
    shown = list(reversed(closed[start:end])) if end > 0 else []
    return TradesPage(trades=shown, page=page, page_size=page_size, total=len(closed))


# ---------------------------------------------------------------------------------------------------
# Profit over time: closed round trips, counted on the Seoul (TIME_ZONE) day, week or month they closed
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeriodProfit:
    start: date
    """The period's first day: the day itself, the Monday of the week, the 1st of the month."""
    stats: TripStats
    cumulative: Decimal
    """The profit of every trip closed up to the period's end."""


CUMULATIVE_MAX_POINTS = 300
"""The cumulative profit chart (and the API's series) is thinned to this many points, the first and last kept."""


def _memo(book: TripBook, key: str, compute: Callable[[], T]) -> T:
    """A figure derived from `book`, computed once per book (a new fill makes a new book)."""
    if key not in book.memo:
        book.memo[key] = compute()
    value: T = book.memo[key]
    return value


def period_start(moment: datetime, period: str) -> date:
    day = moment.astimezone(ZoneInfo(settings.TIME_ZONE)).date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _periods(closed: list[RoundTrip], period: str) -> list[PeriodProfit]:
    groups: dict[date, list[RoundTrip]] = {}
    for trip in closed:
        groups.setdefault(period_start(trip.closed_at, period), []).append(trip)
    rows, running = [], ZERO
    for start, trips in sorted(groups.items()):
        stats = trip_stats(trips)
        running += stats.profit
        rows.append(PeriodProfit(start=start, stats=stats, cumulative=running))
    rows.reverse()
    return rows


def profit_by_period(period: str, *, limit: int | None = None, book: TripBook | None = None) -> list[PeriodProfit]:
    """Closed trips' profit per period, newest first; periods without a closed trip are left out."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    book = book or trip_book()
    rows = _memo(book, f"periods:{period}", lambda: _periods(book.closed, period))
    return rows[:limit] if limit is not None else rows


def _cumulative(closed: list[RoundTrip], max_points: int) -> list[tuple[datetime, Decimal]]:
    if not closed:
        return []
    points = [(closed[0].entry_at, ZERO)]
    total = ZERO
    for trip in closed:
        total += trip.profit
        points.append((trip.closed_at, total))
    if len(points) > max_points:
        step = (len(points) - 1) / (max_points - 1)
        points = [points[round(index * step)] for index in range(max_points)]
    return points


def cumulative_profit(book: TripBook | None = None) -> list[tuple[datetime, Decimal]]:
    """(time, cumulative profit of closed trips): 0 at the first entry, then the total at each trip's exit,
    thinned to CUMULATIVE_MAX_POINTS evenly spaced points."""
    book = book or trip_book()
    return _memo(book, "cumulative", lambda: _cumulative(book.closed, CUMULATIVE_MAX_POINTS))


def performance_overview(book: TripBook | None = None) -> TripStats:
    book = book or trip_book()
    return _memo(book, "stats", lambda: trip_stats(book.closed))


def profit_chart_min_span(book: TripBook | None = None) -> Decimal:
    """The cumulative profit chart's smallest y-range: 2% of the largest trip's cost, at least 1,000 KRW, so a
    few won never fill the chart's height."""
    book = book or trip_book()
    largest = _memo(book, "largest_cost", lambda: max((trip.entry_cost for trip in book.closed), default=ZERO))
    return max(Decimal("1000"), largest * Decimal("0.02"))


# ---------------------------------------------------------------------------------------------------
# The dashboard's panels (registered in trading/views.py's PANELS)
# ---------------------------------------------------------------------------------------------------
TRADES_SHOWN = 20


def trades_panel_context(state: EngineState | None) -> dict[str, Any]:
    book = trip_book()
    return {
        "trades": trades_page(page=1, page_size=TRADES_SHOWN, book=book),
        "position": position_current(state, book=book),
        "now": timezone.now(),
    }


def trades_panel_version(state: EngineState | None) -> str:
    state = state or EngineState.load()
    # An open trip's holding time is shown in minutes, so the panel changes each minute while one is open, and
    # only then: a flat book's panel stays as it is across the minute. The book as last read is enough to tell
    # (a new fill changes the version anyway, and the render that follows reads the book again).
    book = _trip_cache.peek(settings.TRADING_MARKET, account_current())
    if book is None:
        book = trip_book()  # the first look in this process: the render reads it next anyway
    minute = timezone.now().replace(second=0, microsecond=0).isoformat() if book.open is not None else ""
    return f"{trades_version()}|{state.last_price}|{sell_fee_rate(state)}|{minute}"


def performance_panel_context(state: EngineState | None) -> dict[str, Any]:
    book = trip_book()
    return {
        "performance": {
            "stats": performance_overview(book),
            "periods": {period: profit_by_period(period, limit=PERIODS_SHOWN[period], book=book) for period in PERIODS},
            # A tuple kept with the book: the chart drawn from it is reused until a new fill (trading/charts.py).
            "cumulative": _memo(book, "cumulative_shown", lambda: tuple(cumulative_profit(book))),
            "min_span": profit_chart_min_span(book),
        }
    }


def performance_panel_version(state: EngineState | None) -> str:
    return f"{trades_version()}|{timezone.localdate()}"
