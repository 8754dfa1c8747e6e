"""Reads for the dashboard, the API and the admin."""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.db.models import Exists, Prefetch, QuerySet, Subquery
from django.utils import timezone

from exchange.redact import mask_configured_secrets
from trading import trade_selectors
from trading.accounts import account_current, account_label, venue_current
from trading.liveness import owner_is_dead
from trading.models import (
    BalanceSnapshot,
    EngineEvent,
    EngineState,
    Fill,
    ManualOrderRequest,
    Order,
    PnlDaily,
    Signal,
    StrategyConfig,
)
from trading.order_selectors import orders_recent_api_rows as orders_recent_api_rows  # reads of the order list
from trading.order_selectors import orders_recent_rows as orders_recent_rows
from trading.pause_selectors import entries_pause_status
from trading.transitions import allowed_actions as allowed_actions  # a read: which buttons work now


def engine_state_get() -> EngineState:
    return EngineState.load()


def heartbeat_age_sec(state: EngineState) -> float | None:
    if state.heartbeat_at is None:
        return None
    return round((timezone.now() - state.heartbeat_at).total_seconds(), 3)


def engine_online(state: EngineState) -> bool:
    """An engine process holds the claim, its heartbeat is fresh, and it still exists (a process killed on
    this machine counts as offline at once, before its last heartbeat goes stale)."""
    age = heartbeat_age_sec(state)
    fresh = bool(state.owner) and age is not None and age <= settings.ENGINE_STALE_AFTER_SEC
    return fresh and not owner_is_dead(state.owner)


def engine_health() -> dict[str, Any]:
    state = engine_state_get()
    return {
        "state": state.state,
        "engine_online": engine_online(state),
        "heartbeat_age_sec": heartbeat_age_sec(state),
        "kill_switch": state.kill_switch,
    }


# ---------------------------------------------------------------------------------------------------
# Dashboard and API reads. Each panel has a cheap version key (indexed max(id) / updated_at reads) so
# an unchanged poll is answered without rendering.
# ---------------------------------------------------------------------------------------------------
ZERO = Decimal("0")
EQUITY_CHART_MAX_POINTS = 300


def masked(text: str) -> str:
    """Free text with every configured secret masked: rows are masked when written, this guards older rows."""
    if not text:
        return text
    return mask_configured_secrets(text)


def mode_current() -> str:
    return "paper" if settings.PAPER_MODE else "live"


def account_current_label() -> str:
    """The account the dashboard's ledger belongs to, as a person reads it (never the key itself)."""
    return account_label(account_current())


def heartbeat_age_bucket(state: EngineState) -> tuple[str, int] | None:
    """The heartbeat's age, coarse enough that the dashboard does not change every second.

    ("under", 5 | 10 | 60), ("min", n), ("h", n), ("d", n), or None when there never was one.
    """
    age = heartbeat_age_sec(state)
    if age is None:
        return None
    seconds = max(0, int(age))
    for limit in (5, 10, 60):
        if seconds < limit:
            return ("under", limit)
    if seconds < 3600:
        return ("min", seconds // 60)
    if seconds < 172800:
        return ("h", seconds // 3600)
    return ("d", seconds // 86400)


def engine_status(state: EngineState | None = None) -> dict[str, Any]:
    """Everything a person or a script needs to know about the engine right now."""
    state = state or engine_state_get()
    online = engine_online(state)
    return {
        "state": state.state,
        "state_since": state.state_since,
        "state_reason": masked(state.state_reason),
        "state_changed_by": state.state_changed_by,
        "mode": mode_current(),
        "venue": venue_current(),
        "account": account_current(),
        "account_label": account_current_label(),
        "engine_online": online,
        "heartbeat_at": state.heartbeat_at,
        "heartbeat_age_sec": heartbeat_age_sec(state),
        "owner": state.owner,
        "last_error": masked(state.last_error),
        "consecutive_failures": state.consecutive_failures,
        "max_consecutive_failures": settings.MAX_CONSECUTIVE_FAILURES,
        "iteration": state.iteration,
        "last_cycle_at": state.last_cycle_at,
        "market": settings.TRADING_MARKET,
        "last_price": state.last_price,
        "kill_switch": state.kill_switch,
        "kill_switch_reason": masked(state.kill_switch_reason),
        "kill_switch_at": state.kill_switch_at,
        "allowed_actions": allowed_actions(state.state, engine_online=online),
        **entries_pause_status(state),
    }


def signal_latest() -> Signal | None:
    return Signal.objects.filter(market=settings.TRADING_MARKET).order_by("-ts", "-id").first()


def signals_recent(*, limit: int) -> list[Signal]:
    return list(Signal.objects.order_by("-ts", "-id")[:limit])


def orders_recent(*, limit: int) -> list[Order]:
    """The latest orders with their fills (two queries however many orders)."""
    fills = Prefetch("fills", queryset=Fill.objects.order_by("ts", "id"))
    orders = list(Order.objects.order_by("-ts", "-id").defer("raw").prefetch_related(fills)[:limit])
    for order in orders:
        order.error_message = masked(order.error_message)
    return orders


def events_recent(*, limit: int) -> list[EngineEvent]:
    events = list(EngineEvent.objects.order_by("-ts", "-id")[:limit])
    for event in events:
        event.message = masked(event.message)
    return events


def manual_requests_recent(*, limit: int) -> list[ManualOrderRequest]:
    return list(ManualOrderRequest.objects.order_by("-ts", "-id")[:limit])


@dataclass(frozen=True)
class BalanceView:
    """The latest balance snapshot, evaluated at the engine's last price when it has one."""

    ts: datetime
    mode: str
    account: str
    krw: Decimal
    coin_symbol: str
    coin_volume: Decimal
    avg_buy_price: Decimal
    price: Decimal
    coin_value: Decimal
    total_krw: Decimal
    unrealized: Decimal | None
    """The open position's unrealized profit (trade_selectors.position_current); None without one."""

    @property
    def position_ratio(self) -> Decimal:
        return self.coin_value / self.total_krw if self.total_krw > 0 else ZERO


def balance_current(state: EngineState | None = None, *, with_unrealized: bool = True) -> BalanceView | None:
    """The newest snapshot valued at the last price; `with_unrealized=False` leaves out the open position's
    unrealized profit (None), which needs the round trips (the risk panel shows only the position ratio)."""
    snapshot = BalanceSnapshot.objects.filter(account=account_current()).order_by("-ts", "-id").first()
    if snapshot is None:
        return None
    state = state or engine_state_get()
    price = state.last_price if state.last_price else snapshot.price
    coin_value = snapshot.coin_volume * price
    position = trade_selectors.position_current(state, price=price) if with_unrealized else None
    unrealized = position.unrealized if position is not None else None
    return BalanceView(
        ts=snapshot.ts,
        mode=snapshot.mode,
        account=snapshot.account,
        krw=snapshot.krw,
        coin_symbol=snapshot.coin_symbol,
        coin_volume=snapshot.coin_volume,
        avg_buy_price=snapshot.avg_buy_price,
        price=price,
        coin_value=coin_value,
        total_krw=snapshot.krw + coin_value,
        unrealized=unrealized,
    )


def pnl_today() -> PnlDaily | None:
    return PnlDaily.objects.filter(date=timezone.localdate(), market=settings.TRADING_MARKET, account=account_current()).first()


def pnl_daily_list(*, days: int) -> list[PnlDaily]:
    since = timezone.localdate() - timedelta(days=days - 1)
    return list(
        PnlDaily.objects.filter(market=settings.TRADING_MARKET, account=account_current(), date__gte=since).order_by("-date")
    )


@dataclass(frozen=True)
class LimitUse:
    name: str
    limit: Decimal | int
    used: Decimal | int | None
    unit: str

    @property
    def percent(self) -> int:
        if self.used is None or not self.limit:
            return 0
        return max(0, min(100, int(Decimal(self.used) * 100 / Decimal(self.limit))))


@dataclass(frozen=True)
class OrderLimitReads:
    """What the risk rules read from today's orders: the largest filled order and each side's last order."""

    largest_today_krw: Decimal
    last_ts: dict[str, datetime | None]


def order_limit_reads() -> OrderLimitReads:
    """The largest order filled today and the time of the last order on each side, in one query.

    Each is its own indexed "newest first, one row" read, asked as a scalar subquery of the engine's
    single state row, so the panel pays one round trip instead of three.
    """
    orders = Order.objects.filter(market=settings.TRADING_MARKET, account=account_current())
    placed = orders.exclude(status__in=(Order.Status.REJECTED, Order.Status.ABSENT)).order_by("-ts").values("ts")
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    largest = orders.filter(ts__gte=start, status=Order.Status.DONE).order_by("-executed_funds").values("executed_funds")
    row = (
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK)
        .values(
            largest=Subquery(largest[:1]),
            last_buy=Subquery(placed.filter(side="buy")[:1]),
            last_sell=Subquery(placed.filter(side="sell")[:1]),
        )
        .first()
    )
    if row is None:  # no state row yet: the reads stand alone
        EngineState.load()
        return order_limit_reads()
    return OrderLimitReads(largest_today_krw=row["largest"] or ZERO, last_ts={"buy": row["last_buy"], "sell": row["last_sell"]})


def cooldown_remaining_sec(reads: OrderLimitReads | None = None) -> dict[str, int]:
    """Seconds until a new order on each side passes the cooldown rule (0 = ready)."""
    reads = reads or order_limit_reads()
    now = timezone.now()
    remaining = {}
    for side in ("buy", "sell"):
        last = reads.last_ts[side]
        left = 0
        if last is not None and settings.ORDER_COOLDOWN_SEC:
            left = max(0, settings.ORDER_COOLDOWN_SEC - int((now - last).total_seconds()))
        remaining[side] = left
    return remaining


def daily_loss(pnl: PnlDaily | None) -> Decimal:
    """Today's loss in KRW (realized plus unrealized), 0 when the day is flat or up."""
    if pnl is None:
        return ZERO
    loss: Decimal = max(ZERO, -(pnl.realized + pnl.unrealized))
    return loss


def risk_overview(state: EngineState, balance: BalanceView | None, pnl: PnlDaily | None) -> dict[str, Any]:
    ratio = balance.position_ratio if balance else ZERO
    orders = order_limit_reads()
    return {
        "limits": [
            LimitUse("max_order", settings.MAX_ORDER_KRW, orders.largest_today_krw, "KRW"),
            LimitUse("daily_loss", settings.MAX_DAILY_LOSS_KRW, daily_loss(pnl), "KRW"),
            LimitUse("position_ratio", settings.MAX_POSITION_RATIO, ratio.quantize(Decimal("0.0001")), "ratio"),
            LimitUse("failures", settings.MAX_CONSECUTIVE_FAILURES, state.consecutive_failures, "count"),
        ],
        "cooldown_sec": settings.ORDER_COOLDOWN_SEC,
        "cooldown_remaining": cooldown_remaining_sec(orders),
        "kill_switch": state.kill_switch,
        "kill_switch_reason": masked(state.kill_switch_reason),
        "kill_switch_at": state.kill_switch_at,
        # Set while a position held over midnight has no midnight value: the engine refuses new entries.
        "day_start_unknown_since": pnl.start_unknown_since if pnl else None,
    }


Row = tuple[int, datetime, Decimal]


class _EquityCache:
    """The balance snapshots of each chart window, kept in memory and extended with only the new rows.

    Snapshots are append-only, so after the first read a poll costs one indexed read of rows with a
    higher id, plus a count and a look at the newest row that detect deleted or rewritten rows (then
    the window is read again). The thinned series of a window is kept until its rows change, as the
    same tuple, so the chart drawn from it is reused too (trading/charts.py).
    """

    MAX_ENTRIES = 4

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, datetime], tuple[list[Row], Row | None]] = {}
        self.series: dict[tuple[str, datetime, int], tuple[list[Row], tuple[tuple[datetime, Decimal], ...]]] = {}

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.series.clear()

    def rows_since(self, account: str, since: datetime) -> list[Row]:
        window = BalanceSnapshot.objects.filter(account=account, ts__gte=since)
        key = (account, since)
        with self.lock:
            cached = self.entries.pop(key, None)
            if cached:
                rows, newest = self._refresh(window, *cached)
            else:
                rows = self._read(window)
                newest = max(rows, key=lambda row: row[0]) if rows else None
            self.entries[key] = (rows, newest)
            while len(self.entries) > self.MAX_ENTRIES:
                del self.entries[next(iter(self.entries))]
        return rows

    def series_since(
        self, account: str, since: datetime, max_points: int, *, read_since: datetime | None = None
    ) -> tuple[tuple[datetime, Decimal], ...]:
        """The thinned series of the snapshots since `since`; with `read_since` (earlier), cut from that window's rows,
        which are not read again."""
        if read_since is None:
            rows = self.rows_since(account, since)
        else:
            with self.lock:
                cached = self.entries.get((account, read_since))
            rows = cached[0] if cached is not None else self.rows_since(account, read_since)
        key = (account, since, max_points)
        with self.lock:
            kept = self.series.get(key)
            if kept is not None and kept[0] is rows:
                return kept[1]
        shown = rows if read_since is None else rows[bisect_left(rows, since, key=lambda row: row[1]) :]
        if len(shown) > max_points:
            step = (len(shown) - 1) / (max_points - 1)
            shown = [shown[round(index * step)] for index in range(max_points)]
        series = tuple((ts, total) for _id, ts, total in shown)
        with self.lock:
            self.series[key] = (rows, series)
            while len(self.series) > self.MAX_ENTRIES:
                del self.series[next(iter(self.series))]
        return series

    def _refresh(self, window: Any, rows: list[Row], newest: Row | None) -> tuple[list[Row], Row | None]:
        newest_id = newest[0] if newest else 0
        intact = window.filter(id__lte=newest_id).count() == len(rows) and (
            newest is None or window.filter(pk=newest_id, ts=newest[1], total_krw=newest[2]).exists()
        )
        if not intact:
            rows = self._read(window)
            return rows, max(rows, key=lambda row: row[0]) if rows else None
        # By id, through the primary key: ordered by time the database would walk the whole window's index.
        fresh = list(window.filter(id__gt=newest_id).order_by("id").values_list("id", "ts", "total_krw"))
        fresh.sort(key=lambda row: (row[1], row[0]))
        if not fresh:
            return rows, newest
        merged = rows + fresh
        if rows and fresh[0][1] < rows[-1][1]:
            merged.sort(key=lambda row: (row[1], row[0]))
        return merged, max(fresh, key=lambda row: row[0]) if newest is None else max(newest, *fresh, key=lambda row: row[0])

    @staticmethod
    def _read(queryset: Any) -> list[Row]:
        return list(queryset.order_by("ts", "id").values_list("id", "ts", "total_krw"))


_equity_cache = _EquityCache()


def equity_cache_clear() -> None:
    _equity_cache.clear()


def equity_series(*, since: datetime, max_points: int = EQUITY_CHART_MAX_POINTS) -> Sequence[tuple[datetime, Decimal]]:
    """(ts, total KRW) of the balance snapshots since `since`, thinned to at most `max_points` evenly spaced rows.

    The first and the last snapshot are always kept, so the chart ends at the current equity. The same tuple
    is returned until a snapshot arrives in the window.
    """
    return _equity_cache.series_since(account_current(), since, max_points)


def equity_series_windows(
    *sinces: datetime, max_points: int = EQUITY_CHART_MAX_POINTS
) -> list[Sequence[tuple[datetime, Decimal]]]:
    """`equity_series` of each of `sinces`, reading only the widest window (one refresh for the whole chart panel)."""
    account, earliest = account_current(), min(sinces)
    _equity_cache.rows_since(account, earliest)
    return [_equity_cache.series_since(account, since, max_points, read_since=earliest) for since in sinces]


def _latest_id(model: type[models.Model]) -> int:
    latest: int | None = model._default_manager.order_by("-id").values_list("id", flat=True).first()
    return latest or 0


def _orders_top_version() -> str:
    # Order rows are updated in place (status, executed volume) by UPDATE statements that leave
    # `updated_at` alone, so the version is built from the shown fields of the newest rows.
    top = Order.objects.order_by("-ts", "-id").values_list("id", "status", "executed_volume", "paid_fee")[:20]
    return f"{list(top)}|{_latest_id(Fill)}"


def panel_version(name: str, state: EngineState | None = None) -> str:
    """A short string that changes whenever what panel `name` shows changes (and rarely otherwise).

    Built from the shown values themselves, never from `updated_at`: the services change rows with
    conditional UPDATEs, which do not touch auto_now fields.
    """
    if name not in ("engine", "market", "balance", "risk", "manualgate"):
        return _table_version(name)
    state = state or engine_state_get()
    if name == "manualgate":
        return f"{state.state}|{engine_online(state)}"
    if name == "engine":
        return "|".join(
            str(value)
            for value in (
                state.state,
                state.state_since.isoformat(),
                state.state_changed_by,
                state.state_reason,
                state.last_error,
                state.kill_switch,
                state.kill_switch_reason,
                state.owner,
                state.iteration,
                engine_online(state),
                heartbeat_age_bucket(state),
                settings.PAPER_MODE,
                account_current(),
                sorted(entries_pause_status(state).items()),
            )
        )
    if name == "market":
        return f"{state.last_price}|{_latest_id(Signal)}"
    if name == "risk":
        # What the risk panel shows costs as little to read as any key would: the shown values are the key.
        return repr(risk_overview(state, balance_current(state, with_unrealized=False), pnl_today()))
    return f"{state.last_price}|{_latest_id(BalanceSnapshot)}"  # balance


def _table_version(name: str) -> str:
    """The version of a panel that shows table rows only (no engine state)."""
    if name == "pnl":
        pnl = pnl_today()
        shown = (pnl.realized, pnl.unrealized, pnl.max_drawdown, pnl.fees, pnl.trades, pnl.start_unknown_since) if pnl else None
        return f"{timezone.localdate()}|{shown}"
    if name == "chart":
        return f"{timezone.localdate()}|{_latest_id(BalanceSnapshot)}"
    if name == "signals":
        return str(_latest_id(Signal))
    if name == "orders":
        return _orders_top_version()
    if name == "manual":
        return str(list(ManualOrderRequest.objects.order_by("-ts", "-id").values_list("id", "status", "processed_at")[:5]))
    if name == "log":
        return str(_latest_id(EngineEvent))
    raise KeyError(name)


@dataclass(frozen=True)
class CycleInputs:
    """What the engine reads at the start of every cycle, in one query."""

    state: EngineState
    manual_pending: bool
    """A manual order request for this market waits to be carried out (or to be settled from its order)."""
    strategy_params: dict[str, Any] | None
    """The stored parameters of the strategy (None: none stored, the defaults apply)."""
    orders_open: bool = True
    """An order of the account is not final yet (NEW, WAIT or UNKNOWN); True when no account was asked about."""


def _cycle_inputs_query(*, market: str, strategy: str, account: str | None) -> QuerySet[EngineState]:
    waiting = (ManualOrderRequest.Status.PENDING, ManualOrderRequest.Status.PROCESSING)
    pending = ManualOrderRequest.objects.filter(status__in=waiting, market=market)
    params = StrategyConfig.objects.filter(strategy=strategy).values("params")[:1]
    annotations: dict[str, Any] = {
        "manual_pending": Exists(pending),
        "stored_params": Subquery(params, output_field=models.JSONField()),
    }
    if account is not None:
        # The same literal condition as the partial index on open orders, so the lookup stays on that small index.
        annotations["orders_open"] = Exists(Order.objects.filter(status__literal_in=Order.OPEN_STATUSES, account=account))
    return EngineState.objects.filter(pk=EngineState.SINGLETON_PK).annotate(**annotations)


_CYCLE_INPUTS_SQL: dict[tuple[str, str, str, str, str | None], tuple[str, tuple[Any, ...]]] = {}


def engine_cycle_inputs(*, market: str, strategy: str, account: str | None = None) -> CycleInputs:
    """The engine's state row, whether a manual request waits, the strategy's stored parameters and, with
    `account`, whether any of its orders is still open (so the usual cycle, with none open, reads no order).

    The query's SQL is built once per process and database: the ORM spends longer composing its three
    subqueries than the database spends answering them, and the engine asks the same question every cycle."""
    key = (connection.alias, connection.vendor, market, strategy, account)
    compiled = _CYCLE_INPUTS_SQL.get(key)
    if compiled is None:
        sql, sql_params = _cycle_inputs_query(market=market, strategy=strategy, account=account).query.sql_with_params()
        compiled = _CYCLE_INPUTS_SQL[key] = (sql, tuple(sql_params))
    row = next(iter(EngineState.objects.raw(compiled[0], compiled[1])), None)
    if row is None:
        EngineState.load()
        return engine_cycle_inputs(market=market, strategy=strategy, account=account)
    stored = getattr(row, "stored_params", None)
    if isinstance(stored, str | bytes):
        stored = json.loads(stored)  # a raw read leaves the subquery's JSON as the database sent it
    return CycleInputs(
        state=row,
        manual_pending=bool(getattr(row, "manual_pending", False)),
        strategy_params=stored,
        orders_open=bool(getattr(row, "orders_open", True)),
    )
