"""Forms for the admin console, and the limits the dashboard's manual-order form shares with them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from trading import param_fields as param_fields_lib
from trading.models import ManualOrderRequest, StrategyConfig

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
    """A strategy's parameters, one field per parameter (its help, default and range beside it), validated like the
    engine validates them. The parameters are in `cleaned_data["params"]`, complete, for the service to store.
    Build the form of one row with `strategy_config_form(config)`: the fields depend on the strategy."""

    rows: ClassVar[list[param_fields_lib.ParamRow]] = []
    strategy_name: ClassVar[str] = ""

    class Meta:
        model = StrategyConfig
        fields = ("strategy",)  # on the add page only, fixed to the strategy the page is for (hidden)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "strategy" in self.fields and cleaned.get("strategy") and cleaned["strategy"] != self.strategy_name:
            self.add_error("strategy", gettext("This page sets the parameters of another strategy."))
        if self.rows and not self.errors:
            params = param_fields_lib.params_from_form(self, self.rows, strategy=self.strategy_name)
            if params is not None:
                cleaned["params"] = params
        return cleaned


def strategy_config_form(config: StrategyConfig | None) -> type[StrategyConfigForm]:
    """The parameter form of `config`'s strategy, its fields prefilled with the stored (current) values."""
    rows = param_fields_lib.param_rows(config.strategy, config.params) if config is not None and config.strategy else []
    attrs: dict[str, Any] = {
        "rows": rows,
        "strategy_name": config.strategy if config else "",
        **param_fields_lib.param_fields(rows),
    }
    if config is not None and config.pk is None:
        attrs["strategy"] = forms.CharField(widget=forms.HiddenInput, initial=config.strategy)
    return type("StrategyParamsForm", (StrategyConfigForm,), attrs)


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
