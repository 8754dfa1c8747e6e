"""The one place engine events are written: one function per kind of event, so each kind's message and
meta read the same wherever it is recorded. `event_record` is the building block they share."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Required, TypedDict, Unpack

from django.db import connection
from django.db.models import CharField
from django.db.models.expressions import RawSQL

from exchange.redact import mask_configured_secrets, mask_configured_value
from trading import event_texts
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order

logger = logging.getLogger("autocoin.events")

Kind = EngineEvent.Kind
Level = EngineEvent.Level

_LOG_LEVELS: dict[str, int] = {
    Level.DEBUG: logging.DEBUG,
    Level.INFO: logging.INFO,
    Level.WARNING: logging.WARNING,
    Level.ERROR: logging.ERROR,
}


def _state_now() -> RawSQL:
    """The engine's state as the row is written, read inside the INSERT rather than by a query of its own (each
    query costs more in Django than in the database). Written as SQL once: an ORM subquery is composed anew for
    every row written, which cost more than the rest of the INSERT."""
    quote = connection.ops.quote_name
    meta = EngineState._meta
    table, state, key = (quote(str(name)) for name in (meta.db_table, meta.get_field("state").column, meta.pk.column))
    return RawSQL(  # noqa: S611 - no value is written into the text: table and column names only, quoted
        f"COALESCE((SELECT {state} FROM {table} WHERE {key} = %s), %s)",  # noqa: S608 - names from the model, quoted
        (EngineState.SINGLETON_PK, ""),
        output_field=CharField(),
    )


_STATE_NOW = _state_now()


def _event_row(
    *,
    kind: str,
    message: str,
    level: str = Level.INFO,
    actor: str = "",
    meta: dict[str, Any] | None = None,
    state: str | None = None,
) -> EngineEvent:
    """An audit row ready to be written, every configured secret masked (meta included)."""
    return EngineEvent(
        kind=kind,
        level=level,
        actor=mask_configured_secrets(actor)[:150],
        state=_STATE_NOW if state is None else state,
        message=mask_configured_secrets(message),
        meta=mask_configured_value(meta or {}),
    )


def _written(rows: list[EngineEvent]) -> list[EngineEvent]:
    """Write `rows` in one INSERT, in their order, and mirror each to the log."""
    if len(rows) == 1:
        rows[0].save(force_insert=True)
    else:
        EngineEvent.objects.bulk_create(rows)
    for event in rows:
        if isinstance(event.__dict__.get("state"), RawSQL):
            # The state was read by the INSERT itself; reading it back (only if asked) costs a query then, not now.
            del event.__dict__["state"]
        logger.log(_LOG_LEVELS.get(event.level, logging.INFO), "%s: %s", event.kind, event.message)
    return rows


class _EventFields(TypedDict, total=False):
    kind: Required[str]
    message: Required[str]
    level: str
    actor: str
    meta: dict[str, Any] | None
    state: str | None


def event_record(**fields: Unpack[_EventFields]) -> EngineEvent:
    """Write one audit row (every configured secret masked, meta included) and mirror it to the log."""
    return _written([_event_row(**fields)])[0]


def state_changed(*, old: str, new: str, actor: str, reason: str) -> EngineEvent:
    level = Level.ERROR if new == EngineState.State.ERROR else Level.INFO
    text = f"{old} → {new} by {actor}" + (f": {reason}" if reason else "")
    return event_record(
        kind=Kind.STATE_CHANGED,
        level=level,
        actor=actor,
        state=new,
        message=text,
        meta={"from": old, "to": new, "reason": reason},
    )


def config_changed(*, actor: str, what: str, old: Any, new: Any) -> EngineEvent:
    return event_record(
        kind=Kind.CONFIG_CHANGED, actor=actor, message=f"{what} changed by {actor}", meta={"what": what, "old": old, "new": new}
    )


# ---------------------------------------------------------------------------------------------------
# People's requests: manual orders, cancel requests, the paper account, housekeeping
# ---------------------------------------------------------------------------------------------------
_MANUAL_DESCRIBED = {"buy": "buy {krw} KRW", "sell": "sell {volume}", "sell_all": "sell all", "close": "close position"}


def manual_order_queued(*, request: ManualOrderRequest, actor: str) -> EngineEvent:
    described = _MANUAL_DESCRIBED[request.kind].format(krw=request.krw, volume=request.volume)
    return event_record(
        kind=Kind.MANUAL_ORDER,
        actor=actor,
        message=f"Manual order queued by {actor}: {described} on {request.market}",
        meta={
            "request_id": request.pk,
            "kind": request.kind,
            "krw": request.krw,
            "volume": request.volume,
            "market": request.market,
        },
    )


def manual_order_rejected(*, request_id: int, problem: str) -> EngineEvent:
    return event_record(
        kind=Kind.MANUAL_ORDER,
        level=Level.WARNING,
        actor="engine",
        message=f"Manual order #{request_id} rejected: {problem}",
        meta={"request_id": request_id},
    )


def manual_order_cancelled(*, request: ManualOrderRequest, actor: str) -> EngineEvent:
    return event_record(
        kind=Kind.MANUAL_ORDER,
        actor=actor,
        message=f"Manual order #{request.pk} cancelled by {actor} before the engine carried it out",
        meta={"action": "cancel_manual", "request_id": request.pk, "kind": request.kind, "market": request.market},
    )


def manual_order_expired(*, request: ManualOrderRequest, actor: str, age_sec: float, ttl_sec: int) -> EngineEvent:
    return event_record(
        kind=Kind.MANUAL_ORDER,
        level=Level.WARNING,
        actor=actor,
        message=(
            f"Manual order #{request.pk} expired unexecuted: queued {age_sec:.0f} s ago, "
            f"longer than MANUAL_ORDER_TTL_SEC={ttl_sec}"
        ),
        meta={"action": "expire_manual", "request_id": request.pk, "kind": request.kind, "age_sec": round(age_sec, 3)},
    )


def cancel_requested(*, actor: str, order_ids: list[int], identifiers: list[str]) -> EngineEvent:
    shown = ", ".join(identifiers[:5]) + (f" and {len(identifiers) - 5} more" if len(identifiers) > 5 else "")
    return event_record(
        kind=Kind.MANUAL_ORDER,
        actor=actor,
        message=f"Cancel requested by {actor} for {len(order_ids)} open order(s): {shown}",
        meta={"action": "cancel_request", "order_ids": order_ids[:500], "count": len(order_ids)},
    )


def paper_account_reset(
    *, actor: str, state: str, initial_krw: Decimal, cancelled_orders: int, previous: dict[str, Decimal]
) -> EngineEvent:
    return event_record(
        kind=Kind.PAPER_RESET,
        actor=actor,
        state=state,
        message=f"Paper account reset by {actor} to {initial_krw:,f} KRW ({cancelled_orders} open paper order(s) cancelled)",
        meta={"initial_krw": initial_krw, "cancelled_orders": cancelled_orders, "previous": previous},
    )


def history_pruned(*, actor: str, days: int, counts: dict[str, int]) -> EngineEvent:
    return event_record(
        kind=Kind.CONFIG_CHANGED,
        actor=actor,
        message=(
            f"History older than {days} days pruned: {counts['events']} events, {counts['hold_signals']} HOLD signals, "
            f"{counts['snapshots']} balance snapshots (orders and fills are kept)"
        ),
        meta={"days": days, **counts},
    )


# ---------------------------------------------------------------------------------------------------
# Engine process, orders, fills and risk: one small wrapper per kind so messages read the same everywhere.
# ---------------------------------------------------------------------------------------------------
def engine_claimed(*, owner: str, previous_owner: str, takeover: bool) -> EngineEvent:
    if takeover:
        message = f"Engine process {owner} took over from {previous_owner}, which had stopped (no process or a stale heartbeat)"
    else:
        message = f"Engine process {owner} started"
    return event_record(
        kind=Kind.ENGINE_CLAIMED, actor="engine", message=message, meta={"owner": owner, "previous_owner": previous_owner}
    )


def engine_refused(*, owner: str, running_owner: str, heartbeat_age_sec: float | None) -> EngineEvent:
    age = "never" if heartbeat_age_sec is None else f"{heartbeat_age_sec:.1f} s ago"
    return event_record(
        kind=Kind.ENGINE_REFUSED,
        level=Level.WARNING,
        actor="engine",
        message=f"Engine process {owner} refused to start: {running_owner} is already running (last heartbeat {age})",
        meta={"owner": owner, "running_owner": running_owner, "heartbeat_age_sec": heartbeat_age_sec},
    )


def engine_restarted(*, owner: str, note: str) -> EngineEvent:
    """The launcher (`runall`) started this engine process again after the previous one died."""
    return event_record(
        kind=Kind.ERROR,
        level=Level.WARNING,
        actor="launcher",
        message=f"The launcher restarted the engine process ({note}); {owner} runs it now",
        meta={"owner": owner, "restart": note},
    )


def engine_released(*, owner: str, reason: str) -> EngineEvent:
    return event_record(
        kind=Kind.ENGINE_RELEASED, actor="engine", message=f"Engine process {owner} exited: {reason}", meta={"owner": owner}
    )


def _order_row(
    *, kind: str, order: Any, message: str, level: str = Level.INFO, extra: dict[str, Any] | None = None
) -> EngineEvent:
    meta = {
        "order_id": order.pk,
        "identifier": order.identifier,
        "exchange_uuid": order.exchange_uuid,
        "market": order.market,
        "side": order.side,
        "ord_type": order.ord_type,
        "status": order.status,
        **(extra or {}),
    }
    return _event_row(kind=kind, level=level, actor="engine", message=message, meta=meta)


def order_event(
    *, kind: str, order: Any, message: str, level: str = Level.INFO, extra: dict[str, Any] | None = None
) -> EngineEvent:
    return _written([_order_row(kind=kind, order=order, message=message, level=level, extra=extra)])[0]


def order_intent(*, order: Order, reason: str, decision: dict[str, Any] | None = None) -> EngineEvent:
    """The order written before it is sent; `decision` holds the rule that fired and its numbers (price, peak,
    level, the candle it came from), as in the order's Signal row."""
    extra = {"decision": decision} if decision else None
    return order_event(
        kind=Kind.ORDER_INTENT, order=order, message=f"Order intent: {order_described(order)} ({reason})", extra=extra
    )


def _order_submitted_row(order: Order) -> EngineEvent:
    return _order_row(
        kind=Kind.ORDER_SUBMITTED,
        order=order,
        message=f"Order placed: {order_described(order)} → {order.status} (uuid {order.exchange_uuid})",
        extra={"executed_volume": order.executed_volume, "executed_funds": order.executed_funds, "paid_fee": order.paid_fee},
    )


def order_submitted(*, order: Order) -> EngineEvent:
    return _written([_order_submitted_row(order)])[0]


def order_placed(*, order: Order, fills: list[Any]) -> list[EngineEvent]:
    """The placed order's event and one per fill it came back with, written together (one INSERT on every order)."""
    return _written([_order_submitted_row(order), *(_fill_row(fill) for fill in fills)])


def order_rejected(*, order: Order, message: str, level: str = Level.WARNING, extra: dict[str, Any] | None = None) -> EngineEvent:
    return order_event(kind=Kind.ORDER_REJECTED, order=order, level=level, message=message, extra=extra)


def order_unknown(*, order: Order, error: BaseException) -> EngineEvent:
    return order_event(
        kind=Kind.ORDER_UNKNOWN,
        order=order,
        level=Level.WARNING,
        message=(f"Order outcome unknown ({type(error).__name__}: {error}); no new order on {order.market} until it is found"),
        extra={"error_class": type(error).__name__},
    )


def order_reconciled(*, order: Order, message: str, level: str = Level.INFO, extra: dict[str, Any] | None = None) -> EngineEvent:
    return order_event(kind=Kind.ORDER_RECONCILED, order=order, level=level, message=message, extra=extra)


def reconciliation_finished(*, checked: int, resolved: int, still_unknown: int, fills_recovered: int) -> EngineEvent:
    return event_record(
        kind=Kind.ORDER_RECONCILED,
        actor="engine",
        message=(
            f"Start-up reconciliation: {checked} open order(s) checked, {resolved} settled, "
            f"{still_unknown} still unknown, {fills_recovered} fill(s) recovered"
        ),
        meta={"checked": checked, "resolved": resolved, "still_unknown": still_unknown},
    )


def order_cancelled(*, order: Order, message: str, level: str = Level.INFO, extra: dict[str, Any] | None = None) -> EngineEvent:
    return order_event(kind=Kind.ORDER_CANCELLED, order=order, level=level, message=message, extra=extra)


def order_described(order: Order) -> str:
    """The order as a message names it: "buy price 10,000 KRW on KRW-BTC", "sell market 0.001 on KRW-BTC"."""
    if order.ord_type == Order.OrdType.PRICE:
        amount = f"{krw_text(order.price)} KRW"
    elif order.ord_type == Order.OrdType.LIMIT:
        amount = f"{volume_text(order.volume)} @ {krw_text(order.price)} KRW"
    else:
        amount = volume_text(order.volume)
    return f"{order.side} {order.ord_type} {amount} on {order.market}"


def _fill_row(fill: Any) -> EngineEvent:
    order = fill.order
    return _event_row(
        kind=Kind.FILL,
        actor="engine",
        message=(
            f"Fill: {order.side} {volume_text(fill.volume)} {order.market} @ {krw_text(fill.price)} KRW "
            f"(fee {krw_text(fill.fee)} KRW)"
        ),
        meta={
            "order_id": order.pk,
            "identifier": order.identifier,
            "trade_id": fill.trade_id,
            "price": fill.price,
            "volume": fill.volume,
            "funds": fill.funds,
            "fee": fill.fee,
        },
    )


def fill_recorded(*, fill: Any) -> EngineEvent:
    return _written([_fill_row(fill)])[0]


def exchange_error(*, error: BaseException, step: str, failures: int, retry_in_sec: float | None) -> EngineEvent:
    retry = f"; retrying in {retry_in_sec:.1f} s" if retry_in_sec is not None else ""
    return event_record(
        kind=Kind.EXCHANGE_ERROR,
        level=Level.WARNING,
        actor="engine",
        message=f"Exchange error while {step}: {error} (consecutive failures: {failures}){retry}",
        meta={
            "step": step,
            "error_class": type(error).__name__,
            "error_name": getattr(error, "name", ""),
            "status": getattr(error, "status", None),
            "consecutive_failures": failures,
            "retry_in_sec": retry_in_sec,
        },
    )


def kill_switch_tripped(*, reason: str, meta: dict[str, Any] | None = None) -> EngineEvent:
    return event_record(
        kind=Kind.KILL_SWITCH, level=Level.ERROR, actor="engine", message=f"Kill-switch tripped: {reason}", meta=meta or {}
    )


def risk_blocked(*, action: str, reasons: list[str], source: str, meta: dict[str, Any] | None = None) -> EngineEvent:
    return event_record(
        kind=Kind.RISK_BLOCKED,
        level=Level.INFO,
        actor="engine",
        message=f"{action} from {source} blocked by the risk gate: {'; '.join(reasons)}",
        meta={"action": action, "reasons": reasons, "source": source, **(meta or {})},
    )


def order_shrunk(*, reason: str, meta: dict[str, Any]) -> EngineEvent:
    """An order made smaller than the risk gate sized it (the slippage limit), before it was sent."""
    return event_record(
        kind=Kind.RISK_BLOCKED,
        level=Level.WARNING,
        actor="engine",
        message=f"Order shrunk by the slippage limit: {reason}",
        meta=meta,
    )


def pnl_reported(*, message: str, day: Any, total: Decimal) -> EngineEvent:
    return event_record(kind=Kind.PNL, actor="engine", message=message, meta={"date": str(day), "total": total})


def day_start_unknown(*, day: Any, midnight: Any, error: str) -> EngineEvent:
    """The position carried into `day` could not be valued at local midnight: new entries stay blocked until it can."""
    return event_record(
        kind=Kind.PNL,
        level=Level.WARNING,
        actor="engine",
        message=(
            f"Today's starting value is unknown: the price at local midnight of {day} could not be read ({error}). "
            "New entries are blocked until it can be; exits, protective stops and manual sells still work. "
            "The engine asks again every cycle"
        ),
        meta={"rule": "day_start_unknown", "date": str(day), "midnight": str(midnight), "error": error},
    )


def day_start_established(*, day: Any, price: Decimal, carried: Decimal) -> EngineEvent:
    """The midnight value that was missing is known again: entries are allowed again (the other rules permitting)."""
    return event_record(
        kind=Kind.PNL,
        actor="engine",
        message=(
            f"Today's starting value is known again: the position carried into {day} is valued at "
            f"{krw_text(price)} KRW (unrealized {krw_text(carried)} KRW at midnight); new entries are allowed again"
        ),
        meta={"rule": "day_start_unknown", "date": str(day), "start_price": price, "carried_unrealized": carried},
    )


def order_rules_unavailable(*, error: Any) -> EngineEvent:
    return event_record(
        kind=Kind.EXCHANGE_ERROR,
        level=Level.WARNING,
        actor="engine",
        message=f"Order rules unavailable ({error}); using Upbit's KRW fee 0.05% and minimum 5,000 KRW",
        meta={"error": str(error), "name": getattr(error, "name", ""), "status": getattr(error, "status", None)},
    )


def tick_size_unavailable(*, market: str, error: Any, kept: Decimal | None = None) -> EngineEvent:
    instead = f"the tick read before ({kept})" if kept is not None else "the built-in KRW tick table"
    return event_record(
        kind=Kind.EXCHANGE_ERROR,
        level=Level.WARNING,
        actor="engine",
        message=f"Tick size of {market} unavailable ({error}); limit prices use {instead} until Upbit answers",
        meta={
            "market": market,
            "kept_tick": kept,
            "error": str(error),
            "name": getattr(error, "name", ""),
            "status": getattr(error, "status", None),
        },
    )


def live_preflight_failed(*, actor: str, market: str, checks: list[Any]) -> EngineEvent:
    """A live pre-flight that found something to fix, line by line (the lines never contain a key)."""
    failed = [check.name for check in checks if not check.ok]
    return event_record(
        kind=Kind.EXCHANGE_ERROR,
        level=Level.WARNING,
        actor=actor,
        message=f"Live pre-flight for {market} failed: {', '.join(failed)}",
        meta={"market": market, "checks": [{"name": check.name, "ok": check.ok, "text": check.text} for check in checks]},
    )


def market_data_source_changed(*, source: str, code: str, params: dict[str, Any], market: str) -> EngineEvent:
    """The engine's prices now come from `source` ("stream": Upbit's WebSocket; "rest": polling), for the reason
    sentence `code` of trading/event_texts.py (shown in the reader's language)."""
    return event_record(
        kind=Kind.MARKET_STREAM,
        level=Level.INFO if source == "stream" else Level.WARNING,
        message=event_texts.english(code, **params),
        meta={"source": source, "market": market, "text": event_texts.meta(code, **params)},
    )


def engine_error(*, message: str, meta: dict[str, Any] | None = None, level: str = Level.ERROR) -> EngineEvent:
    return event_record(kind=Kind.ERROR, level=level, actor="engine", message=message, meta=meta or {})


def notification_failed(*, channel: str, error: str) -> EngineEvent:
    return event_record(
        kind=Kind.NOTIFICATION,
        level=Level.WARNING,
        actor="engine",
        message=f"Notification via {channel} failed: {error}",
        meta={"channel": channel},
    )


# ---------------------------------------------------------------------------------------------------
# Numbers in messages (meta keeps the exact values)
# ---------------------------------------------------------------------------------------------------
def krw_text(value: Any) -> str:
    """A KRW amount or price for a message: thousands separators, at most 2 decimals, no trailing zeros
    ("10,000", "114,090,000", "-57,802.04", "2.53"); amounts under 1 KRW keep their digits."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    if not amount.is_finite():
        return str(value)
    if abs(amount) >= 1:
        amount = amount.quantize(Decimal("0.01"))
    amount = amount.normalize()
    return "0" if amount == 0 else f"{amount:,f}"


def volume_text(value: Any) -> str:
    """A coin volume for a message: every decimal that counts, no trailing zeros ("0.00008765", "1.5")."""
    try:
        volume = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    if not volume.is_finite():
        return str(value)
    volume = volume.normalize()
    return "0" if volume == 0 else f"{volume:f}"


def study_params_applied(*, actor: str, study: str, trial: int | None, strategy: str, params: dict[str, Any]) -> EngineEvent:
    """The best parameters of a parameter search written to the live strategy (after `config_changed` for the change itself)."""
    return event_record(
        kind=Kind.CONFIG_CHANGED,
        actor=actor,
        message=f"best parameters of study {study} (trial #{trial}) applied to {strategy} by {actor}",
        meta={"study": study, "trial": trial, "strategy": strategy, "params": params},
    )


def backtest_params_applied(
    *, actor: str, job: int, run: int, strategy: str, old: dict[str, Any], new: dict[str, Any]
) -> EngineEvent:
    """A console backtest's parameters written to the live strategy (after `config_changed` for the change itself)."""
    changed = {name: [old.get(name), value] for name, value in new.items() if old.get(name) != value}
    described = ", ".join(f"{name} {before} → {after}" for name, (before, after) in changed.items()) or "no change"
    return event_record(
        kind=Kind.CONFIG_CHANGED,
        actor=actor,
        message=f"parameters of backtest #{job} (run #{run}) applied to {strategy} by {actor}: {described}",
        meta={"backtest_job": job, "backtest_run": run, "strategy": strategy, "old": old, "new": new, "changed": changed},
    )


# ---------------------------------------------------------------------------------------------------
# Paused entries: a person's pause and resume, the exchange's maintenance
# ---------------------------------------------------------------------------------------------------
def entries_pause_set(*, actor: str, reason: str) -> EngineEvent:
    return event_record(
        kind=Kind.CONFIG_CHANGED,
        level=Level.WARNING,
        actor=actor,
        message=event_texts.english("entries_pause_set", actor=actor, reason=reason),
        meta={
            "what": "entries_pause",
            "paused": True,
            "reason": reason,
            "text": event_texts.meta("entries_pause_set", actor=actor, reason=reason),
        },
    )


def entries_pause_cleared(*, actor: str, reason: str) -> EngineEvent:
    code, params = ("entries_pause_cleared_reason", {"reason": reason}) if reason else ("entries_pause_cleared", {})
    return event_record(
        kind=Kind.CONFIG_CHANGED,
        actor=actor,
        message=event_texts.english(code, actor=actor, **params),
        meta={"what": "entries_pause", "paused": False, "reason": reason, "text": event_texts.meta(code, actor=actor, **params)},
    )


def market_offline_seen(*, error: BaseException, step: Literal["order", "market"], until: str) -> EngineEvent:
    """The exchange answered `market_offline` (Upbit's maintenance) while placing an order (`step` "order") or
    reading the market ("market"): recorded once when it starts, not every cycle."""
    code = f"market_offline_{step}"
    return event_record(
        kind=Kind.EXCHANGE_ERROR,
        level=Level.WARNING,
        actor="engine",
        message=event_texts.english(code, until=until) + f" ({error})",
        meta={"error_name": "market_offline", "step": step, "text": event_texts.meta(code, until=until)},
    )
