"""Manual order requests: queueing, cancelling, expiring, and the engine's claim on one.

A request moves PENDING → PROCESSING (the engine took it) → DONE or REJECTED; while PENDING a person may
cancel it (CANCELLED), and one not carried out within MANUAL_ORDER_TTL_SEC expires (EXPIRED). Every move out
of PENDING is a conditional UPDATE, so a cancel racing the engine's pick-up has exactly one winner.

Requests are accepted only while the engine is RUNNING and its process online: one queued while nothing
trades would fire much later, in a market nobody is watching any more.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from trading import events, selectors
from trading.errors import InvalidInput, ManualOrderRefused, ManualRequestNotCancellable
from trading.manual_limits import manual_buy_limits, manual_buy_refusal
from trading.models import EngineState, ManualOrderRequest

Status = ManualOrderRequest.Status


# ---------------------------------------------------------------------------------------------------
# Queueing
# ---------------------------------------------------------------------------------------------------
def manual_order_refusal(state: EngineState | None = None) -> ManualOrderRefused | None:
    """Why a manual order would be refused now (the engine not RUNNING, or its process offline), or None."""
    state = state or selectors.engine_state_get()
    if state.state != EngineState.State.RUNNING:
        return ManualOrderRefused("engine_not_running", current=state.state)
    if not selectors.engine_online(state):
        return ManualOrderRefused("engine_offline", current=state.state)
    return None


def _positive_decimal(field: str, value: object) -> Decimal:
    if isinstance(value, float):
        raise InvalidInput(field, "float_amount")
    text = str(value).strip()
    # Decimal() also reads "1_000" and full-width digits, which a person never means as an amount.
    if "_" in text or not text.isascii():
        raise InvalidInput(field, "not_a_number", value=value)
    try:
        number = Decimal(text.replace(",", ""))
    except (InvalidOperation, ValueError):
        raise InvalidInput(field, "not_a_number", value=value) from None
    if not number.is_finite() or number <= 0:
        raise InvalidInput(field, "not_positive", value=value)
    if number.as_tuple().exponent < -8:  # type: ignore[operator]
        raise InvalidInput(field, "too_many_decimals", value=value)
    if number >= Decimal("1e15"):
        raise InvalidInput(field, "too_large", value=value)
    return number


def _sells_all(kind: str, volume: object) -> bool:
    return kind == ManualOrderRequest.Kind.SELL and isinstance(volume, str) and volume.strip().lower() == "all"


def manual_order_request_create(
    *, kind: str, actor: str, krw: object = None, volume: object = None, market: str | None = None
) -> ManualOrderRequest:
    """Queue a manual order for the engine's next cycle. Validates the amounts; the risk gate runs later.

    Refused (ManualOrderRefused) unless the engine is RUNNING and online. A sell of volume "all" (any case) is
    a sell-all; the amount an order does not use is ignored."""
    market = market or settings.TRADING_MARKET
    if kind not in ManualOrderRequest.Kind.values:
        raise InvalidInput("kind", "unknown_kind", value=kind, choices=", ".join(ManualOrderRequest.Kind.values))
    if _sells_all(kind, volume):
        kind = ManualOrderRequest.Kind.SELL_ALL
    krw_amount = volume_amount = None
    if kind == ManualOrderRequest.Kind.BUY:
        if krw is None:
            raise InvalidInput("krw", "buy_needs_krw")
        krw_amount = _positive_decimal("krw", krw)
        too_much = manual_buy_refusal(krw_amount, manual_buy_limits())
        if too_much is not None:
            raise too_much
    elif kind == ManualOrderRequest.Kind.SELL:
        if volume is None:
            raise InvalidInput("volume", "sell_needs_volume")
        volume_amount = _positive_decimal("volume", volume)
    refusal = manual_order_refusal()
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        request = ManualOrderRequest.objects.create(
            market=market, kind=kind, krw=krw_amount, volume=volume_amount, requested_by=actor[:150]
        )
        events.manual_order_queued(request=request, actor=actor)
    return request


# ---------------------------------------------------------------------------------------------------
# Cancelling and expiring: conditional UPDATEs out of PENDING
# ---------------------------------------------------------------------------------------------------
def manual_order_request_cancel(*, request_id: int, actor: str) -> ManualOrderRequest:
    """PENDING → CANCELLED for a person; refused (ManualRequestNotCancellable) when the request is unknown or
    no longer pending (the engine claimed it first, or it ended). Writes an event naming `actor`."""
    now = timezone.now()
    with transaction.atomic():
        cancelled = ManualOrderRequest.objects.filter(pk=request_id, status=Status.PENDING).update(
            status=Status.CANCELLED, result=f"cancelled by {actor}"[:5000], processed_at=now
        )
        request = ManualOrderRequest.objects.filter(pk=request_id).first()
        if request is None:
            raise ManualRequestNotCancellable("unknown_request", request_id=request_id)
        if not cancelled:
            raise ManualRequestNotCancellable("not_pending", request_id=request_id, status=request.status)
        events.manual_order_cancelled(request=request, actor=actor)
    return request


def manual_order_requests_expire(*, now: datetime, actor: str, market: str | None = None) -> list[ManualOrderRequest]:
    """Expire every PENDING request queued more than MANUAL_ORDER_TTL_SEC before `now` (the engine passes the
    exchange's time, the web its own clock); one event each. Returns the requests this call expired."""
    ttl = settings.MANUAL_ORDER_TTL_SEC
    stale = ManualOrderRequest.objects.filter(status=Status.PENDING, ts__lt=now - timedelta(seconds=ttl))
    if market is not None:
        stale = stale.filter(market=market)
    expired = []
    for request in stale.order_by("ts", "id")[:500]:
        if manual_order_request_expire(request=request, now=now, actor=actor):
            expired.append(request)
    return expired


def manual_order_request_expire(*, request: ManualOrderRequest, now: datetime, actor: str, claimed: bool = False) -> bool:
    """PENDING → EXPIRED for one request that waited too long; False when it had left PENDING meanwhile.

    `claimed` (the engine only) also expires a PROCESSING request that has no order: one the engine claimed
    but never sent, e.g. it stopped in between. The web never touches those: the engine may be sending it."""
    age = (now - request.ts).total_seconds()
    ttl = settings.MANUAL_ORDER_TTL_SEC
    text = f"expired: not carried out within {ttl} s (waited {age:.0f} s); never sent"
    waiting = Q(status=Status.PENDING) | Q(status=Status.PROCESSING, order__isnull=True) if claimed else Q(status=Status.PENDING)
    with transaction.atomic():
        if not ManualOrderRequest.objects.filter(waiting, pk=request.pk).update(
            status=Status.EXPIRED, result=text, processed_at=timezone.now()
        ):
            return False
        request.status, request.result = Status.EXPIRED, text
        events.manual_order_expired(request=request, actor=actor, age_sec=age, ttl_sec=ttl)
    return True


def manual_order_request_is_expired(request: ManualOrderRequest, *, now: datetime) -> bool:
    return (now - request.ts).total_seconds() > settings.MANUAL_ORDER_TTL_SEC


def manual_order_request_claim(*, request: ManualOrderRequest) -> bool:
    """PENDING → PROCESSING for the engine, before it gates and sends the order: a cancel after this point is
    refused, and a cancel before it leaves nothing to claim (False)."""
    claimed = ManualOrderRequest.objects.filter(pk=request.pk, status=Status.PENDING).update(status=Status.PROCESSING)
    if claimed:
        request.status = Status.PROCESSING
    return bool(claimed)


def manual_order_request_release(*, request: ManualOrderRequest) -> bool:
    """PROCESSING → PENDING for a request whose order was never written (the engine lost its claim first): the
    engine that owns the market now carries it out, and until then the person can still cancel it."""
    released = ManualOrderRequest.objects.filter(pk=request.pk, status=Status.PROCESSING, order__isnull=True).update(
        status=Status.PENDING
    )
    if released:
        request.status = Status.PENDING
    return bool(released)
