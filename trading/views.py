"""The web's doors: thin views that call selectors and services."""

from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from trading import selectors


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for monitors: no auth, no secrets; 503 when the database does not answer."""
    try:
        status = selectors.engine_health()
    except DatabaseError:
        return JsonResponse({"ok": False, "database": "unreachable", "ts": timezone.now().isoformat()}, status=503)
    return JsonResponse({"ok": True, "database": "ok", **status, "ts": timezone.now().isoformat()})
