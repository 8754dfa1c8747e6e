"""The JSON API's round trips, open position and profit over time (docs/API.md).

Built on trading/api.py's envelope, authentication and parameter checks; the figures come from
trading/trade_selectors.py, the same reads as the dashboard's Trades and Performance panels.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from trading import trade_selectors
from trading.api import ApiError, _limit, _query, api_view, shown
from trading.round_trips import RoundTrip, TripStats
from trading.trade_selectors import OpenPosition

PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 50, 500
PAGE_MAX = 100_000
PERIOD_LIMIT_DEFAULT, PERIOD_LIMIT_MAX = 30, 1000
Q8 = Decimal("0.00000001")
Q2 = Decimal("0.01")


def _q(value: Decimal, quantum: Decimal = Q8) -> Decimal:
    return value.quantize(quantum)


def _seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


def trade_data(trip: RoundTrip) -> dict[str, Any]:
    exit_price = trip.avg_exit_price
    return {
        "entry_at": trip.entry_at,
        "exit_at": trip.exit_at,
        "entry_reason": trip.entry_reason,
        "exit_reason": trip.exit_reason,
        "avg_entry_price": _q(trip.avg_entry_price),
        "avg_exit_price": None if exit_price is None else _q(exit_price),
        "volume": _q(trip.buy_volume),
        "sold_volume": _q(trip.sell_volume),
        "entry_cost": _q(trip.entry_cost),
        "buy_fees": _q(trip.buy_fees),
        "sell_fees": _q(trip.sell_fees),
        "fees": _q(trip.fees),
        "profit_krw": _q(trip.profit),
        "profit_pct": _q(trip.profit_pct, Q2),
        "holding_sec": _seconds(trip.entry_at, trip.closed_at),
        "fills": len(trip.fill_ids),
    }


def position_data(position: OpenPosition | None) -> dict[str, Any] | None:
    if position is None:
        return None
    pct = position.unrealized_pct
    return {
        "entry_at": position.entry_at,
        "entry_reason": position.entry_reason,
        "volume": _q(position.volume),
        "avg_entry_price": _q(position.avg_entry_price),
        "cost": _q(position.cost),
        "price": position.price,
        "sell_fee_rate": position.fee_rate,
        "unrealized_krw": None if position.unrealized is None else _q(position.unrealized),
        "unrealized_pct": None if pct is None else _q(pct, Q2),
        "holding_sec": _seconds(position.entry_at, timezone.now()),
    }


def stats_data(stats: TripStats) -> dict[str, Any]:
    return {
        "trades": stats.trades,
        "wins": stats.wins,
        "losses": stats.losses,
        "win_rate": None if stats.win_rate is None else _q(stats.win_rate, Decimal("0.0001")),
        "profit_krw": _q(stats.profit),
        "gross_profit_krw": _q(stats.gross_profit),
        "gross_loss_krw": _q(stats.gross_loss),
        "profit_factor": None if stats.profit_factor is None else _q(stats.profit_factor, Decimal("0.0001")),
        "fees": _q(stats.fees),
        "max_drawdown_krw": _q(stats.max_drawdown),
    }


@api_view("GET")
def trades(request: HttpRequest, actor: str) -> tuple[Any, int]:
    query = _query(request, ("page", "page_size"))
    page = _limit(query.get("page"), name="page", default=1, maximum=PAGE_MAX)
    page_size = _limit(query.get("page_size"), name="page_size", default=PAGE_SIZE_DEFAULT, maximum=PAGE_SIZE_MAX)
    book = trade_selectors.trip_book()
    found = trade_selectors.trades_page(page=page, page_size=page_size, book=book)
    return {
        "market": settings.TRADING_MARKET,
        "page": found.page,
        "page_size": found.page_size,
        "total": found.total,
        "pages": found.pages,
        "has_next": found.has_next,
        "items": [trade_data(trip) for trip in found.trades],
        "open_position": position_data(trade_selectors.position_current(book=book)),
    }, 200


@api_view("GET")
def performance(request: HttpRequest, actor: str) -> tuple[Any, int]:
    query = _query(request, ("period", "limit"))
    period = query.get("period", "day")
    if period not in trade_selectors.PERIODS:
        accepted = ", ".join(trade_selectors.PERIODS)
        raise ApiError(400, "invalid_parameter", f"period={shown(period)} is not a period; use one of {accepted}", field="period")
    limit = _limit(query.get("limit"), name="limit", default=PERIOD_LIMIT_DEFAULT, maximum=PERIOD_LIMIT_MAX)
    book = trade_selectors.trip_book()
    periods = trade_selectors.profit_by_period(period, limit=limit, book=book)
    return {
        "market": settings.TRADING_MARKET,
        "period": period,
        "time_zone": settings.TIME_ZONE,
        "summary": stats_data(trade_selectors.performance_overview(book)),
        "periods": [
            {"start": row.start, **stats_data(row.stats), "cumulative_profit_krw": _q(row.cumulative)} for row in periods
        ],
        "cumulative": [{"ts": ts, "profit_krw": _q(total)} for ts, total in trade_selectors.cumulative_profit(book)],
    }, 200
