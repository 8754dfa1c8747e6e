"""The dashboard's Pause entries / Resume entries buttons, on the engine panel.

Kept apart from views.py (the engine's Start / Stop / Reset) because it changes no state of the state machine:
it only tells the engine to open no new position. The answer is the engine panel, re-rendered.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from trading import pause_services
from trading.auth import CONTROL_ENGINE
from trading.models import EngineState
from trading.views import HtmxHttpRequest, _engine_context, _panel_render, actor_of, permission_required

REASON_MAX = pause_services.REASON_MAX


@require_POST
@permission_required(CONTROL_ENGINE)
def entries_action(request: HtmxHttpRequest, action: str) -> HttpResponse:
    if action not in ("pause", "resume"):
        raise Http404("no such action")
    reason = request.POST.get("reason", "")[:REASON_MAX]
    if action == "pause":
        change = pause_services.entries_pause(actor=actor_of(request), reason=reason or "paused from the dashboard")
        notice = _("New entries paused: exits, protective stops and manual orders still run.")
        if not change.changed:
            notice = _("New entries were already paused.")
    else:
        change = pause_services.entries_resume(actor=actor_of(request), reason=reason)
        notice = _("New entries resumed.")
        if not change.changed:
            notice = _("New entries were not paused.")
    if not request.htmx:
        messages.success(request, notice)
        return redirect("dashboard")
    state = EngineState.load()
    response = _panel_render(request, "engine", state, {**_engine_context(state), "notice": notice})
    return trigger_client_event(response, "engineChanged", {"action": action, "ok": True})
