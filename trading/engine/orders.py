"""Orders that survive crashes: write-ahead intent, submit, reconcile by identifier.

The rules, in the order they protect the money:

1. The `Order` row (status NEW, a fresh `identifier`) is committed before the exchange is called.
2. No database transaction is held while the exchange is called.
3. When the answer is lost (timeout, dropped connection, 5xx after sending) the order is UNKNOWN, and
   no new order is sent on that market until it is found by identifier (and adopted with its fills)
   or has been looked up `ABSENT_AFTER_LOOKUPS` times, in different cycles, without being found, and
   is at least `absent_min_age()` old.
4. Fills are keyed by the exchange's trade id, so polling an order twice never counts a fill twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import DecimalField, F, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from exchange.base import Exchange
from exchange.exceptions import (
    ExchangeError,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    RetryLater,
    StopTrading,
)
from exchange.rules import DEFAULT_FEE_RATE, Rounding
from exchange.ticks import TickSizes
from exchange.types import OrderInfo, OrderRequest, SideName
from trading import event_texts, events, services
from trading.engine.claim import Claim, ClaimLost
from trading.models import Fill, Order, Signal

logger = logging.getLogger("autocoin.engine.orders")

ABSENT_AFTER_LOOKUPS = 3
"""Not-found lookups (one per cycle) before an order whose answer was lost is declared never placed."""
ABSENT_MIN_AGE_SEC = 60
"""...and the order must be at least this old (or 3 × UPBIT_READ_TIMEOUT_SEC, if longer): a request held
up on its way (a slow proxy, an overloaded exchange) can still be placed after the client gave up on it,
and an order declared ABSENT too early would later fill unseen."""


def absent_min_age() -> timedelta:
    read_timeout = float(getattr(settings, "UPBIT_READ_TIMEOUT_SEC", 10) or 10)
    return timedelta(seconds=max(ABSENT_MIN_AGE_SEC, 3 * read_timeout))


Kind = events.Kind


@dataclass
class SubmitResult:
    order: Order
    placed: bool
    """The exchange accepted the order (it may still be open)."""
    fills_pending: bool = False
    """The exchange reports executed volume whose trades are not recorded yet (read by a later reconcile)."""
    new_fills: list[Fill] = field(default_factory=list)
    rejected: OrderRejected | None = None
    error: ExchangeError | None = None


@dataclass
class ReconcileResult:
    checked: int = 0
    resolved: int = 0
    still_unknown: int = 0
    new_fills: list[Fill] = field(default_factory=list)
    fills_pending: bool = False


def blocking_orders(market: str, account: str | None = None) -> list[Order]:
    """Orders on `market` that are not final: while any exist, no new order is sent there.

    An UNKNOWN or NEW order's outcome must be known first; a WAIT order (Upbit's `wait` or `watch`) still holds
    funds that the balances already show as locked, and a second order beside it would be sized on a position
    that is about to change (two buys that each fit the position cap alone can exceed it together)."""
    return open_orders(market, account)


def open_order_rows() -> QuerySet[Order]:
    """Every lookup among open orders starts here: the filter repeats the partial index's condition word for
    word, values written out, which is what lets SQLite and PostgreSQL use that small index whatever their
    statistics say."""
    return Order.objects.filter(status__literal_in=Order.OPEN_STATUSES)


def blocking_text(order: Order) -> tuple[str, dict[str, Any]]:
    """Why `order` holds up a new order on its market: the English sentence and its `meta["text"]`."""
    if order.status == Order.Status.WAIT:
        code, params = "open_order", {"identifier": order.identifier, "market": order.market}
    else:
        code, params = "unsettled_order", {"identifier": order.identifier, "status": order.status}
    return event_texts.english(code, **params), event_texts.meta(code, **params)


def blocking_reason(order: Order) -> str:
    return blocking_text(order)[0]


def open_orders(market: str | None = None, account: str | None = None) -> list[Order]:
    """Non-final orders (NEW, WAIT, UNKNOWN). Only orders of the exchange's own account can be looked up there."""
    qs = open_order_rows()
    if market:
        qs = qs.filter(market=market)
    if account:
        qs = qs.filter(account=account)
    return sorted(qs.order_by(), key=lambda order: (order.ts, order.id))


FILL_CHECK_WINDOW = timedelta(days=2)


def missing_fills(order: Order, recorded_fills: list[Fill] | None = None) -> bool:
    """The exchange reports more executed volume than the fills recorded for this order. `recorded_fills`: every
    fill the order has, when the caller knows them (an order just placed has only those this process recorded)."""
    if recorded_fills is not None:
        recorded = sum((fill.volume for fill in recorded_fills), Decimal("0"))
    else:
        recorded = order.fills.aggregate(total=Sum("volume"))["total"] or Decimal("0")
    return bool(order.executed_volume > recorded)


def orders_missing_fills(account: str | None = None) -> list[Order]:
    """Recent final orders whose fills are not all recorded yet (their trades are still to be read)."""
    qs = (
        Order.objects.filter(status__in=(Order.Status.DONE, Order.Status.CANCEL), ts__gte=timezone.now() - FILL_CHECK_WINDOW)
        .annotate(recorded=Coalesce(Sum("fills__volume"), Value(Decimal("0")), output_field=DecimalField()))
        .filter(executed_volume__gt=F("recorded"))
    )
    if account:
        qs = qs.filter(account=account)
    return list(qs.order_by("ts", "id"))


def _fee_rate(order: Order, fee_rates: dict[str, Decimal] | None) -> Decimal:
    if fee_rates and order.side in fee_rates:
        return fee_rates[order.side]
    return DEFAULT_FEE_RATE


def order_submit(
    exchange: Exchange,
    *,
    market: str,
    side: SideName,
    ord_type: str,
    account: str,
    price: Decimal | None = None,
    volume: Decimal | None = None,
    reason: str = "",
    signal: Signal | None = None,
    fee_rates: dict[str, Decimal] | None = None,
    on_fill: Callable[[Fill], None] | None = None,
    on_intent: Callable[[Order], None] | None = None,
    tick_sizes: TickSizes | None = None,
    now: datetime | None = None,
    claim: Claim | None = None,
    blockers_checked: bool = False,
) -> SubmitResult:
    """Place one order crash-safely. Raises StopTrading (after recording the order) and re-raises
    anything unexpected (after marking the order UNKNOWN, so it is looked up and never re-sent).

    A limit price is snapped onto the pair's grid by the tick the exchange states (`tick_sizes`, read again
    once a day by `now`, the exchange's time), so the price recorded is the price sent.
    With `claim`, the intent row is written only while that claim still holds; otherwise ClaimLost
    is raised (after an event) and nothing is written or sent. `blockers_checked`: the caller has just found no
    open order on `market` (the gate does, before sizing), so it is not read again."""
    blockers = [] if blockers_checked else blocking_orders(market, account)
    if blockers:
        raise RuntimeError(f"refusing to place an order on {market}: {blocking_reason(blockers[0])}")
    tick_size = None
    if ord_type == Order.OrdType.LIMIT and price is not None and tick_sizes is not None:
        rounding: Rounding = "down" if side == "buy" else "up"
        price, tick_size = tick_sizes.round(market, price, rounding, now=now or timezone.now())
    try:
        order = services.order_intent_create(
            market=market,
            side=side,
            ord_type=ord_type,
            account=account,
            price=price,
            volume=volume,
            reason=reason,
            signal=signal,
            fence=claim.fence() if claim is not None else None,
            then=lambda order: _intent_recorded(order, reason=reason, signal=signal, on_intent=on_intent),
        )
    except ClaimLost as lost:
        params = {"market": market, "owner": lost.owner or "none"}
        events.engine_error(
            message=event_texts.english("claim_lost", **params),
            meta={
                "owner": lost.claim.owner,
                "claim_generation": lost.claim.generation,
                "now_owned_by": lost.owner,
                "now_claim_generation": lost.generation,
                "text": event_texts.meta("claim_lost", **params),
            },
            level=events.Level.WARNING,
        )
        raise
    request = OrderRequest(
        market=market,
        side=side,
        ord_type=ord_type,  # type: ignore[arg-type]
        identifier=order.identifier,
        price=price,
        volume=volume,
        tick_size=tick_size,
    )
    try:
        info = exchange.place_order(request)
    except OrderRejected as error:
        if tick_sizes is not None and error.name.startswith("invalid_price_"):
            tick_sizes.forget(market)  # the exchange's grid moved: read it again before the next order
        services.order_mark(order=order, status=Order.Status.REJECTED, error_name=error.name, error_message=str(error))
        events.order_rejected(
            order=order,
            message=f"Order rejected by the exchange: {events.order_described(order)}: {error}",
            extra={"error_name": error.name, "error": str(error)},
        )
        return SubmitResult(order=order, placed=False, rejected=error)
    except RateLimited as error:
        # Every attempt was answered 429: Upbit's quota check refused it before the order was processed, so
        # nothing was placed and the intent ends here (ABSENT). A later order is a new intent with a new identifier.
        services.order_mark(
            order=order, status=Order.Status.ABSENT, error_name=error.name or "rate_limited", error_message=str(error)
        )
        described = events.order_described(order)
        events.order_rejected(
            order=order,
            message=event_texts.english("order_rate_limited", order=described),
            extra={
                "error": str(error),
                "error_name": "rate_limited",
                "text": event_texts.meta("order_rate_limited", order=described),
            },
        )
        return SubmitResult(order=order, placed=False, error=error)
    except StopTrading as error:
        services.order_mark(order=order, status=Order.Status.REJECTED, error_name=error.name, error_message=str(error))
        events.order_rejected(
            order=order,
            level=events.Level.ERROR,
            message=f"Order refused: {error}",
            extra={"error_name": error.name},
        )
        raise
    except (OutcomeUnknown, RetryLater) as error:
        # The request may have reached the exchange: look it up by identifier before anything else.
        services.order_mark(order=order, status=Order.Status.UNKNOWN, error_name=error.name, error_message=str(error))
        events.order_unknown(order=order, error=error)
        return SubmitResult(order=order, placed=False, error=error)
    except BaseException as error:
        services.order_mark(order=order, status=Order.Status.UNKNOWN, error_name=type(error).__name__, error_message=str(error))
        raise

    # The order is new: its only fills are the ones recorded here, so they need not be read back to be counted.
    # Its event (with one per fill) is written in the transaction of the fills it reports.
    fee_rate = _fee_rate(order, fee_rates)

    def placed_when_complete(new_fills: list[Fill]) -> None:
        if not missing_fills(order, new_fills):
            events.order_placed(order=order, fills=new_fills)  # one INSERT for the order's event and its fills'

    fills = services.order_apply_info(order=order, info=info, fee_rate=fee_rate, recorded=frozenset(), then=placed_when_complete)
    fills_pending = missing_fills(order, fills)
    if fills_pending:
        # Upbit's answer to a new order carries no trades: read them now (or in the next reconcile).
        first = list(fills)
        try:
            info = exchange.get_order(uuid=info.uuid)
        except ExchangeError as error:
            logger.info("trades of order %s not read yet (%s); the next reconcile reads them", order.identifier, error)
            events.order_placed(order=order, fills=fills)
        else:
            fills += services.order_apply_info(
                order=order,
                info=info,
                fee_rate=fee_rate,
                totals_as_fill=True,
                recorded=frozenset(fill.trade_id for fill in first),
                then=lambda new_fills: events.order_placed(order=order, fills=[*first, *new_fills]),
            )
            fills_pending = missing_fills(order, fills)
    for fill in fills:
        if on_fill is not None:
            on_fill(fill)
    return SubmitResult(order=order, placed=True, new_fills=fills, fills_pending=fills_pending)


def _intent_recorded(order: Order, *, reason: str, signal: Signal | None, on_intent: Callable[[Order], None] | None) -> None:
    """In the intent's own transaction: its event, and whatever must hold before anything is sent (a manual
    request's link to its order)."""
    events.order_intent(order=order, reason=reason, decision=signal.meta if signal is not None else None)
    if on_intent is not None:
        on_intent(order)


def _announce_fills(fills: list[Fill], on_fill: Callable[[Fill], None] | None) -> None:
    for fill in fills:
        events.fill_recorded(fill=fill)
        if on_fill is not None:
            on_fill(fill)


def order_reconcile_one(
    exchange: Exchange,
    order: Order,
    *,
    fee_rates: dict[str, Decimal] | None = None,
    on_fill: Callable[[Fill], None] | None = None,
    absent_after: int = ABSENT_AFTER_LOOKUPS,
) -> list[Fill]:
    """Ask the exchange about one non-final order and apply the answer. Exchange errors other than
    OrderNotFound propagate (the caller counts them and retries next cycle)."""
    before = order.status
    try:
        if order.exchange_uuid:
            info: OrderInfo = exchange.get_order(uuid=order.exchange_uuid)
        else:
            info = exchange.get_order(identifier=order.identifier)
    except OrderNotFound:
        old_enough = timezone.now() - order.ts >= absent_min_age()
        became_absent = services.order_lookup_missed(order=order, absent_after=absent_after, may_become_absent=old_enough)
        if became_absent:
            events.order_reconciled(
                order=order,
                level=events.Level.WARNING,
                message=(
                    f"Order {order.identifier} was not found on the exchange after {order.lookup_attempts} lookups "
                    f"over {int((timezone.now() - order.ts).total_seconds())} s: it never reached the exchange "
                    f"(was {before}); {order.market} is free for new orders"
                ),
                extra={"from": before, "lookups": order.lookup_attempts},
            )
        else:
            logger.info(
                "order %s not found yet (%s lookups; ABSENT after %s lookups and %s s)",
                order.identifier,
                order.lookup_attempts,
                absent_after,
                int(absent_min_age().total_seconds()),
            )
        return []
    fills = services.order_apply_info(order=order, info=info, fee_rate=_fee_rate(order, fee_rates), totals_as_fill=True)
    if order.status != before or fills:
        adopted = before in (Order.Status.NEW, Order.Status.UNKNOWN)
        verb = "adopted from the exchange" if adopted else "updated"
        events.order_reconciled(
            order=order,
            message=f"Order {order.identifier} {verb}: {before} → {order.status}, {len(fills)} new fill(s)",
            extra={"from": before, "new_fills": len(fills), "executed_volume": order.executed_volume},
        )
    _announce_fills(fills, on_fill)
    return fills


def orders_reconcile(
    exchange: Exchange,
    *,
    market: str | None = None,
    account: str | None = None,
    fee_rates: dict[str, Decimal] | None = None,
    on_fill: Callable[[Fill], None] | None = None,
    check_fills: bool = True,
    known_open: list[Order] | None = None,
) -> ReconcileResult:
    """Reconcile every non-final order (NEW, WAIT, UNKNOWN), oldest first; with `check_fills`, also
    recent final orders whose fills are not all recorded (`result.fills_pending` says if any remain).
    `known_open`: the non-final orders, when the caller has just read them."""
    result = ReconcileResult()
    pending = open_orders(market, account) if known_open is None else known_open
    candidates = pending + (orders_missing_fills(account) if check_fills else [])
    for order in candidates:
        result.checked += 1
        fills = order_reconcile_one(exchange, order, fee_rates=fee_rates, on_fill=on_fill)
        result.new_fills.extend(fills)
        if order.is_final:
            result.resolved += 1
        elif order.status in (Order.Status.NEW, Order.Status.UNKNOWN):
            result.still_unknown += 1
        if order.is_final and order.executed_volume > 0 and missing_fills(order):
            result.fills_pending = True
    return result


def orders_reconcile_reported(
    exchange: Exchange,
    *,
    account: str,
    uuids: set[str],
    fee_rates: dict[str, Decimal] | None = None,
    on_fill: Callable[[Fill], None] | None = None,
) -> list[Fill]:
    """Look up at once the orders the market stream reported a trade on (this account's, still open or with
    fills to record); the stream's own figures are never booked. Unknown uuids (another program's orders) are skipped."""
    fills: list[Fill] = []
    orders = Order.objects.filter(account=account, exchange_uuid__in=sorted(uuids)).order_by("ts", "id")
    for order in orders:
        if order.is_final and not missing_fills(order):
            continue  # REST already told the whole story: nothing to book twice
        fills.extend(order_reconcile_one(exchange, order, fee_rates=fee_rates, on_fill=on_fill))
    return fills


def orders_cancel_requested(
    exchange: Exchange,
    *,
    account: str,
    fee_rates: dict[str, Decimal] | None = None,
    on_fill: Callable[[Fill], None] | None = None,
) -> list[str]:
    """Carry out the cancellations a person asked for (admin action): open (WAIT) orders are cancelled on
    the exchange and reconciled. NEW and UNKNOWN orders are reconciled first by the normal pass; once
    found open they are cancelled here in a later cycle. Returns problems, if any."""
    problems: list[str] = []
    requested = open_order_rows().filter(status=Order.Status.WAIT, account=account, cancel_requested_at__isnull=False)
    for order in requested.order_by("ts"):
        try:
            if order.exchange_uuid:
                exchange.cancel_order(uuid=order.exchange_uuid)
            else:
                exchange.cancel_order(identifier=order.identifier)
        except OrderNotFound:
            pass  # already final on the exchange: the reconcile below records how it ended
        except ExchangeError as error:
            problems.append(f"{order.identifier}: {error}")
            continue
        try:
            order_reconcile_one(exchange, order, fee_rates=fee_rates, on_fill=on_fill)
        except ExchangeError as error:
            problems.append(f"{order.identifier}: {error}")
        events.order_cancelled(
            order=order,
            message=f"Order {order.identifier} cancelled as requested by {order.cancel_requested_by}: now {order.status}",
            extra={"requested_by": order.cancel_requested_by},
        )
    return problems


def orders_cancel_open(exchange: Exchange, *, account: str, market: str | None = None, reason: str) -> list[str]:
    """Cancel every order of `account` that is open on the exchange (kill-switch). Returns problems, if any."""
    problems: list[str] = []
    qs = open_order_rows().filter(status=Order.Status.WAIT, account=account)
    if market:
        qs = qs.filter(market=market)
    for order in qs.order_by("ts"):
        try:
            if order.exchange_uuid:
                exchange.cancel_order(uuid=order.exchange_uuid)
            else:
                exchange.cancel_order(identifier=order.identifier)
        except OrderNotFound:
            pass
        except ExchangeError as error:
            problems.append(f"{order.identifier}: {error}")
            continue
        try:
            order_reconcile_one(exchange, order)
        except ExchangeError as error:
            problems.append(f"{order.identifier}: {error}")
        events.order_cancelled(
            order=order,
            level=events.Level.WARNING,
            message=f"Order {order.identifier} cancelled: {reason}",
        )
    return problems
