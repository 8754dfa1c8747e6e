"""The dashboard's live quote: the market stream's last price and top of book, polled every second.

Kept apart from the panels (views.py) because it runs on its own clock: one row read per poll, answered with
204 while nothing shown changed, so a second's poll stays cheap (bench/bench_stream.py measures it)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django_htmx.http import trigger_client_event

from trading.auth import VIEW_DASHBOARD
from trading.market_stream import live_quote_context
from trading.views import HtmxHttpRequest, permission_required


@require_safe
@permission_required(VIEW_DASHBOARD)
def live_quote(request: HtmxHttpRequest) -> HttpResponse:
    context = live_quote_context()
    quote, etag = context["quote"], context["etag"]
    if etag in {tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")}:
        response = HttpResponse(status=204)  # htmx leaves the quote as it is
    else:
        response = render(request, "trading/live.html", context)
        seen = request.GET.get("fills", "")
        if seen and seen != str(quote.fills):
            # A fill since the page's last look: every panel (orders, balance, PnL) refreshes now, not at its next poll.
            trigger_client_event(response, "engineChanged")
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache, private"
    return response
