"""Forms for the admin console, and the limits the dashboard's manual-order form shares with them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from trading.models import ManualOrderRequest, StrategyConfig
from trading.strategies import registry

if TYPE_CHECKING:
    StrategyConfigFormBase = forms.ModelForm[StrategyConfig]  # generic in django-stubs only
else:
    StrategyConfigFormBase = forms.ModelForm

# Far more than any valid amount (15 integer digits, 8 decimals); longer input is not echoed back.
AMOUNT_MAX_CHARS = 40

# An amount typed as text (docs/API.md): ASCII digits, optionally grouped by thousands commas, and an
# optional point with digits after it. Python's Decimal() would also take signs, exponents, spaces,
# underscores and non-ASCII digits ("+5000", "1E4", " 5000 ", full-width digits), none of which a person means.
AMOUNT_TEXT = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?")
AMOUNT_TEXT_RULE = (
    'use the digits 0-9 with an optional decimal point and optional thousands commas, e.g. "10000", "10,000" or "0.0001"'
)


def amount_text_is_plain(text: str) -> bool:
    """True when `text` is written the way docs/API.md allows an amount to be written."""
    return AMOUNT_TEXT.fullmatch(text) is not None


class StrategyConfigForm(StrategyConfigFormBase):
    """A strategy's parameters, edited as JSON and validated like the engine validates them."""

    params = forms.JSONField(
        label=_("parameters"),
        required=False,  # {} (every parameter at its default) is a valid value, and Django counts it as empty
        widget=forms.Textarea(attrs={"rows": 14, "cols": 70, "class": "json-editor"}),  # styled in css/admin.css
        help_text=_('A JSON object, e.g. {"fast": 12, "slow": 26, "signal": 9}. Missing parameters take their defaults.'),
    )

    class Meta:
        model = StrategyConfig
        fields = ("strategy", "params")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "strategy" in self.fields:
            self.fields["strategy"] = forms.ChoiceField(
                label=_("strategy"), choices=[(name, name) for name in registry.STRATEGIES]
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        strategy = cleaned.get("strategy") or self.instance.strategy
        if "params" in self.errors:
            return cleaned
        params = cleaned.get("params")
        if params is None:
            params = cleaned["params"] = {}
        if not isinstance(params, dict):
            self.add_error("params", gettext("Parameters must be a JSON object, e.g. {}."))
            return cleaned
        try:
            registry.validate_params(strategy, params)
        except ValueError as error:
            self.add_error("params", str(error))
        return cleaned


class ManualOrderForm(forms.Form):
    """The admin's manual order; the amounts are validated by the service (a sell of "all" sells everything)."""

    kind = forms.ChoiceField(label=_("Order"), choices=ManualOrderRequest.Kind.choices, widget=forms.RadioSelect)
    krw = forms.CharField(
        label=_("KRW to spend"),
        required=False,
        max_length=AMOUNT_MAX_CHARS,
        help_text=_("For a buy: the KRW amount, fee included (at least 5,000)."),
    )
    volume = forms.CharField(
        label=_("Volume to sell"),
        required=False,
        max_length=AMOUNT_MAX_CHARS,
        help_text=_("For a sell: the coin volume, e.g. 0.0001."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        # An amount the chosen order does not use is refused, not silently dropped.
        used = {ManualOrderRequest.Kind.BUY.value: "krw", ManualOrderRequest.Kind.SELL.value: "volume"}.get(kind or "")
        for name in ("krw", "volume"):
            if kind and name != used and cleaned.get(name):
                self.add_error(name, gettext("Leave this empty for this order."))
        return cleaned
