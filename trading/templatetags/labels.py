"""Honest labels: where orders go (paper, SANDBOX, LIVE) for pages outside the dashboard, and how close a
risk limit is (within, at, over)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from exchange.account import PAPER_VENUE, SANDBOX_VENUE
from trading.accounts import venue_current
from trading.risk_levels import limit_level as level_of

register = template.Library()


@register.simple_tag
def venue_badge() -> SafeString:
    """A badge saying where orders go; the sandbox's says in words that no real money is involved."""
    venue = venue_current()
    if venue == SANDBOX_VENUE:
        return format_html(
            '<span class="venue-badge venue-sandbox" data-venue="sandbox" title="{}">SANDBOX · {}</span>',
            gettext("Orders go to the sandbox exchange: simulated, no real money"),
            gettext("no real money"),
        )
    if venue == PAPER_VENUE:
        return format_html(
            '<span class="venue-badge venue-paper" data-venue="paper" title="{}">PAPER</span>',
            gettext("Simulated orders with real market data"),
        )
    return format_html(
        '<span class="venue-badge venue-live" data-venue="live" title="{}">LIVE · {}</span>',
        gettext("Real orders with real money"),
        gettext("real money"),
    )


@register.simple_tag
def venue_name() -> str:
    """ "paper", "sandbox" or "live", for a template that words things differently for each."""
    return venue_current()


@register.filter
def limit_level(limit: object) -> str:
    """ "ok", "at" or "over" for a risk panel row (an object with `used` and `limit`)."""
    return level_of(getattr(limit, "used", None), getattr(limit, "limit", None))
