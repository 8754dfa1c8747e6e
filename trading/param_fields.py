"""Form fields built from a strategy's parameter specs (trading/strategies/params.py), for the admin's strategy
parameter page and the console's backtest form: one field per parameter, prefilled with the current value,
its help, default and allowed range shown next to it, validated by the strategy's own validation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext, gettext_noop

from trading.sentences import shown_sentence
from trading.strategies import registry
from trading.strategies.params import ParamSpec

PREFIX = "param_"

# The strategies' own words (trading/strategies/ is pure Python, with no Django to mark them): listed here so the
# Korean catalogue keeps them; a test fails when a strategy gains a parameter whose help is missing here.
STRATEGY_TEXTS = (
    gettext_noop("MACD crossover"),
    gettext_noop("SMA crossover"),
    gettext_noop("Volatility breakout (Larry Williams)"),
    gettext_noop("RSI momentum"),
    gettext_noop("the fast EMA period, in candles"),
    gettext_noop("the slow EMA period, in candles (more than fast)"),
    gettext_noop("the signal line's EMA period, in candles"),
    gettext_noop("the candle length in minutes the strategy runs on"),
    gettext_noop("sell when the close is this many percent above the average buy price"),
    gettext_noop("sell when the close is this many percent below the average buy price"),
    gettext_noop("sell when the close is this many percent below the highest price since entry"),
    gettext_noop("the ATR period (Wilder's average true range), in candles"),
    gettext_noop(
        "sell when the close is this many ATRs below the entry price (below the highest price since entry with atr_trailing 1)"
    ),
    gettext_noop("1: the ATR stop measures from the highest price since entry; 0: from the entry price"),
    gettext_noop("no new entries while ATR(atr_period) / close * 100 is above this"),
    gettext_noop("the fast SMA period, in candles (1 = the close itself)"),
    gettext_noop("the slow SMA period, in candles (more than fast)"),
    gettext_noop("the share of yesterday's range added to today's open"),
    gettext_noop("the RSI period (Wilder's smoothing), in candles"),
    gettext_noop("buy when the RSI crosses up through this level (less than overbought)"),
    gettext_noop("sell when the RSI crosses up through this level"),
)


def param_text(value: Any) -> str:
    """A parameter's value as a person types it: no exponent, no trailing zeros, empty for "off"."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def range_text(spec: ParamSpec) -> str:
    """The allowed values in the reader's language, e.g. "≥ 1 and ≤ 1000", "one of 0, 1"."""
    if spec.choices:
        allowed = gettext("one of %(values)s") % {"values": ", ".join(map(str, spec.choices))}
    else:
        low = f"{'≥' if spec.min_inclusive else '>'} {param_text(spec.minimum)}"
        high = f"{'≤' if spec.max_inclusive else '<'} {param_text(spec.maximum)}"
        allowed = gettext("%(low)s and %(high)s") % {"low": low, "high": high}
    if spec.optional:
        allowed += " · " + gettext("empty or 0 turns it off")
    return allowed


@dataclass(frozen=True)
class ParamRow:
    """One parameter as the pages show it."""

    spec: ParamSpec
    field_name: str
    current: str
    default: str
    allowed: str
    help: str


def param_rows(strategy: str, current: Mapping[str, Any] | None, *, exclude: Iterable[str] = ()) -> list[ParamRow]:
    """The parameters of `strategy` with their current values (`current` validated; invalid or missing: the defaults)."""
    try:
        values = registry.validate_params(strategy, current or {})
    except ValueError:
        values = registry.validate_params(strategy, {})
    skip = set(exclude)
    off = gettext("off")
    return [
        ParamRow(
            spec=spec,
            field_name=PREFIX + spec.name,
            current=param_text(values.get(spec.name)),
            default=param_text(spec.default) or off,
            allowed=range_text(spec),
            help=gettext(spec.help),
        )
        for spec in registry.get_strategy(strategy).all_param_specs
        if spec.name not in skip
    ]


def param_fields(rows: list[ParamRow]) -> dict[str, forms.Field]:
    """One optional field per parameter: left empty, a parameter takes its default (an optional one is off)."""
    fields: dict[str, forms.Field] = {}
    for row in rows:
        help_text = gettext("%(help)s. Default: %(default)s; allowed: %(allowed)s.") % {
            "help": row.help,
            "default": row.default,
            "allowed": row.allowed,
        }
        field: forms.Field
        if row.spec.choices:
            choices = [(str(choice), str(choice)) for choice in row.spec.choices]
            field = forms.ChoiceField(choices=choices, required=False, help_text=help_text)
        else:
            mode = "numeric" if row.spec.kind == "int" else "decimal"
            field = forms.CharField(
                required=False, max_length=40, help_text=help_text, widget=forms.TextInput(attrs={"inputmode": mode, "size": 12})
            )
        field.label = row.spec.name
        field.initial = row.current
        fields[row.field_name] = field
    return fields


def params_from_form(
    form: forms.BaseForm, rows: list[ParamRow], *, strategy: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The parameters typed into `form` (cleaned), validated by the strategy; None after adding the errors to the form.

    An empty field leaves the parameter at its default, or off when it is optional; the strategy's validation
    decides everything else, with the same sentences as the engine, the API and the command line."""
    raw: dict[str, Any] = dict(extra or {})
    for row in rows:
        typed = form.cleaned_data.get(row.field_name)
        if typed is None or (isinstance(typed, str) and not typed.strip()):
            if row.spec.optional:
                raw[row.spec.name] = None
            continue
        raw[row.spec.name] = typed.strip() if isinstance(typed, str) else typed
    try:
        return registry.validate_params(strategy, raw)
    except ValueError as error:
        param = getattr(error, "param", "")
        field = PREFIX + param if param and PREFIX + param in form.fields else None
        form.add_error(field, shown_sentence(str(error)))  # the engine's English sentence, in the reader's language
        return None
