"""Event sentences a person reads in their own language: why an order was held up, refused or not sent.

An event's `message` is stored in English (logs, the API, the admin). Events written with one of these
sentences also carry `meta["text"] = {"code": …, "params": {…}}`; the dashboard shows `shown(event)`, the
same sentence in the active language. The person's sentences are marked with `gettext_noop` so
`makemessages` finds them; those the Korean catalog has no entry for stay English.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext

from trading.sentence_shapes import EVENT_SENTENCES as SENTENCES
from trading.sentences import shown_params, shown_sentence


def english(code: str, **params: Any) -> str:
    return SENTENCES[code] % params


def meta(code: str, **params: Any) -> dict[str, Any]:
    """The `meta["text"]` entry for an event written with sentence `code`."""
    return {"code": code, "params": {name: str(value) for name, value in params.items()}}


def shown(message: str, event_meta: Mapping[str, Any] | None) -> str:
    """The event's sentence in the active language: from its code when it has one (a parameter holding a sentence
    of its own, a reason or an error, translated in turn), else its stored `message` recognised by shape
    (`trading.sentences`), else the stored `message` as it is."""
    text = (event_meta or {}).get("text")
    if not isinstance(text, Mapping) or text.get("code") not in SENTENCES or not isinstance(text.get("params"), Mapping):
        return shown_sentence(message)
    try:
        return str(gettext(SENTENCES[text["code"]]) % shown_params(text["params"]))
    except (KeyError, TypeError, ValueError):
        return shown_sentence(message)
