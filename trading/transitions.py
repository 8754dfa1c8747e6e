"""The engine state machine's table: from which states each command may run.

Services enforce it (a conditional UPDATE per transition); selectors read it to tell a person which
buttons work right now. Both import it from here, so neither has to import the other.
"""

from __future__ import annotations

from trading.models import EngineState

State = EngineState.State

ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "start": (State.IDLE,),
    "stop": (State.RUNNING,),
    "stop_complete": (State.STOPPING,),
    "fail": (State.RUNNING, State.STOPPING),
    "reset": (State.ERROR,),
}


STOP_OFFLINE_FROM: tuple[str, ...] = (State.RUNNING, State.STOPPING)
"""With no engine process alive, Stop completes at once from these (no cycle is running to finish first)."""


def allowed_actions(state: str, *, engine_online: bool = True) -> dict[str, bool]:
    """Which of Start, Stop and Reset a person may press in `state`."""
    allowed = {action: state in ALLOWED_FROM[action] for action in ("start", "stop", "reset")}
    if not engine_online:
        allowed["stop"] = state in STOP_OFFLINE_FROM
    return allowed
