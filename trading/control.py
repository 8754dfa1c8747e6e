"""Start, Stop and Reset as a person presses them (dashboard, API, admin), and the way out of a stop that
no engine process is left to finish.

The transitions themselves are services (one conditional UPDATE and one event each); this module picks
which of them a person's command runs, given whether an engine process is alive.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_noop

from trading import selectors, services
from trading.errors import EngineOffline, TransitionNotAllowed
from trading.models import EngineState
from trading.services import Transition

State = EngineState.State

OFFLINE_STOP_REASON = "engine process offline: no cycle was running"
LOOKED_AT_BY_WEB = "web"
"""The actor of a stop settled because a page showed it, not because a person pressed anything."""
STOP_OFFLINE_NOTE = gettext_noop("The engine process is offline, so the stop completed at once.")


@dataclass(frozen=True)
class EngineCommandResult:
    transition: Transition
    completed_offline: bool = False
    """A Stop that completed at once because no engine process was running."""

    @property
    def note(self) -> str:
        return STOP_OFFLINE_NOTE if self.completed_offline else ""


def engine_command(*, action: str, actor: str, reason: str = "") -> EngineCommandResult:
    """Carry out Start, Stop or Reset for a person.

    Start needs a live engine process: pressing it while nothing would trade is refused (EngineOffline)
    rather than leaving a RUNNING state that no process acts on. Stop is never refused for that reason:
    when no engine process is alive (no heartbeat within ENGINE_STALE_AFTER_SEC, or its process is gone)
    no cycle is running, so the stop completes at once (RUNNING → STOPPING → IDLE, or STOPPING → IDLE)
    and the engine will not resume trading when it comes back. Reset only clears an error, so it works
    with or without the engine process.
    """
    if action not in ("start", "stop", "reset"):
        raise ValueError(f"unknown engine action {action!r}")
    state = EngineState.load()
    online = selectors.engine_online(state)
    if action == "stop":
        if online:
            return EngineCommandResult(services.engine_stop(actor=actor, reason=reason))
        return EngineCommandResult(_stop_offline(state.state, actor=actor, reason=reason), completed_offline=True)
    if not online:
        state = engine_stopping_settle(actor=actor, state=state)  # a stop nobody will finish does not block a Start
    if action == "start":
        if state.state == State.IDLE and not online and not services.live_mode_problem():
            raise EngineOffline(current=state.state)
        return EngineCommandResult(services.engine_start(actor=actor, reason=reason))
    return EngineCommandResult(services.engine_reset(actor=actor, reason=reason))


def _stop_offline(current: str, *, actor: str, reason: str) -> Transition:
    if current != State.STOPPING:
        services.engine_stop(actor=actor, reason=reason)  # RUNNING → STOPPING, or the refusal saying why not
    try:
        return services.engine_stop_complete(actor=actor, reason=OFFLINE_STOP_REASON)
    except TransitionNotAllowed:
        # The engine came back and finished the stop itself.
        now = EngineState.load()
        return Transition(old=State.STOPPING, new=now.state, at=now.state_since)


def engine_stopping_settle(*, actor: str, state: EngineState | None = None) -> EngineState:
    """STOPPING → IDLE when no engine process is alive to finish the stop (it crashed, was killed, or froze
    past ENGINE_STALE_AFTER_SEC): otherwise the row would say STOPPING forever and refuse Start and Reset.

    Called wherever the web shows or changes the engine's state; cheap when there is nothing to settle.
    Returns the row as it is now."""
    state = state or EngineState.load()
    if state.state != State.STOPPING or selectors.engine_online(state):
        return state
    try:
        services.engine_stop_complete(actor=actor, reason=OFFLINE_STOP_REASON)
    except TransitionNotAllowed:
        pass  # moved meanwhile (the engine finished it, or another request settled it)
    return EngineState.load()
