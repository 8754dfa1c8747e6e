"""The dashboard's live quote: the market stream's last price and top of book, polled every second.

Kept apart from the panels (views.py) because it runs on its own clock: one row read per poll, answered with
204 while nothing shown changed, so a second's poll stays cheap (bench/bench_stream.py measures it)."""

from __future__ import annotations

import hashlib

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_safe
from django_htmx.http import trigger_client_event

from trading.auth import VIEW_DASHBOARD
from trading.market_stream import live_quote_get
from trading.views import HtmxHttpRequest, permission_required

LIVE_POLL_SEC = 1


@require_safe
@permission_required(VIEW_DASHBOARD)
def live_quote(request: HtmxHttpRequest) -> HttpResponse:
    quote = live_quote_get()
    raw = f"live|{translation.get_language()}|{quote.version}".encode()
    etag = '"' + hashlib.blake2s(raw, digest_size=10).hexdigest() + '"'
    if etag in {tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")}:
        response = HttpResponse(status=204)  # htmx leaves the quote as it is
    else:
        response = render(request, "trading/live.html", {"quote": quote, "poll_sec": LIVE_POLL_SEC, "etag": etag})
        seen = request.GET.get("fills", "")
        if seen and seen != str(quote.fills):
            # A fill since the page's last look: every panel (orders, balance, PnL) refreshes now, not at its next poll.
            trigger_client_event(response, "engineChanged")
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache, private"
    return response
