"""Writes. Every change of the engine's state goes through one function per transition here.

Each transition is a conditional UPDATE on the singleton row: it happens exactly once however many
callers race, or it reports why not. The web process and the engine process both call these.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exchange.types import OrderInfo, Trade
from trading import events
from trading.models import DecisionState, EngineState, Fill, ManualOrderRequest, Order, Signal, StrategyConfig

State = EngineState.State


class TransitionNotAllowed(Exception):
    """The requested transition is not allowed from the engine's current state; the text says why."""

    def __init__(self, message: str, *, current: str) -> None:
        super().__init__(message)
        self.message = message
        self.current = current


class InvalidInput(ValueError):
    """Bad input from a person or a script; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Transition:
    old: str
    new: str
    at: datetime


_ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "start": (State.IDLE,),
    "stop": (State.RUNNING,),
    "stop_complete": (State.STOPPING,),
    "fail": (State.RUNNING, State.STOPPING),
    "reset": (State.ERROR,),
}

_REFUSAL = {
    "start": "Start is only possible from IDLE; the engine is {current}",
    "stop": "Stop is only possible from RUNNING; the engine is {current}",
    "stop_complete": "Finishing a stop is only possible from STOPPING; the engine is {current}",
    "fail": "ERROR can only be entered from RUNNING or STOPPING; the engine is {current}",
    "reset": "Reset is only possible from ERROR; the engine is {current}",
}

_HINT = {
    (State.ERROR, "start"): " (press Reset first)",
    (State.RUNNING, "reset"): " (Reset is for clearing an error; use Stop)",
}


def _transition(action: str, new: str, *, actor: str, reason: str, extra: dict | None = None) -> Transition:
    allowed = _ALLOWED_FROM[action]
    EngineState.load()
    now = timezone.now()
    fields = {"state": new, "state_since": now, "state_reason": reason[:2000], "state_changed_by": actor[:150]}
    fields.update(extra or {})
    with transaction.atomic():
        for old in allowed:
            if EngineState.objects.filter(pk=EngineState.SINGLETON_PK, state=old).update(**fields) == 1:
                events.state_changed(old=old, new=new, actor=actor, reason=reason)
                return Transition(old=old, new=new, at=now)
    current = EngineState.objects.values_list("state", flat=True).get(pk=EngineState.SINGLETON_PK)
    raise TransitionNotAllowed(_REFUSAL[action].format(current=current) + _HINT.get((current, action), ""), current=current)


def live_mode_problem() -> str:
    """Why live trading cannot start with the current configuration, or "" when it can."""
    if settings.PAPER_MODE:
        return ""
    missing = [name for name in ("UPBIT_ACCESS_KEY", "UPBIT_SECRET_KEY") if not getattr(settings, name)]
    if missing:
        return (
            f"Live mode (PAPER_MODE=false) needs {' and '.join(missing)}; set them in .env, "
            "or set PAPER_MODE=true to trade on paper"
        )
    return ""


def engine_start(*, actor: str, reason: str = "") -> Transition:
    """IDLE → RUNNING. Refused in live mode without both API keys."""
    problem = live_mode_problem()
    if problem:
        current = EngineState.load().state
        raise TransitionNotAllowed(f"Start refused: {problem}", current=current)
    return _transition("start", State.RUNNING, actor=actor, reason=reason or "start requested")


def engine_stop(*, actor: str, reason: str = "") -> Transition:
    """RUNNING → STOPPING: the engine finishes its current cycle, then goes IDLE."""
    return _transition("stop", State.STOPPING, actor=actor, reason=reason or "stop requested")


def engine_stop_complete(*, actor: str, reason: str = "") -> Transition:
    """STOPPING → IDLE, called by the engine once its cycle has finished."""
    return _transition("stop_complete", State.IDLE, actor=actor, reason=reason or "cycle finished")


def engine_fail(*, actor: str, error: str, kill_switch: bool = False) -> Transition:
    """RUNNING/STOPPING → ERROR. With `kill_switch`, the trip is persisted until a Reset."""
    extra: dict = {"last_error": error[:10000]}
    if kill_switch:
        extra.update(kill_switch=True, kill_switch_reason=error[:2000], kill_switch_at=timezone.now())
    return _transition("fail", State.ERROR, actor=actor, reason=error[:2000], extra=extra)


def engine_reset(*, actor: str, reason: str = "") -> Transition:
    """ERROR → IDLE. The only way to re-arm a tripped kill-switch."""
    extra = {
        "kill_switch": False,
        "kill_switch_reason": "",
        "kill_switch_at": None,
        "consecutive_failures": 0,
        "consecutive_order_failures": 0,
    }
    return _transition("reset", State.IDLE, actor=actor, reason=reason or "reset requested", extra=extra)


def allowed_actions(state: str) -> dict[str, bool]:
    """Which of Start, Stop and Reset a person may press in `state`."""
    return {
        "start": state in _ALLOWED_FROM["start"],
        "stop": state in _ALLOWED_FROM["stop"],
        "reset": state in _ALLOWED_FROM["reset"],
    }


# ---------------------------------------------------------------------------------------------------
# Manual orders
# ---------------------------------------------------------------------------------------------------
def _positive_decimal(field: str, value: object) -> Decimal:
    if isinstance(value, float):
        raise InvalidInput(field, 'send the number as a string, for example "10000"')
    text = str(value).strip()
    # Decimal() also reads "1_000" and full-width digits, which a person never means as an amount.
    if "_" in text or not text.isascii():
        raise InvalidInput(field, f"{value!r} is not a number")
    try:
        number = Decimal(text.replace(",", ""))
    except (InvalidOperation, ValueError):
        raise InvalidInput(field, f"{value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise InvalidInput(field, f"{value!r} must be a positive number")
    if number.as_tuple().exponent < -8:  # type: ignore[operator]
        raise InvalidInput(field, f"{value!r} has more than 8 decimal places")
    if number >= Decimal("1e15"):
        raise InvalidInput(field, f"{value!r} is too large")
    return number


def manual_order_request_create(
    *, kind: str, actor: str, krw: object = None, volume: object = None, market: str | None = None
) -> ManualOrderRequest:
    """Queue a manual order for the engine's next cycle. Validates the amounts; the risk gate runs later."""
    market = market or settings.TRADING_MARKET
    if kind not in ManualOrderRequest.Kind.values:
        raise InvalidInput("kind", f"{kind!r} is not one of {', '.join(ManualOrderRequest.Kind.values)}")
    krw_amount = volume_amount = None
    if kind == ManualOrderRequest.Kind.BUY:
        if krw is None:
            raise InvalidInput("krw", "a buy needs the KRW amount to spend")
        krw_amount = _positive_decimal("krw", krw)
        if krw_amount < Decimal("5000"):
            raise InvalidInput("krw", f"{krw_amount} KRW is below Upbit's minimum order of 5,000 KRW")
    elif kind == ManualOrderRequest.Kind.SELL:
        if volume is None:
            raise InvalidInput("volume", 'a sell needs the volume to sell (or "all")')
        volume_amount = _positive_decimal("volume", volume)
    with transaction.atomic():
        request = ManualOrderRequest.objects.create(
            market=market, kind=kind, krw=krw_amount, volume=volume_amount, requested_by=actor[:150]
        )
        described = {
            "buy": f"buy {krw_amount} KRW",
            "sell": f"sell {volume_amount}",
            "sell_all": "sell all",
            "close": "close position",
        }[kind]
        events.event_record(
            kind=events.Kind.MANUAL_ORDER,
            actor=actor,
            message=f"Manual order queued by {actor}: {described} on {market}",
            meta={"request_id": request.pk, "kind": kind, "krw": krw_amount, "volume": volume_amount, "market": market},
        )
    return request


# ---------------------------------------------------------------------------------------------------
# The engine process: one claim on the singleton row (owner + heartbeat), taken with a conditional
# UPDATE so two processes can never both believe they own the engine.
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimResult:
    claimed: bool
    previous_owner: str
    heartbeat_age_sec: float | None


def engine_claim(
    *, owner: str, stale_after_sec: float | None = None, owner_is_dead: Callable[[str], bool] | None = None
) -> ClaimResult:
    """Claim the engine for `owner` ("host:pid"). Succeeds when nobody owns it, `owner` already does,
    the current owner's heartbeat is older than ENGINE_STALE_AFTER_SEC (a crashed or frozen process),
    or `owner_is_dead(current_owner)` says that process no longer exists (a crash on this machine)."""
    from django.db.models import Q

    stale = stale_after_sec if stale_after_sec is not None else settings.ENGINE_STALE_AFTER_SEC
    before = EngineState.load()
    now = timezone.now()
    age = None if before.heartbeat_at is None else (now - before.heartbeat_at).total_seconds()
    free = Q(owner="") | Q(owner=owner) | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=stale))
    if before.owner and before.owner != owner and owner_is_dead is not None and owner_is_dead(before.owner):
        free |= Q(owner=before.owner)
    claimed = EngineState.objects.filter(Q(pk=EngineState.SINGLETON_PK) & free).update(owner=owner[:255], heartbeat_at=now)
    if claimed:
        takeover = bool(before.owner) and before.owner != owner
        events.engine_claimed(owner=owner, previous_owner=before.owner, takeover=takeover)
    else:
        current = EngineState.load()
        age = None if current.heartbeat_at is None else (now - current.heartbeat_at).total_seconds()
        events.engine_refused(owner=owner, running_owner=current.owner, heartbeat_age_sec=age)
        before = current
    return ClaimResult(claimed=bool(claimed), previous_owner=before.owner, heartbeat_age_sec=age)


def engine_heartbeat(*, owner: str, metrics: dict | None = None) -> bool:
    """Refresh the heartbeat (and the published counters). False when `owner` no longer holds the claim."""
    fields: dict = {"heartbeat_at": timezone.now()}
    if metrics is not None:
        fields["metrics"] = metrics
    return EngineState.objects.filter(pk=EngineState.SINGLETON_PK, owner=owner).update(**fields) == 1


def engine_release(*, owner: str, reason: str = "exited") -> bool:
    """Give the claim back so the dashboard shows the engine offline at once (and a new process can start)."""
    released = EngineState.objects.filter(pk=EngineState.SINGLETON_PK, owner=owner).update(owner="", heartbeat_at=None) == 1
    if released:
        events.engine_released(owner=owner, reason=reason)
    return released


def engine_cycle_record(*, last_price: Decimal | None) -> None:
    """Book-keeping after each cycle: iteration, time, last price."""
    from django.db.models import F

    fields: dict = {"iteration": F("iteration") + 1, "last_cycle_at": timezone.now()}
    if last_price is not None:
        fields["last_price"] = last_price
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(**fields)


def engine_failures_set(*, consecutive_failures: int | None = None, consecutive_order_failures: int | None = None) -> None:
    fields: dict = {}
    if consecutive_failures is not None:
        fields["consecutive_failures"] = consecutive_failures
    if consecutive_order_failures is not None:
        fields["consecutive_order_failures"] = consecutive_order_failures
    if fields:
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(**fields)


def engine_kill_switch_trip(*, reason: str, meta: dict | None = None) -> bool:
    """Trip the kill-switch: ERROR with the reason persisted until a person presses Reset.

    Works from any state: when the engine is not RUNNING/STOPPING (e.g. `runengine --once` on an IDLE
    engine) the flag is still persisted, so no entry can be made until Reset."""
    now = timezone.now()
    try:
        engine_fail(actor="engine", error=reason, kill_switch=True)
    except TransitionNotAllowed:
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(
            kill_switch=True, kill_switch_reason=reason[:2000], kill_switch_at=now, last_error=reason[:10000]
        )
    events.kill_switch_tripped(reason=reason, meta=meta)
    return True


# ---------------------------------------------------------------------------------------------------
# Orders and fills. The intent row is committed before the exchange is called; every later write is
# a short transaction of its own (never one held across an HTTP call).
# ---------------------------------------------------------------------------------------------------
def order_identifier_new() -> str:
    """A fresh, single-use client order id (Upbit forbids re-sending an identifier)."""
    return "ac-" + uuid.uuid4().hex


def order_intent_create(
    *,
    market: str,
    side: str,
    ord_type: str,
    mode: str,
    price: Decimal | None = None,
    volume: Decimal | None = None,
    reason: str = "",
    signal: Signal | None = None,
) -> Order:
    """Write-ahead intent: the NEW row (with the identifier the exchange will see) is committed here,
    before anything is sent, so a crash at any later moment leaves a row to look up."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_intent_create must commit on its own, outside atomic()")
    order = Order(
        market=market,
        side=side,
        ord_type=ord_type,
        mode=mode,
        price=price,
        volume=volume,
        reason=reason[:255],
        signal=signal,
        identifier=order_identifier_new(),
        status=Order.Status.NEW,
    )
    order.full_clean()
    order.save()
    return order


_STATUS_FROM_EXCHANGE = {"wait": Order.Status.WAIT, "watch": Order.Status.WAIT, "done": Order.Status.DONE}


def order_status_from_info(info: OrderInfo) -> str:
    if info.is_filled:
        return Order.Status.DONE
    if info.state == "cancel":
        return Order.Status.CANCEL
    return _STATUS_FROM_EXCHANGE.get(info.state, Order.Status.WAIT)


def fill_record(*, order: Order, trade: Trade, fee_rate: Decimal) -> tuple[Fill, bool]:
    """Record one fill of `order`; a trade id seen before is never counted twice. Returns (fill, created)."""
    from exchange.rules import fee_for

    funds = trade.funds if trade.funds else trade.price * trade.volume
    fee = trade.fee if trade.fee is not None else fee_for(funds, fee_rate)
    fill, created = Fill.objects.get_or_create(
        trade_id=trade.uuid,
        defaults={
            "order": order,
            "ts": trade.created_at,
            "price": trade.price,
            "volume": trade.volume,
            "funds": funds,
            "fee": fee,
            "raw": {"uuid": trade.uuid, "side": trade.side, "price": trade.price, "volume": trade.volume, "funds": funds},
        },
    )
    return fill, created


def order_apply_info(*, order: Order, info: OrderInfo, fee_rate: Decimal, totals_as_fill: bool = False) -> list[Fill]:
    """Apply the exchange's view of an order to our row and record its new fills. Returns new fills.

    Fills come from the order's trades. Only with `totals_as_fill` (an answer to a lookup of a final
    order, whose trade list is then complete) does an order reported with an executed volume but no
    trades become one fill made from its totals; an order-placement answer never carries trades, and
    turning it into a fill would count the trades twice when they are read later."""
    from exchange.redact import configured_secrets, mask_secrets

    new_fills: list[Fill] = []
    with transaction.atomic():
        for trade in info.trades:
            fill, created = fill_record(order=order, trade=trade, fee_rate=fee_rate)
            if created:
                new_fills.append(fill)
        # Without per-trade detail (the exchange reported totals only), the final totals become one fill.
        if totals_as_fill and not info.trades and info.is_final and info.executed_volume > 0 and not order.fills.exists():
            funds = info.filled_funds or Decimal("0")
            price = (funds / info.executed_volume).quantize(Decimal("0.00000001")) if funds else (info.price or Decimal("0"))
            if price > 0:
                synthetic = Trade(
                    uuid=f"order:{info.uuid}",
                    market=info.market,
                    side=info.side,
                    price=price,
                    volume=info.executed_volume,
                    funds=funds,
                    created_at=info.created_at,
                    fee=info.paid_fee,
                )
                fill, created = fill_record(order=order, trade=synthetic, fee_rate=fee_rate)
                if created:
                    new_fills.append(fill)
        order.status = order_status_from_info(info)
        order.exchange_uuid = info.uuid or order.exchange_uuid
        order.exchange_state = info.state
        order.executed_volume = info.executed_volume
        order.executed_funds = info.filled_funds or Decimal("0")
        order.paid_fee = info.paid_fee
        order.raw = mask_secrets(info.raw or {}, configured_secrets())
        order.save(
            update_fields=[
                "status",
                "exchange_uuid",
                "exchange_state",
                "executed_volume",
                "executed_funds",
                "paid_fee",
                "raw",
                "updated_at",
            ]
        )
    return new_fills


def order_mark(*, order: Order, status: str, error_name: str = "", error_message: str = "") -> Order:
    order.status = status
    order.error_name = error_name[:64]
    order.error_message = error_message[:5000]
    order.save(update_fields=["status", "error_name", "error_message", "updated_at"])
    return order


def order_lookup_missed(*, order: Order, absent_after: int, may_become_absent: bool = True) -> bool:
    """Count one "not found" lookup; after `absent_after` of them (and only when `may_become_absent`: the
    order is old enough) the order is ABSENT. True when it became ABSENT."""
    order.lookup_attempts += 1
    became_absent = may_become_absent and order.lookup_attempts >= absent_after
    if became_absent:
        order.status = Order.Status.ABSENT
    order.save(update_fields=["lookup_attempts", "status", "updated_at"])
    return became_absent


def manual_order_request_link(*, request: ManualOrderRequest, order: Order) -> None:
    """Tie a manual request to its order before the order is sent: after a crash the request is then
    settled from that order, never sent a second time."""
    request.order = order
    request.save(update_fields=["order"])


def manual_order_request_finish(*, request: ManualOrderRequest, done: bool, result: str, order: Order | None = None) -> None:
    request.status = ManualOrderRequest.Status.DONE if done else ManualOrderRequest.Status.REJECTED
    request.result = result[:5000]
    request.processed_at = timezone.now()
    request.order = order
    request.save(update_fields=["status", "result", "processed_at", "order"])


# ---------------------------------------------------------------------------------------------------
# Strategy parameters
# ---------------------------------------------------------------------------------------------------
def strategy_config_update(*, strategy: str, params: dict, actor: str) -> StrategyConfig:
    """Validate and store a strategy's parameters; the engine uses them from its next cycle."""
    from trading.strategies import registry

    try:
        registry.get_strategy(strategy)
    except (KeyError, ValueError, LookupError):
        raise InvalidInput("strategy", f"{strategy!r} is not a known strategy") from None
    if not isinstance(params, dict):
        raise InvalidInput("params", "parameters must be a JSON object")
    try:
        cleaned = registry.validate_params(strategy, params)
    except (ValueError, TypeError) as error:
        raise InvalidInput("params", str(error)) from None
    if not isinstance(cleaned, dict):
        cleaned = params
    with transaction.atomic():
        config, _ = StrategyConfig.objects.select_for_update().get_or_create(strategy=strategy)
        old = dict(config.params or {})
        config.params = cleaned
        config.updated_by = actor[:150]
        config.save()
        events.config_changed(actor=actor, what=f"strategy {strategy} parameters", old=old, new=cleaned)
    return config


# ---------------------------------------------------------------------------------------------------
# Housekeeping
# ---------------------------------------------------------------------------------------------------
def history_prune(*, days: int, actor: str = "prune") -> dict[str, int]:
    """Delete engine events, HOLD signals and balance snapshots older than `days` days.

    Orders, fills, BUY/SELL signals, daily PnL and manual requests are never deleted: they are the
    trading record. The newest balance snapshot is always kept."""
    from trading.models import BalanceSnapshot, EngineEvent

    if days < 1:
        raise InvalidInput("days", f"{days} must be at least 1")
    cutoff = timezone.now() - timedelta(days=days)
    counts: dict[str, int] = {}
    counts["events"], _ = EngineEvent.objects.filter(ts__lt=cutoff).delete()
    hold_signals = Signal.objects.filter(ts__lt=cutoff, action=Signal.Action.HOLD, orders__isnull=True)
    counts["hold_signals"], _ = hold_signals.delete()
    newest = BalanceSnapshot.objects.order_by("-ts", "-id").values_list("id", flat=True).first()
    counts["snapshots"], _ = BalanceSnapshot.objects.filter(ts__lt=cutoff).exclude(id=newest).delete()
    events.event_record(
        kind=events.Kind.CONFIG_CHANGED,
        actor=actor,
        message=(
            f"History older than {days} days pruned: {counts['events']} events, {counts['hold_signals']} HOLD signals, "
            f"{counts['snapshots']} balance snapshots (orders and fills are kept)"
        ),
        meta={"days": days, **counts},
    )
    return counts


# ---------------------------------------------------------------------------------------------------
# Operations from the admin console: cancel requests and the paper account reset
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CancelRequestResult:
    requested: list[int]
    """Open orders now marked for cancellation."""
    already_requested: list[int]
    """Open orders that already carried a cancel request (left as they were)."""
    not_open: list[int]
    """Orders that are final (filled, cancelled, rejected, absent): nothing to cancel."""


def order_cancel_request(*, order_ids: list[int], actor: str) -> CancelRequestResult:
    """Ask the engine to cancel these orders. The engine owns every exchange call, so this only marks them
    (`cancel_requested_at`/`cancel_requested_by`); the engine cancels marked open orders in its next
    cycle. Final orders are skipped and reported; asking twice keeps the first request."""
    ids = sorted({int(pk) for pk in order_ids})
    if not ids:
        raise InvalidInput("order_ids", "select at least one order")
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Order.objects.select_for_update()
            .filter(pk__in=ids)
            .values_list("pk", "status", "cancel_requested_at", "identifier")
            .order_by("pk")
        )
        missing = sorted(set(ids) - {pk for pk, *_ in rows})
        if missing:
            raise InvalidInput("order_ids", f"no order with id {', '.join(map(str, missing[:10]))}")
        open_statuses = set(Order.OPEN_STATUSES)
        requested = [pk for pk, status, asked, _ in rows if status in open_statuses and asked is None]
        already = [pk for pk, status, asked, _ in rows if status in open_statuses and asked is not None]
        not_open = [pk for pk, status, _, _ in rows if status not in open_statuses]
        if requested:
            Order.objects.filter(pk__in=requested, cancel_requested_at__isnull=True).update(
                cancel_requested_at=now, cancel_requested_by=actor[:150], updated_at=now
            )
            identifiers = [identifier for pk, _, _, identifier in rows if pk in set(requested)]
            shown = ", ".join(identifiers[:5]) + (f" and {len(identifiers) - 5} more" if len(identifiers) > 5 else "")
            events.event_record(
                kind=events.Kind.MANUAL_ORDER,
                actor=actor,
                message=f"Cancel requested by {actor} for {len(requested)} open order(s): {shown}",
                meta={"action": "cancel_request", "order_ids": requested[:500], "count": len(requested)},
            )
    return CancelRequestResult(requested=requested, already_requested=already, not_open=not_open)


@dataclass(frozen=True)
class PaperResetResult:
    initial_krw: Decimal
    cancelled_orders: int


def paper_account_reset(*, actor: str, initial_krw: Decimal | None = None) -> PaperResetResult:
    """Start the paper account over with `initial_krw` (default PAPER_INITIAL_KRW): open paper orders are
    cancelled, coins removed. Refused while the engine is RUNNING or STOPPING (it may be trading on the
    account); the engine state row stays locked meanwhile so a Start cannot slip in."""
    from exchange import paper

    amount = settings.PAPER_INITIAL_KRW if initial_krw is None else initial_krw
    with transaction.atomic():
        EngineState.load()
        state = EngineState.objects.select_for_update().get(pk=EngineState.SINGLETON_PK)
        if state.state in (State.RUNNING, State.STOPPING):
            raise TransitionNotAllowed(
                f"Paper account reset is refused while the engine is {state.state}; stop it first", current=state.state
            )
        try:
            result = paper.reset_account(amount)
        except ValueError as error:
            raise InvalidInput("initial_krw", str(error)) from None
        previous = {balance.currency: balance.balance + balance.locked for balance in result.previous_balances}
        events.event_record(
            kind=events.Kind.PAPER_RESET,
            actor=actor,
            state=state.state,
            message=(
                f"Paper account reset by {actor} to {result.initial_krw:,f} KRW"
                f" ({result.cancelled_orders} open paper order(s) cancelled)"
            ),
            meta={"initial_krw": result.initial_krw, "cancelled_orders": result.cancelled_orders, "previous": previous},
        )
    return PaperResetResult(initial_krw=result.initial_krw, cancelled_orders=result.cancelled_orders)


# ---------------------------------------------------------------------------------------------------
# The engine's own records
# ---------------------------------------------------------------------------------------------------
def signal_record(
    *,
    market: str,
    action: str,
    source: str,
    explanation: str,
    meta: dict,
    score: Decimal = Decimal("0"),
    ts: datetime | None = None,
) -> Signal:
    """One decision of the strategy, a protective exit or a manual request, as the dashboard shows it."""
    return Signal.objects.create(
        ts=ts or timezone.now(),
        market=market,
        action=action,
        score=score.quantize(Decimal("0.00000001")),
        source=source,
        explanation=explanation[:5000],
        meta=meta,
    )


def engine_failures_increment(*, orders: bool = False) -> int:
    """Add one to the consecutive API failures (or, with `orders`, order failures) and return the new count,
    in one transaction so two writers never lose a count."""
    from django.db.models import F

    field = "consecutive_order_failures" if orders else "consecutive_failures"
    with transaction.atomic():
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(**{field: F(field) + 1})
        return int(EngineState.objects.values_list(field, flat=True).get(pk=EngineState.SINGLETON_PK))


def decision_state_load(*, market: str, mode: str) -> DecisionState:
    """The decision memory of `market` in `mode` (created empty on first use)."""
    state, _ = DecisionState.objects.get_or_create(market=market, mode=mode)
    return state


def decision_state_save(*, state: DecisionState, fields: dict) -> None:
    """Store changed decision memory (peak, decided candle, exit candle): a restart continues from it."""
    for name, value in fields.items():
        setattr(state, name, value)
    DecisionState.objects.filter(pk=state.pk).update(**fields)
