"""Reads of the account's round trips, its open position and its profit over time (docs/CONSOLE.md, "Trades").

The fills of the current account and market are paired by `trading.round_trips` and kept in memory, extended
with only the new fills on each read (one indexed read, plus a count and a look at the newest row that detect
rows rewritten or rolled back: then everything is read again). Every panel, the API and /metrics take the open
position's unrealized profit from `position_current`, so they all show the same figure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from exchange.rules import DEFAULT_FEE_RATE
from trading.accounts import account_current
from trading.models import BalanceSnapshot, EngineState, Fill
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

    def book(self, market: str, account: str) -> TripBook:
        with self.lock:
            cached = self.entries.get((market, account))
            if cached is None or not self._intact(cached[0]):
                cached = (_Scan(), TripBook())
            scan, book = cached
            fields = (*_FILL_FIELDS, "trade_id", "order__market", "order__account")
            rows = list(Fill.objects.filter(id__gt=scan.max_id).order_by("id").values_list(*fields))
            if rows:
                book = self._fold(book, scan, market, account, rows)
            self.entries[(market, account)] = (scan, book)
            return book

    @staticmethod
    def _intact(scan: _Scan) -> bool:
        """Fills are never changed or deleted (orders protect them); a rolled-back transaction can still take the
        newest rows away and give their ids to others, which this notices: everything is then read again."""
        return scan.max_id == 0 or Fill.objects.filter(pk=scan.max_id, trade_id=scan.trade_id).exists()

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


def _trade_fill(row: Any) -> TradeFill:
    pk, ts, side, price, volume, funds, fee, reason, signal_reason = row[:9]
    return TradeFill(
        id=pk,
        ts=ts,
        side=side,
        price=price,
        volume=volume,
        funds=funds,
        fee=fee,
        reason=reason_code(reason or "", signal_reason if isinstance(signal_reason, str) else None),
    )


def _all_fills(market: str, account: str) -> list[TradeFill]:
    rows = Fill.objects.filter(order__market=market, order__account=account).order_by("ts", "id").values_list(*_FILL_FIELDS)
    return [_trade_fill(row) for row in rows]


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


def position_current(state: EngineState | None = None, *, price: Decimal | None = None) -> OpenPosition | None:
    """The open position the fills account for, valued at `price` (default: `valuation_price`); None when flat."""
    book = trip_book()
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


def trades_page(*, page: int, page_size: int) -> TradesPage:
    closed = trip_book().closed
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


def profit_by_period(period: str, *, limit: int | None = None) -> list[PeriodProfit]:
    """Closed trips' profit per period, newest first; periods without a closed trip are left out."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    book = trip_book()
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


def cumulative_profit() -> list[tuple[datetime, Decimal]]:
    """(time, cumulative profit of closed trips): 0 at the first entry, then the total at each trip's exit,
    thinned to CUMULATIVE_MAX_POINTS evenly spaced points."""
    book = trip_book()
    return _memo(book, "cumulative", lambda: _cumulative(book.closed, CUMULATIVE_MAX_POINTS))


def performance_overview() -> TripStats:
    book = trip_book()
    return _memo(book, "stats", lambda: trip_stats(book.closed))


def profit_chart_min_span() -> Decimal:
    """The cumulative profit chart's smallest y-range: 2% of the largest trip's cost, at least 1,000 KRW, so a
    few won never fill the chart's height."""
    book = trip_book()
    largest = _memo(book, "largest_cost", lambda: max((trip.entry_cost for trip in book.closed), default=ZERO))
    return max(Decimal("1000"), largest * Decimal("0.02"))


# ---------------------------------------------------------------------------------------------------
# The dashboard's panels (registered in trading/views.py's PANELS)
# ---------------------------------------------------------------------------------------------------
TRADES_SHOWN = 20


def trades_panel_context(state: EngineState | None) -> dict[str, Any]:
    return {
        "trades": trades_page(page=1, page_size=TRADES_SHOWN),
        "position": position_current(state),
        "now": timezone.now(),
    }


def trades_panel_version(state: EngineState | None) -> str:
    state = state or EngineState.load()
    # The holding time of the open position is shown in minutes.
    minute = timezone.now().replace(second=0, microsecond=0).isoformat()
    return f"{trades_version()}|{state.last_price}|{sell_fee_rate(state)}|{minute}"


def performance_panel_context(state: EngineState | None) -> dict[str, Any]:
    return {
        "performance": {
            "stats": performance_overview(),
            "periods": {period: profit_by_period(period, limit=PERIODS_SHOWN[period]) for period in PERIODS},
            "cumulative": cumulative_profit(),
            "min_span": profit_chart_min_span(),
        }
    }


def performance_panel_version(state: EngineState | None) -> str:
    return f"{trades_version()}|{timezone.localdate()}"
