"""The services' refusals: each carries a stable `code` and the `params` its sentence is built from.

`message` is the English sentence (logs, the engine, the JSON API). `text()` is the same refusal for a
person, in the active language: the dashboard and the admin show that. Sentences are marked with
`gettext_noop` so `makemessages` finds them; those the Korean catalog has no entry for stay English.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext, gettext_noop

from trading.labels import code_label

# Translated where a person reads it (`text()`); the English stays in `message` for logs and the API.
ENGINE_OFFLINE_HINT = gettext_noop("start it with `python manage.py runengine` (or `make run`)")


class ServiceError(Exception):
    """A refusal by a service. `code` is stable (callers branch on it); `params` fill its sentences."""

    # code → (English sentence for `message`, str.format style; the person's sentence, %-style, or None for
    # the English one). The person's sentence may quote differently: it shows the value as they typed it.
    SENTENCES: ClassVar[dict[str, tuple[str, str | None]]] = {}

    def __init__(self, code: str, **params: Any) -> None:
        english, _shown = self.SENTENCES[code]
        self.code = code
        self.params = params
        self.message = english.format(**params)
        super().__init__(self.message)

    def text(self) -> str:
        """The refusal in the active language (the English `message` where no translation exists)."""
        english, shown = self.SENTENCES[self.code]
        if shown is None:
            params = {name: _shown_value(name, value) for name, value in self.params.items()}
            return gettext(english).format(**params)
        return gettext(shown) % {name: _shown_value(name, value) for name, value in self.params.items()}


def _shown_value(name: str, value: Any) -> str:
    """A parameter as a person reads it: the engine's state by its name in the active language (trading.labels)."""
    if name == "hint":
        return gettext(value)
    return code_label(value, "state") if name == "current" else str(value)


class TransitionNotAllowed(ServiceError):
    """The requested engine command is not allowed in the engine's current state; the text says why.

    `current` is the engine's state when the command was refused."""

    SENTENCES: ClassVar[dict[str, tuple[str, str | None]]] = {
        "start_not_allowed": (gettext_noop("Start is only possible from IDLE; the engine is {current}"), None),
        "stop_not_allowed": (gettext_noop("Stop is only possible from RUNNING; the engine is {current}"), None),
        "stop_complete_not_allowed": (
            gettext_noop("Finishing a stop is only possible from STOPPING; the engine is {current}"),
            None,
        ),
        "fail_not_allowed": (gettext_noop("ERROR can only be entered from RUNNING or STOPPING; the engine is {current}"), None),
        "reset_not_allowed": (gettext_noop("Reset is only possible from ERROR; the engine is {current}"), None),
        "start_after_error": (
            gettext_noop("Start is only possible from IDLE; the engine is {current} (press Reset first)"),
            None,
        ),
        "reset_while_running": (
            gettext_noop("Reset is only possible from ERROR; the engine is {current} (Reset is for clearing an error; use Stop)"),
            None,
        ),
        "live_keys_missing": (
            gettext_noop(
                "Start refused: Live mode (PAPER_MODE=false) needs {missing}; set them in .env, "
                "or set PAPER_MODE=true to trade on paper"
            ),
            None,
        ),
        "engine_offline": (
            gettext_noop("Start refused: the engine process is offline; {hint}, then press Start again"),
            None,
        ),
        "paper_reset_while_trading": (
            gettext_noop("Paper account reset is refused while the engine is {current}; stop it first"),
            None,
        ),
    }

    def __init__(self, code: str, *, current: str, **params: Any) -> None:
        super().__init__(code, current=current, **params)
        self.current = current


class EngineOffline(TransitionNotAllowed):
    """Start was refused because no engine process is alive to act on it."""

    def __init__(self, *, current: str) -> None:
        super().__init__("engine_offline", current=current, hint=ENGINE_OFFLINE_HINT)


class ManualOrderRefused(ServiceError):
    """A manual order asked for while the engine would not carry it out soon: it is refused, never queued."""

    SENTENCES: ClassVar[dict[str, tuple[str, str | None]]] = {
        "engine_not_running": (
            gettext_noop("Manual order refused: the engine is {current}; manual orders are only accepted while it runs"),
            None,
        ),
        "engine_offline": (
            gettext_noop(
                "Manual order refused: the engine process is offline; manual orders are only accepted while it runs ({hint})"
            ),
            None,
        ),
    }

    def __init__(self, code: str, *, current: str) -> None:
        super().__init__(code, current=current, hint=ENGINE_OFFLINE_HINT)
        self.current = current


class ManualRequestNotCancellable(ServiceError):
    """A cancel of a manual request that is unknown or no longer waiting (the engine took it, or it ended)."""

    SENTENCES: ClassVar[dict[str, tuple[str, str | None]]] = {
        "unknown_request": (gettext_noop("There is no manual order #{request_id}"), None),
        "not_pending": (
            gettext_noop("Manual order #{request_id} can no longer be cancelled: it is {status}"),
            None,
        ),
    }

    def __init__(self, code: str, *, request_id: object, status: str = "") -> None:
        super().__init__(code, request_id=request_id, status=status)
        self.status = status


class InvalidInput(ServiceError, ValueError):
    """Bad input from a person or a script; `field` names what was wrong."""

    SENTENCES: ClassVar[dict[str, tuple[str, str | None]]] = {
        "float_amount": ('send the number as a string, for example "10000"', None),
        "not_a_number": ("{value!r} is not a number", gettext_noop("“%(value)s” is not a number")),
        "not_positive": ("{value!r} must be a positive number", gettext_noop("“%(value)s” must be a positive number")),
        "too_many_decimals": (
            "{value!r} has more than 8 decimal places",
            gettext_noop("“%(value)s” has more than 8 decimal places"),
        ),
        "too_large": ("{value!r} is too large", gettext_noop("“%(value)s” is too large")),
        "below_minimum": (
            "{value} KRW is below Upbit's minimum order of 5,000 KRW",
            gettext_noop("%(value)s KRW is below Upbit's minimum order of 5,000 KRW"),
        ),
        "over_max_order": (
            "{value} KRW is over the largest order allowed, {limit} KRW (MAX_ORDER_KRW)",
            gettext_noop("%(value)s KRW is over the largest order allowed, %(limit)s KRW (MAX_ORDER_KRW)."),
        ),
        "over_balance": (
            "{value} KRW is more than the KRW balance can pay with the fee: at most {limit} KRW",
            gettext_noop("%(value)s KRW is more than the KRW balance can pay with the fee: at most %(limit)s KRW."),
        ),
        "over_position_cap": (
            "{value} KRW would take the position over its cap of {ratio}% of total equity (MAX_POSITION_RATIO): "
            "at most {limit} KRW more",
            gettext_noop(
                "%(value)s KRW would take the position over its cap of %(ratio)s%% of total equity (MAX_POSITION_RATIO): "
                "at most %(limit)s KRW more."
            ),
        ),
        "buy_needs_krw": ("a buy needs the KRW amount to spend", gettext_noop("A buy needs the KRW amount to spend.")),
        "sell_needs_volume": (
            'a sell needs the volume to sell (or "all")',
            gettext_noop("A sell needs the volume to sell (or “all”)."),
        ),
        "unknown_kind": ("{value!r} is not one of {choices}", gettext_noop("Choose one of the listed orders.")),
        "unknown_strategy": ("{value!r} is not a known strategy", None),
        "params_not_object": ("parameters must be a JSON object", None),
        "invalid_params": ("{problem}", None),
        "days_too_small": ("{value} must be at least 1", None),
        "no_orders_selected": ("select at least one order", None),
        "unknown_orders": ("no order with id {ids}", None),
        "invalid_amount": ("{problem}", None),
    }

    def __init__(self, field: str, code: str, **params: Any) -> None:
        super().__init__(code, **params)
        self.field = field
        # "field: sentence", as callers that print the exception itself have always shown it.
        self.args = (f"{field}: {self.message}",)
