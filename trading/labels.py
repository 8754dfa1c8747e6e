"""The visible names of the codes a page shows as badges (engine state, order status and type, side, signal
action, event level and kind, manual request status and kind, mode, study state) or inside a sentence (an
order's source, the rule behind a decision), in the active language.

The code itself is each name's English text, so English pages read as before (RUNNING, WAIT, buy); the Korean
catalogue names them in Korean. The codes stay what machines read: the API's JSON, `data-*` attributes and CSS
classes carry them unchanged; only the visible text is translated."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.functional import Promise
from django.utils.translation import get_language, pgettext_lazy

LABELS: Mapping[str, Mapping[str, str | Promise]] = {
    "state": {
        "IDLE": pgettext_lazy("engine state", "IDLE"),
        "RUNNING": pgettext_lazy("engine state", "RUNNING"),
        "STOPPING": pgettext_lazy("engine state", "STOPPING"),
        "ERROR": pgettext_lazy("engine state", "ERROR"),
    },
    "order_status": {
        "NEW": pgettext_lazy("order status", "NEW"),
        "WAIT": pgettext_lazy("order status", "WAIT"),
        "DONE": pgettext_lazy("order status", "DONE"),
        "CANCEL": pgettext_lazy("order status", "CANCEL"),
        "REJECTED": pgettext_lazy("order status", "REJECTED"),
        "UNKNOWN": pgettext_lazy("order status", "UNKNOWN"),
        "ABSENT": pgettext_lazy("order status", "ABSENT"),
    },
    "order_type": {
        "limit": pgettext_lazy("order type", "limit"),
        "price": pgettext_lazy("order type", "price"),
        "market": pgettext_lazy("order type", "market"),
        "best": pgettext_lazy("order type", "best"),
    },
    "side": {
        "buy": pgettext_lazy("order side", "buy"),
        "sell": pgettext_lazy("order side", "sell"),
    },
    "action": {
        "BUY": pgettext_lazy("signal action", "BUY"),
        "SELL": pgettext_lazy("signal action", "SELL"),
        "HOLD": pgettext_lazy("signal action", "HOLD"),
    },
    "level": {
        "DEBUG": pgettext_lazy("event level", "DEBUG"),
        "INFO": pgettext_lazy("event level", "INFO"),
        "WARNING": pgettext_lazy("event level", "WARNING"),
        "ERROR": pgettext_lazy("event level", "ERROR"),
    },
    "kind": {
        "state_changed": pgettext_lazy("event kind", "state_changed"),
        "transition_refused": pgettext_lazy("event kind", "transition_refused"),
        "engine_claimed": pgettext_lazy("event kind", "engine_claimed"),
        "engine_released": pgettext_lazy("event kind", "engine_released"),
        "engine_refused": pgettext_lazy("event kind", "engine_refused"),
        "cycle": pgettext_lazy("event kind", "cycle"),
        "signal": pgettext_lazy("event kind", "signal"),
        "risk_blocked": pgettext_lazy("event kind", "risk_blocked"),
        "order_intent": pgettext_lazy("event kind", "order_intent"),
        "order_submitted": pgettext_lazy("event kind", "order_submitted"),
        "order_rejected": pgettext_lazy("event kind", "order_rejected"),
        "order_unknown": pgettext_lazy("event kind", "order_unknown"),
        "order_reconciled": pgettext_lazy("event kind", "order_reconciled"),
        "order_cancelled": pgettext_lazy("event kind", "order_cancelled"),
        "fill": pgettext_lazy("event kind", "fill"),
        "balance": pgettext_lazy("event kind", "balance"),
        "pnl": pgettext_lazy("event kind", "pnl"),
        "kill_switch": pgettext_lazy("event kind", "kill_switch"),
        "exchange_error": pgettext_lazy("event kind", "exchange_error"),
        "config_changed": pgettext_lazy("event kind", "config_changed"),
        "paper_reset": pgettext_lazy("event kind", "paper_reset"),
        "manual_order": pgettext_lazy("event kind", "manual_order"),
        "notification": pgettext_lazy("event kind", "notification"),
        "market_stream": pgettext_lazy("event kind", "market_stream"),
        "error": pgettext_lazy("event kind", "error"),
    },
    "manual_status": {
        "PENDING": pgettext_lazy("manual request status", "PENDING"),
        "PROCESSING": pgettext_lazy("manual request status", "PROCESSING"),
        "DONE": pgettext_lazy("manual request status", "DONE"),
        "REJECTED": pgettext_lazy("manual request status", "REJECTED"),
        "CANCELLED": pgettext_lazy("manual request status", "CANCELLED"),
        "EXPIRED": pgettext_lazy("manual request status", "EXPIRED"),
    },
    "manual_kind": {
        "buy": pgettext_lazy("manual request kind", "buy"),
        "sell": pgettext_lazy("manual request kind", "sell"),
        "sell_all": pgettext_lazy("manual request kind", "sell_all"),
        "close": pgettext_lazy("manual request kind", "close"),
    },
    "mode": {
        "paper": pgettext_lazy("trading mode", "paper"),
        "live": pgettext_lazy("trading mode", "live"),
    },
    "study_state": {
        "RUNNING": pgettext_lazy("study state", "RUNNING"),
        "INTERRUPTED": pgettext_lazy("study state", "INTERRUPTED"),
        "FINISHED": pgettext_lazy("study state", "FINISHED"),
    },
    "intent_source": {
        "strategy": pgettext_lazy("order source", "strategy"),
        "exit_rule": pgettext_lazy("order source", "exit_rule"),
        "manual": pgettext_lazy("order source", "manual"),
    },
    "decision_reason": {
        "entry": pgettext_lazy("decision reason", "entry"),
        "exit_signal": pgettext_lazy("decision reason", "exit_signal"),
        "day_end": pgettext_lazy("decision reason", "day_end"),
        "day_changed": pgettext_lazy("decision reason", "day_changed"),
        "stop_loss": pgettext_lazy("decision reason", "stop_loss"),
        "take_profit": pgettext_lazy("decision reason", "take_profit"),
        "trailing_stop": pgettext_lazy("decision reason", "trailing_stop"),
        "atr_stop": pgettext_lazy("decision reason", "atr_stop"),
        "volatility": pgettext_lazy("decision reason", "volatility"),
        "holding": pgettext_lazy("decision reason", "holding"),
        "no_signal": pgettext_lazy("decision reason", "no_signal"),
        "nothing_to_sell": pgettext_lazy("decision reason", "nothing_to_sell"),
        "warmup": pgettext_lazy("decision reason", "warmup"),
        "no_history": pgettext_lazy("decision reason", "no_history"),
    },
    # The live pre-flight's checks (exchange/preflight.py), as a failed pre-flight's event names them.
    "preflight_check": {
        "keys_set": pgettext_lazy("pre-flight check", "keys_set"),
        "key_expiry": pgettext_lazy("pre-flight check", "key_expiry"),
        "keys_accepted": pgettext_lazy("pre-flight check", "keys_accepted"),
        "market": pgettext_lazy("pre-flight check", "market"),
        "balance": pgettext_lazy("pre-flight check", "balance"),
        "test_order": pgettext_lazy("pre-flight check", "test_order"),
    },
}


def code_label(code: object, group: str) -> str:
    """The visible name of `code` in `group` (a key of LABELS), in the active language; an unknown code as it is."""
    if code is None:
        return ""
    key = (get_language(), group, str(code))
    shown = _shown.get(key)
    if shown is None:
        text = LABELS.get(group, {}).get(key[2])
        if text is None:
            return key[2]
        shown = _shown[key] = str(text)
    return shown


# The polled panels show a label per row: each known (language, group, code) is looked up in the catalogue once.
_shown: dict[tuple[str | None, str, str], str] = {}
