"""Event sentences a person reads in their own language: why an order was held up, refused or not sent.

An event's `message` is stored in English (logs, the API, the admin). Events written with one of these
sentences also carry `meta["text"] = {"code": …, "params": {…}}`; the dashboard shows `shown(event)`, the
same sentence in the active language. The person's sentences are marked with `gettext_noop` so
`makemessages` finds them; those the Korean catalog has no entry for stay English.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext, gettext_noop

from trading.sentences import shown_sentence

SENTENCES: dict[str, str] = {
    "open_order": gettext_noop(
        "order %(identifier)s is still open on the exchange (WAIT): no new order on %(market)s until it is filled or cancelled"
    ),
    "unsettled_order": gettext_noop("order %(identifier)s is still %(status)s: its outcome must be known first"),
    "position_locked": gettext_noop(
        "position cap: %(krw_locked)s KRW locked in open buy orders already counts as position, so this buy would "
        "exceed MAX_POSITION_RATIO=%(ratio)s"
    ),
    "order_rate_limited": gettext_noop(
        "Order not placed: Upbit refused it for its rate limit (HTTP 429): %(order)s; the engine waits before the next order"
    ),
    "stream_fresh": gettext_noop("Market data from the WebSocket stream: the stream is connected and fresh"),
    "stream_disconnected": gettext_noop("Market data from REST polling: the stream is disconnected (%(error)s)"),
    "stream_silent": gettext_noop(
        "Market data from REST polling: the stream has been silent for %(seconds)s s (STREAM_STALE_SEC=%(limit)s)"
    ),
    "stream_no_ticker": gettext_noop("Market data from REST polling: the stream has sent no ticker yet"),
    "claim_lost": gettext_noop(
        "Order on %(market)s not sent: another engine process (%(owner)s) owns the engine now; this process stops trading"
    ),
    "entries_paused_manual": gettext_noop(
        "new entries paused by %(actor)s (%(reason)s); exits, protective stops and manual orders still run"
    ),
    "entries_paused_schedule": gettext_noop(
        "new entries paused by the schedule window “%(label)s” (%(starts)s – %(ends)s, Seoul time)"
    ),
    "entries_paused_market_offline": gettext_noop(
        "market offline (Upbit maintenance) since %(since)s: no new entries until %(until)s (Seoul time)"
    ),
    "entries_pause_set": gettext_noop("New entries paused by %(actor)s: %(reason)s"),
    "entries_pause_cleared": gettext_noop("New entries resumed by %(actor)s"),
    "market_offline_order": gettext_noop(
        "Market offline (Upbit maintenance) while placing an order: no new entries until %(until)s (Seoul time)"
    ),
    "market_offline_market": gettext_noop(
        "Market offline (Upbit maintenance) while reading the market: no new entries until %(until)s (Seoul time)"
    ),
}


def english(code: str, **params: Any) -> str:
    return SENTENCES[code] % params


def meta(code: str, **params: Any) -> dict[str, Any]:
    """The `meta["text"]` entry for an event written with sentence `code`."""
    return {"code": code, "params": {name: str(value) for name, value in params.items()}}


def shown(message: str, event_meta: Mapping[str, Any] | None) -> str:
    """The event's sentence in the active language: from its code when it has one, else its stored `message`
    recognised by shape (`trading.sentences`), else the stored `message` as it is."""
    text = (event_meta or {}).get("text")
    if not isinstance(text, Mapping) or text.get("code") not in SENTENCES or not isinstance(text.get("params"), Mapping):
        return shown_sentence(message)
    try:
        return str(gettext(SENTENCES[text["code"]]) % text["params"])
    except (KeyError, TypeError, ValueError):
        return shown_sentence(message)
