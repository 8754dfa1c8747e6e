"""Reads for the dashboard, the API and the admin."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from trading.models import EngineState


def engine_state_get() -> EngineState:
    return EngineState.load()


def heartbeat_age_sec(state: EngineState) -> float | None:
    if state.heartbeat_at is None:
        return None
    return round((timezone.now() - state.heartbeat_at).total_seconds(), 3)


def engine_online(state: EngineState) -> bool:
    age = heartbeat_age_sec(state)
    return bool(state.owner) and age is not None and age <= settings.ENGINE_STALE_AFTER_SEC


def engine_health() -> dict[str, Any]:
    state = engine_state_get()
    return {
        "state": state.state,
        "engine_online": engine_online(state),
        "heartbeat_age_sec": heartbeat_age_sec(state),
        "kill_switch": state.kill_switch,
    }
