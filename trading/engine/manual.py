"""Manual orders queued from the web: carried out by the engine, oldest first, through the same gate and order path."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from exchange.rules import quantize_volume
from trading import events, manual_requests, services
from trading.engine import risk
from trading.engine.claim import ClaimLost
from trading.engine.gate import GateInput, OrderPath
from trading.engine.outcome import CycleOutcome
from trading.models import ManualOrderRequest, Order, Signal

Status = ManualOrderRequest.Status

MANUAL_BATCH = 20
"""Manual requests read per cycle (oldest first): a burst of thousands is worked through in order without
one cycle reading them all."""


def manual_intent(request: ManualOrderRequest) -> risk.OrderIntent:
    """The order a person asked for, before the gate sizes or blocks it."""
    who = f"manual ({request.requested_by})"
    if request.kind == ManualOrderRequest.Kind.BUY:
        reason = f"{who}: buy {events.krw_text(request.krw)} KRW"
        return risk.OrderIntent(side="buy", source=risk.IntentSource.MANUAL, krw_total=request.krw, reason=reason)
    volume = quantize_volume(request.volume) if request.kind == ManualOrderRequest.Kind.SELL and request.volume else None
    what = f"sell {events.volume_text(volume)}" if volume is not None else "sell everything"
    return risk.OrderIntent(side="sell", source=risk.IntentSource.MANUAL, volume=volume, reason=f"{who}: {what}")


class ManualQueue:
    """Works through pending manual requests; at most one order per cycle."""

    def __init__(self, path: OrderPath) -> None:
        self.path = path

    def _waiting(self) -> list[ManualOrderRequest]:
        """PENDING requests, and PROCESSING ones this engine claimed but did not finish (an unknown order, or a
        crash between the claim and the order)."""
        return list(
            ManualOrderRequest.objects.filter(status__in=(Status.PENDING, Status.PROCESSING), market=self.path.market).order_by(
                "ts", "id"
            )[:MANUAL_BATCH]
        )

    def expire(self, now: datetime) -> int:
        """Expire what waited longer than MANUAL_ORDER_TTL_SEC by `now` (the engine's clock), without trading:
        a cycle that may not trade, and the engine's start, still end old requests."""
        expired = 0
        for request in self._waiting():
            if request.order_id is None and manual_requests.manual_order_request_is_expired(request, now=now):
                expired += manual_requests.manual_order_request_expire(request=request, now=now, actor="engine", claimed=True)
        return expired

    def process(self, moment: GateInput, outcome: CycleOutcome) -> bool:
        """Carry out waiting requests until one order is placed; True when one was. A request older than
        MANUAL_ORDER_TTL_SEC by the exchange's time expires instead; one cancelled since it was read is skipped."""
        for request in self._waiting():
            if request.order_id is not None:
                self._settle_interrupted(request)
                continue
            if manual_requests.manual_order_request_is_expired(request, now=moment.now):
                manual_requests.manual_order_request_expire(request=request, now=moment.now, actor="engine", claimed=True)
                continue
            self.path.check_claim()  # a process that lost the engine leaves the request to the one that owns it
            if request.status == Status.PENDING and not manual_requests.manual_order_request_claim(request=request):
                continue  # cancelled (or expired by the web) after this batch was read: the person's call wins
            intent = manual_intent(request)
            signal = services.signal_record(
                market=self.path.market,
                action="BUY" if intent.side == "buy" else "SELL",
                score=Decimal("0"),
                source=Signal.MANUAL_SOURCE,
                explanation=f"Manual {request.get_kind_display().lower()} requested by {request.requested_by}",
                meta={"request_id": request.pk, "requested_by": request.requested_by, "price": moment.price},
            )
            try:
                result = self.path.execute(intent, moment, outcome, signal=signal, manual=request)
            except ClaimLost:
                manual_requests.manual_order_request_release(request=request)
                raise
            if result is not None and result.placed:
                return True  # the rest wait for fresh balances in the next cycle
        return False

    @staticmethod
    def _settle_interrupted(request: ManualOrderRequest) -> None:
        """A request whose order was written before a crash: settle it from that order, never resend."""
        order = request.order
        if order is None or order.status in (Order.Status.NEW, Order.Status.UNKNOWN):
            return  # still being looked up; the market is blocked meanwhile
        placed = order.status in (Order.Status.WAIT, Order.Status.DONE, Order.Status.CANCEL)
        text = f"order {order.identifier}: {order.status}"
        if order.status == Order.Status.ABSENT:
            text += " (it never reached the exchange; queue the request again if you still want it)"
        services.manual_order_request_finish(request=request, done=placed, result=text, order=order)
