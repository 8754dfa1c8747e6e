"""Writes. Every change of the engine's state goes through one function per transition here.

Each transition is a conditional UPDATE on the singleton row: it happens exactly once however many
callers race, or it reports why not. The web process and the engine process both call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trading import events
from trading.models import EngineState, ManualOrderRequest

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
    try:
        number = Decimal(str(value).strip().replace(",", ""))
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
