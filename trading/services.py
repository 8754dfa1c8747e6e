"""Writes. Every change of the engine's state goes through one function per transition here.

Each transition is a conditional UPDATE on the singleton row: it happens exactly once however many
callers race, or it reports why not. The web process and the engine process both call these.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from exchange.account import mode_of
from exchange.redact import mask_configured_secrets as masked
from exchange.redact import mask_configured_value
from exchange.rules import fee_for
from exchange.types import OrderInfo, Trade
from trading import events

# The refusals are part of this module's interface: callers catch services.InvalidInput and friends.
from trading.errors import EngineOffline as EngineOffline
from trading.errors import InvalidInput as InvalidInput
from trading.errors import TransitionNotAllowed as TransitionNotAllowed
from trading.models import DecisionState, EngineState, Fill, ManualOrderRequest, Order, Signal, StrategyConfig
from trading.strategies import registry
from trading.transitions import ALLOWED_FROM

State = EngineState.State


@dataclass(frozen=True)
class Transition:
    old: str
    new: str
    at: datetime


# A refusal in these states gets its own sentence, saying what to press instead.
_REFUSAL_WITH_HINT: dict[tuple[str, str], str] = {
    (State.ERROR, "start"): "start_after_error",
    (State.RUNNING, "reset"): "reset_while_running",
}


def _transition(action: str, new: str, *, actor: str, reason: str, extra: dict[str, Any] | None = None) -> Transition:
    allowed = ALLOWED_FROM[action]
    reason = masked(reason)  # often an exchange's or an exception's text
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
    raise TransitionNotAllowed(_REFUSAL_WITH_HINT.get((current, action), f"{action}_not_allowed"), current=current)


def _live_keys_missing() -> list[str]:
    if settings.PAPER_MODE:
        return []
    return [name for name in ("UPBIT_ACCESS_KEY", "UPBIT_SECRET_KEY") if not getattr(settings, name)]


def live_mode_problem() -> str:
    """Why live trading cannot start with the current configuration, or "" when it can."""
    missing = _live_keys_missing()
    if missing:
        return (
            f"Live mode (PAPER_MODE=false) needs {' and '.join(missing)}; set them in .env, "
            "or set PAPER_MODE=true to trade on paper"
        )
    return ""


def engine_start(*, actor: str, reason: str = "") -> Transition:
    """IDLE → RUNNING. Refused in live mode without both API keys."""
    missing = _live_keys_missing()
    if missing:
        raise TransitionNotAllowed("live_keys_missing", current=EngineState.load().state, missing=" and ".join(missing))
    return _transition("start", State.RUNNING, actor=actor, reason=reason or "start requested")


def engine_stop(*, actor: str, reason: str = "") -> Transition:
    """RUNNING → STOPPING: the engine finishes its current cycle, then goes IDLE."""
    return _transition("stop", State.STOPPING, actor=actor, reason=reason or "stop requested")


def engine_stop_complete(*, actor: str, reason: str = "") -> Transition:
    """STOPPING → IDLE, called by the engine once its cycle has finished."""
    return _transition("stop_complete", State.IDLE, actor=actor, reason=reason or "cycle finished")


def engine_fail(*, actor: str, error: str, kill_switch: bool = False) -> Transition:
    """RUNNING/STOPPING → ERROR. With `kill_switch`, the trip is persisted until a Reset."""
    error = masked(error)
    extra: dict[str, Any] = {"last_error": error[:10000]}
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
    stale = stale_after_sec if stale_after_sec is not None else settings.ENGINE_STALE_AFTER_SEC
    before = EngineState.load()
    now = timezone.now()
    age = None if before.heartbeat_at is None else (now - before.heartbeat_at).total_seconds()
    free = Q(owner="") | Q(owner=owner) | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=stale))
    if before.owner and before.owner != owner and owner_is_dead is not None and owner_is_dead(before.owner):
        free |= Q(owner=before.owner)
    bump = F("claim_generation") + 1  # every claim a new generation: a process that lost its claim can tell
    claimed = EngineState.objects.filter(Q(pk=EngineState.SINGLETON_PK) & free).update(
        owner=owner[:255], heartbeat_at=now, claim_generation=bump
    )
    if claimed:
        takeover = bool(before.owner) and before.owner != owner
        events.engine_claimed(owner=owner, previous_owner=before.owner, takeover=takeover)
    else:
        current = EngineState.load()
        age = None if current.heartbeat_at is None else (now - current.heartbeat_at).total_seconds()
        events.engine_refused(owner=owner, running_owner=current.owner, heartbeat_age_sec=age)
        before = current
    return ClaimResult(claimed=bool(claimed), previous_owner=before.owner, heartbeat_age_sec=age)


def engine_heartbeat(*, owner: str, metrics: dict[str, Any] | None = None) -> bool:
    """Refresh the heartbeat (and the published counters). False when `owner` no longer holds the claim."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
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
    fields: dict[str, Any] = {"iteration": F("iteration") + 1, "last_cycle_at": timezone.now()}
    if last_price is not None:
        fields["last_price"] = last_price
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(**fields)


def engine_failures_set(*, consecutive_failures: int | None = None, consecutive_order_failures: int | None = None) -> None:
    fields: dict[str, Any] = {}
    if consecutive_failures is not None:
        fields["consecutive_failures"] = consecutive_failures
    if consecutive_order_failures is not None:
        fields["consecutive_order_failures"] = consecutive_order_failures
    if fields:
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(**fields)


def engine_kill_switch_trip(*, reason: str, meta: dict[str, Any] | None = None) -> bool:
    """Trip the kill-switch: ERROR with the reason persisted until a person presses Reset.

    Works from any state: when the engine is not RUNNING/STOPPING (e.g. `runengine --once` on an IDLE
    engine) the flag is still persisted, so no entry can be made until Reset."""
    now, reason = timezone.now(), masked(reason)
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
    account: str,
    price: Decimal | None = None,
    volume: Decimal | None = None,
    reason: str = "",
    signal: Signal | None = None,
    fence: Callable[[], None] | None = None,
    then: Callable[[Order], None] | None = None,
) -> Order:
    """Write-ahead intent: the NEW row (with the identifier the exchange will see) is committed here,
    before anything is sent, so a crash at any later moment leaves a row to look up. `fence` runs in the
    same transaction before the row is written; whatever it raises leaves nothing written. `then` runs in
    that transaction after the row is written (the intent's event, a manual request's link to it): they are
    committed together, or none of them is."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_intent_create must commit on its own, outside atomic()")
    order = Order(
        market=market,
        side=side,
        ord_type=ord_type,
        mode=mode_of(account),
        account=account,
        price=price,
        volume=volume,
        reason=masked(reason)[:255],
        signal=signal,
        identifier=order_identifier_new(),
        status=Order.Status.NEW,
    )
    with transaction.atomic():
        if fence is not None:
            fence()
        # The fields are checked here; uniqueness, the check constraints and the signal's foreign key are the
        # database's to enforce on insert (checking them first cost a savepoint or a query each, on every order).
        order.full_clean(exclude=["signal"], validate_unique=False, validate_constraints=False)
        order.save()
        if then is not None:
            then(order)
    return order


_STATUS_FROM_EXCHANGE = {"wait": Order.Status.WAIT, "watch": Order.Status.WAIT, "done": Order.Status.DONE}


def order_status_from_info(info: OrderInfo) -> str:
    if info.is_filled:
        return Order.Status.DONE
    if info.state == "cancel":
        return Order.Status.CANCEL
    return _STATUS_FROM_EXCHANGE.get(info.state, Order.Status.WAIT)


def _fill_values(order: Order, trade: Trade, fee_rate: Decimal) -> dict[str, Any]:
    funds = trade.funds if trade.funds else trade.price * trade.volume
    fee = trade.fee if trade.fee is not None else fee_for(funds, fee_rate)
    return {
        "order": order,
        "ts": trade.created_at,
        "price": trade.price,
        "volume": trade.volume,
        "funds": funds,
        "fee": fee,
        "raw": {"uuid": trade.uuid, "side": trade.side, "price": trade.price, "volume": trade.volume, "funds": funds},
    }


def fill_record(*, order: Order, trade: Trade, fee_rate: Decimal) -> tuple[Fill, bool]:
    """Record one fill of `order`; a trade id seen before is never counted twice. Returns (fill, created)."""
    return Fill.objects.get_or_create(trade_id=trade.uuid, defaults=_fill_values(order, trade, fee_rate))


def _fills_record_new(
    *, order: Order, trades: tuple[Trade, ...], fee_rate: Decimal, one_by_one: bool, recorded: frozenset[str] | None
) -> list[Fill]:
    """The fills of `trades` not recorded before. At once: one read of the trade ids already known (none when the
    caller knows them: `recorded`), then plain inserts (no savepoint per trade); a trade recorded by another writer
    in between makes the insert fail, and the caller applies the answer again `one_by_one`."""
    if one_by_one:
        pairs = [fill_record(order=order, trade=trade, fee_rate=fee_rate) for trade in trades]
        return [fill for fill, created in pairs if created]
    if recorded is not None:
        seen = set(recorded)
    else:
        seen = set(Fill.objects.filter(trade_id__in=[trade.uuid for trade in trades]).values_list("trade_id", flat=True))
    fills: list[Fill] = []
    for trade in trades:
        if trade.uuid not in seen:
            seen.add(trade.uuid)
            fills.append(Fill.objects.create(trade_id=trade.uuid, **_fill_values(order, trade, fee_rate)))
    return fills


def order_apply_info(
    *,
    order: Order,
    info: OrderInfo,
    fee_rate: Decimal,
    totals_as_fill: bool = False,
    recorded: frozenset[str] | None = None,
    then: Callable[[list[Fill]], object] | None = None,
) -> list[Fill]:
    """Apply the exchange's view of an order to our row and record its new fills. Returns new fills.

    Fills come from the order's trades. Only with `totals_as_fill` (an answer to a lookup of a final
    order, whose trade list is then complete) does an order reported with an executed volume but no
    trades become one fill made from its totals; an order-placement answer never carries trades, and
    turning it into a fill would count the trades twice when they are read later.

    `recorded`: the trade ids of every fill the order has, when the caller knows them all (an order it has just
    placed), so they are not read again; the unique trade id still guards against a double count.

    `then(new_fills)` runs in the same transaction, after the order row is updated (its events, written with
    what they describe)."""
    try:
        return _order_apply_info(
            order=order,
            info=info,
            fee_rate=fee_rate,
            totals_as_fill=totals_as_fill,
            one_by_one=False,
            recorded=recorded,
            then=then,
        )
    except IntegrityError:
        # A trade id was recorded meanwhile (nothing of this attempt was kept): each trade on its own now.
        return _order_apply_info(
            order=order, info=info, fee_rate=fee_rate, totals_as_fill=totals_as_fill, one_by_one=True, recorded=None, then=then
        )


def _order_apply_info(
    *,
    order: Order,
    info: OrderInfo,
    fee_rate: Decimal,
    totals_as_fill: bool,
    one_by_one: bool,
    recorded: frozenset[str] | None,
    then: Callable[[list[Fill]], object] | None,
) -> list[Fill]:
    with transaction.atomic():
        new_fills = (
            _fills_record_new(order=order, trades=info.trades, fee_rate=fee_rate, one_by_one=one_by_one, recorded=recorded)
            if info.trades
            else []
        )
        has_fills = bool(recorded) if recorded is not None else order.fills.exists()
        # Without per-trade detail (the exchange reported totals only), the final totals become one fill.
        if totals_as_fill and not info.trades and info.is_final and info.executed_volume > 0 and not has_fills:
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
        order.raw = mask_configured_value(info.raw or {})
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
        if then is not None:
            then(new_fills)
    return new_fills


def order_mark(*, order: Order, status: str, error_name: str = "", error_message: str = "") -> Order:
    order.status = status
    order.error_name = masked(error_name)[:64]
    order.error_message = masked(error_message)[:5000]
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
    request.result = masked(result)[:5000]
    request.processed_at = timezone.now()
    request.order = order
    request.save(update_fields=["status", "result", "processed_at", "order"])


# ---------------------------------------------------------------------------------------------------
# Strategy parameters
# ---------------------------------------------------------------------------------------------------
def strategy_config_update(*, strategy: str, params: dict[str, Any], actor: str) -> StrategyConfig:
    """Validate and store a strategy's parameters; the engine uses them from its next cycle."""
    try:
        registry.get_strategy(strategy)
    except (KeyError, ValueError, LookupError):
        raise InvalidInput("strategy", "unknown_strategy", value=strategy) from None
    if not isinstance(params, dict):
        raise InvalidInput("params", "params_not_object")
    try:
        cleaned = registry.validate_params(strategy, params)
    except (ValueError, TypeError) as error:
        raise InvalidInput("params", "invalid_params", problem=str(error)) from None
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
# Cancel requests from the admin console
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
        raise InvalidInput("order_ids", "no_orders_selected")
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
            raise InvalidInput("order_ids", "unknown_orders", ids=", ".join(map(str, missing[:10])))
        open_statuses = set(Order.OPEN_STATUSES)
        requested = [pk for pk, status, asked, _ in rows if status in open_statuses and asked is None]
        already = [pk for pk, status, asked, _ in rows if status in open_statuses and asked is not None]
        not_open = [pk for pk, status, _, _ in rows if status not in open_statuses]
        if requested:
            Order.objects.filter(pk__in=requested, cancel_requested_at__isnull=True).update(
                cancel_requested_at=now, cancel_requested_by=actor[:150], updated_at=now
            )
            identifiers = [identifier for pk, _, _, identifier in rows if pk in set(requested)]
            events.cancel_requested(actor=actor, order_ids=requested, identifiers=identifiers)
    return CancelRequestResult(requested=requested, already_requested=already, not_open=not_open)


# ---------------------------------------------------------------------------------------------------
# The engine's own records
# ---------------------------------------------------------------------------------------------------
def signal_record(
    *,
    market: str,
    action: str,
    source: str,
    explanation: str,
    meta: dict[str, Any],
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
        explanation=masked(explanation)[:5000],
        meta=mask_configured_value(meta),
    )


def engine_failures_increment(*, orders: bool = False) -> int:
    """Add one to the consecutive API failures (or, with `orders`, order failures) and return the new count,
    in one transaction so two writers never lose a count."""
    field = "consecutive_order_failures" if orders else "consecutive_failures"
    with transaction.atomic():
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(**{field: F(field) + 1})
        return int(EngineState.objects.values_list(field, flat=True).get(pk=EngineState.SINGLETON_PK))


def decision_state_load(*, market: str, account: str) -> DecisionState:
    """The decision memory of `market` in `account` (created empty on first use)."""
    state, _ = DecisionState.objects.get_or_create(market=market, account=account, defaults={"mode": mode_of(account)})
    return state


def decision_state_clear(*, market: str, account: str) -> None:
    """Forget the decision memory of `market` in `account` (a replay starts from a clean slate)."""
    DecisionState.objects.filter(market=market, account=account).delete()


def decision_state_save(*, state: DecisionState, fields: dict[str, Any]) -> None:
    """Store changed decision memory (peak, decided candle, exit candle): a restart continues from it."""
    for name, value in fields.items():
        setattr(state, name, value)
    DecisionState.objects.filter(pk=state.pk).update(**fields)
