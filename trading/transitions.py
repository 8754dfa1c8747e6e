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


def allowed_actions(state: str) -> dict[str, bool]:
    """Which of Start, Stop and Reset a person may press in `state`."""
    return {action: state in ALLOWED_FROM[action] for action in ("start", "stop", "reset")}
