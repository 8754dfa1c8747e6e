"""The one place engine events are written. Every audit row goes through `event_record`."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from exchange.redact import mask_secrets, mask_text
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


def _configured_secrets() -> tuple[str, ...]:
    return tuple(
        value
        for value in (
            settings.UPBIT_ACCESS_KEY,
            settings.UPBIT_SECRET_KEY,
            settings.AUTOCOIN_API_TOKEN,
            settings.TELEGRAM_BOT_TOKEN,
            settings.SECRET_KEY,
        )
        if value
    )


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
    secrets = _configured_secrets()
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
