"""Template helpers of the console's backtest pages."""

from __future__ import annotations

from typing import Any

from django import forms, template

from trading.backtest_selectors import pct_text

register = template.Library()


@register.filter
def get_field(form: forms.Form, name: str) -> Any:
    """The bound field `name` of `form` (fields whose names are only known at run time)."""
    return form[name]


@register.filter
def bt_pct(ratio: Any) -> str:
    """A ratio as a signed percentage with two decimals (0.0123 → +1.23%)."""
    return pct_text(ratio)
