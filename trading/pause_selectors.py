"""Reads about pausing new entries: the person's pause, the schedule's windows and the market's maintenance.

One answer for every door and for the engine: `entries_block(state, now)` says whether a new entry is refused
at `now` and why (the person's pause first, then a schedule window, then the exchange's `market_offline`).
`now` is whatever clock the caller trades by: the engine passes the exchange's time (the ticker's), the web
its own clock. Exits, protective stops and manual orders are never refused by any of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from exchange.redact import mask_configured_secrets as masked
from trading.models import EngineState
from trading.schedule_models import WEEK, PauseWindow

MARKET_OFFLINE_HOLD = timedelta(minutes=5)
"""How long after the exchange last said `market_offline` new entries stay refused (fail closed); an order the
exchange accepts in the meantime ends it sooner."""


@dataclass(frozen=True, slots=True)
class WindowTime:
    """One occurrence of a pause window: a one-off window, or this week's turn of a weekly one."""

    window_id: int
    label: str
    starts_at: datetime
    ends_at: datetime
    repeats_weekly: bool

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.window_id,
            "label": self.label,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "repeats_weekly": self.repeats_weekly,
        }


@dataclass(frozen=True, slots=True)
class EntriesBlock:
    """Why new entries are refused now. `rule` is the risk gate's rule name; `params` fill the sentence."""

    rule: str
    """entries_paused (a person's pause or a schedule window) or market_offline."""
    cause: str
    """manual, schedule or market_offline."""
    params: dict[str, str]


def occurrence_at(window: PauseWindow, now: datetime) -> WindowTime | None:
    """The occurrence of `window` that contains `now` (start included, end excluded), or None."""
    start, end = window.starts_at, window.ends_at
    if window.repeats_weekly and now >= start:
        turns = (now - start) // WEEK
        start, end = start + turns * WEEK, end + turns * WEEK
    if start <= now < end:
        return WindowTime(window.pk, window.label, start, end, window.repeats_weekly)
    return None


def occurrence_next(window: PauseWindow, now: datetime) -> WindowTime | None:
    """The first occurrence of `window` that starts after `now`, or None."""
    start, end = window.starts_at, window.ends_at
    if window.repeats_weekly and now >= start:
        turns = (now - start) // WEEK + 1
        start, end = start + turns * WEEK, end + turns * WEEK
    if start > now:
        return WindowTime(window.pk, window.label, start, end, window.repeats_weekly)
    return None


def _windows_in_play(now: datetime) -> list[PauseWindow]:
    return list(PauseWindow.objects.filter(Q(repeats_weekly=True) | Q(ends_at__gt=now), enabled=True).order_by("starts_at", "id"))


def pause_windows_around(now: datetime) -> tuple[WindowTime | None, WindowTime | None]:
    """The window in force at `now` (the one ending last when several overlap) and the next one to start."""
    current: WindowTime | None = None
    upcoming: WindowTime | None = None
    for window in _windows_in_play(now):
        running = occurrence_at(window, now)
        if running is not None and (current is None or running.ends_at > current.ends_at):
            current = running
        later = occurrence_next(window, now)
        if later is not None and (upcoming is None or later.starts_at < upcoming.starts_at):
            upcoming = later
    return current, upcoming


def market_offline_until(state: EngineState) -> datetime | None:
    """Until when the exchange's `market_offline` keeps entries refused, or None when it never said so."""
    return state.market_offline_at + MARKET_OFFLINE_HOLD if state.market_offline_at is not None else None


def _seoul(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}"


_UNREAD: Any = object()


def entries_block(state: EngineState, now: datetime, *, window: WindowTime | None = _UNREAD) -> EntriesBlock | None:
    """Why a new entry is refused at `now`, or None. `window` is the window in force (None: none), when the caller
    has read it already."""
    if state.entries_paused:
        return EntriesBlock(
            "entries_paused",
            "manual",
            {"actor": state.entries_paused_by or "?", "reason": masked(state.entries_paused_reason) or "-"},
        )
    if window is _UNREAD:
        window = pause_windows_around(now)[0]
    if window is not None:
        return EntriesBlock(
            "entries_paused",
            "schedule",
            {"label": window.label, "starts": _seoul(window.starts_at), "ends": _seoul(window.ends_at)},
        )
    until = market_offline_until(state)
    if until is not None and now < until:
        return EntriesBlock(
            "market_offline", "market_offline", {"since": _seoul(state.market_offline_at or now), "until": _seoul(until)}
        )
    return None


def entries_pause_status(state: EngineState, now: datetime | None = None) -> dict[str, Any]:
    """What the dashboard, the API, the admin and /metrics show about paused entries."""
    now = now or timezone.now()
    current, upcoming = pause_windows_around(now)
    block = entries_block(state, now, window=current)
    offline_until = market_offline_until(state)
    return {
        "entries_paused": block is not None,
        "entries_paused_cause": block.cause if block else None,
        "entries_paused_rule": block.rule if block else None,
        "entries_paused_params": block.params if block else {},
        "entries_paused_by_person": state.entries_paused,
        "entries_paused_reason": masked(state.entries_paused_reason),
        "entries_paused_by": state.entries_paused_by,
        "entries_paused_at": state.entries_paused_at,
        "pause_window_current": current.as_data() if current else None,
        "pause_window_next": upcoming.as_data() if upcoming else None,
        "market_offline": offline_until is not None and now < offline_until,
        "market_offline_at": state.market_offline_at,
        "market_offline_until": offline_until,
    }


def entries_pause_samples(state: EngineState, now: datetime | None = None) -> list[tuple[str, str, int]]:
    """The /metrics gauges: (name, help, value)."""
    status = entries_pause_status(state, now)
    return [
        (
            "entries_paused",
            "1 when new entries are refused (a person's pause, a schedule window or the market offline).",
            int(status["entries_paused"]),
        ),
        ("entries_paused_by_person", "1 while a person's pause of new entries is on.", int(state.entries_paused)),
        ("pause_window_active", "1 while a scheduled pause window is in force.", int(status["pause_window_current"] is not None)),
        (
            "market_offline",
            "1 while the exchange's market_offline (maintenance) keeps entries refused.",
            int(status["market_offline"]),
        ),
    ]
