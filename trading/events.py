"""The one place engine events are written. Every audit row goes through `event_record`."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from exchange.redact import configured_secrets, mask_secrets, mask_text
from trading.models import EngineEvent, EngineState

logger = logging.getLogger("autocoin.events")

Kind = EngineEvent.Kind
Level = EngineEvent.Level

_LOG_LEVELS = {
    Level.DEBUG: logging.DEBUG,
    Level.INFO: logging.INFO,
    Level.WARNING: logging.WARNING,
    Level.ERROR: logging.ERROR,
}


def event_record(
    *,
    kind: str,
    message: str,
    level: str = Level.INFO,
    actor: str = "",
    meta: dict[str, Any] | None = None,
    state: str | None = None,
) -> EngineEvent:
    """Write one audit row (secrets masked) and mirror it to the log."""
    secrets = configured_secrets()
    if state is None:
        state = EngineState.objects.values_list("state", flat=True).filter(pk=EngineState.SINGLETON_PK).first() or ""
    event = EngineEvent.objects.create(
        kind=kind,
        level=level,
        actor=actor[:150],
        state=state,
        message=mask_text(message, secrets),
        meta=mask_secrets(meta or {}, secrets),
    )
    logger.log(_LOG_LEVELS.get(level, logging.INFO), "%s: %s", kind, event.message)
    return event


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


def engine_released(*, owner: str, reason: str) -> EngineEvent:
    return event_record(
        kind=Kind.ENGINE_RELEASED, actor="engine", message=f"Engine process {owner} exited: {reason}", meta={"owner": owner}
    )


def order_event(
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
    return event_record(kind=kind, level=level, actor="engine", message=message, meta=meta)


def fill_recorded(*, fill: Any) -> EngineEvent:
    order = fill.order
    return event_record(
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
