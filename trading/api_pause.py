"""The JSON API's pause of new entries (docs/API.md): `POST /api/engine/pause-entries` and `/resume-entries`.

Built on trading/api.py's envelope, authentication, CSRF and body parsing; the permission is the engine's
(control_engine). Both are idempotent: pausing while paused answers 200 with `changed: false`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from trading import pause_services
from trading.api import REASON_MAX, _json_body, _query, _text_field, api_view, status_data
from trading.auth import CONTROL_ENGINE


def _answer(change: pause_services.PauseChange, actor: str) -> tuple[dict[str, Any], int]:
    return {"paused": change.paused, "changed": change.changed, "actor": actor, "status": status_data()}, 200


@api_view("POST", perm=CONTROL_ENGINE)
def engine_pause_entries(request: HttpRequest, actor: str) -> tuple[Any, int]:
    _query(request, ())
    reason = _text_field(_json_body(request, ("reason",)), "reason", max_length=REASON_MAX)
    return _answer(pause_services.entries_pause(actor=actor, reason=reason), actor)


@api_view("POST", perm=CONTROL_ENGINE)
def engine_resume_entries(request: HttpRequest, actor: str) -> tuple[Any, int]:
    _query(request, ())
    reason = _text_field(_json_body(request, ("reason",)), "reason", max_length=REASON_MAX)
    return _answer(pause_services.entries_resume(actor=actor, reason=reason), actor)
