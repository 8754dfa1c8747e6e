"""Writes about pausing new entries: a person's pause and resume, and the exchange's `market_offline`.

A pause stops the engine from opening or adding to a position; strategy exits, protective stops (stop-loss,
trailing stop, take-profit, the kill-switch's close) and manual orders keep working. Each write is one
conditional UPDATE of the state row with its event, so a double click pauses once and records one event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from trading import events
from trading.models import EngineState
from trading.pause_selectors import MARKET_OFFLINE_HOLD
from trading.schedule_models import PauseWindow

REASON_MAX = 500


@dataclass(frozen=True, slots=True)
class PauseChange:
    """The outcome of a pause or resume: `changed` is False when entries already were as asked."""

    paused: bool
    changed: bool


def _row() -> None:
    EngineState.load()  # the row exists (a migration creates it; a test database may start without it)


def entries_pause(*, actor: str, reason: str = "") -> PauseChange:
    """Pause new entries until a person resumes them. Pausing while paused changes nothing and records nothing."""
    reason = (reason.strip() or "paused by a person")[:REASON_MAX]
    _row()
    with transaction.atomic():
        changed = EngineState.objects.filter(pk=EngineState.SINGLETON_PK, entries_paused=False).update(
            entries_paused=True, entries_paused_reason=reason, entries_paused_by=actor[:150], entries_paused_at=timezone.now()
        )
        if changed:
            events.entries_pause_set(actor=actor, reason=reason)
    return PauseChange(paused=True, changed=bool(changed))


def entries_resume(*, actor: str, reason: str = "") -> PauseChange:
    """Let the engine open positions again. Resuming while not paused changes nothing and records nothing.

    A schedule window or the exchange's maintenance still refuses entries while they last."""
    _row()
    with transaction.atomic():
        changed = EngineState.objects.filter(pk=EngineState.SINGLETON_PK, entries_paused=True).update(
            entries_paused=False, entries_paused_reason="", entries_paused_by=actor[:150], entries_paused_at=timezone.now()
        )
        if changed:
            events.entries_pause_cleared(actor=actor, reason=reason.strip()[:REASON_MAX])
    return PauseChange(paused=False, changed=bool(changed))


def market_offline_record(*, error: BaseException, step: Literal["order", "market"], now: datetime) -> bool:
    """The exchange answered `market_offline` at `now`: entries stay refused for MARKET_OFFLINE_HOLD after it.

    The event is written when maintenance starts (no mark, or the last one has run out), not on every answer."""
    until = now - MARKET_OFFLINE_HOLD
    with transaction.atomic():
        fresh = EngineState.objects.filter(
            Q(market_offline_at__isnull=True) | Q(market_offline_at__lt=until), pk=EngineState.SINGLETON_PK
        ).update(market_offline_at=now)
        if not fresh:
            EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(market_offline_at=now)
            return False
        shown = f"{timezone.localtime(now + MARKET_OFFLINE_HOLD):%Y-%m-%d %H:%M:%S}"
        events.market_offline_seen(error=error, step=step, until=shown)
    return True


def market_offline_clear() -> bool:
    """The exchange accepted an order: the market is open again, whatever the hold said."""
    return bool(
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK, market_offline_at__isnull=False).update(market_offline_at=None)
    )


def _window_shown(window: PauseWindow) -> dict[str, Any]:
    return {
        "label": window.label,
        "starts_at": f"{timezone.localtime(window.starts_at):%Y-%m-%d %H:%M:%S}",
        "ends_at": f"{timezone.localtime(window.ends_at):%Y-%m-%d %H:%M:%S}",
        "repeats_weekly": window.repeats_weekly,
        "enabled": window.enabled,
    }


def pause_window_save(*, window: PauseWindow, actor: str) -> PauseWindow:
    """Create or change a pause window (validated first) and record who did it; the engine reads it next cycle."""
    old = _window_shown(PauseWindow.objects.get(pk=window.pk)) if window.pk else None
    window.updated_by = actor[:150]
    window.full_clean()
    with transaction.atomic():
        window.save()
        events.config_changed(actor=actor, what=f"pause window #{window.pk}", old=old, new=_window_shown(window))
    return window


def pause_window_delete(*, window: PauseWindow, actor: str) -> None:
    with transaction.atomic():
        events.config_changed(actor=actor, what=f"pause window #{window.pk}", old=_window_shown(window), new=None)
        window.delete()
