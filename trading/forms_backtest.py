"""The console's "New backtest" form: strategy, its parameters (current, default, range), period in local time,
candle unit, risk limits and fees. Everything a person can get wrong is refused here with a sentence that says
what to change (inverted dates, no stored candles, parameters out of range), before a worker is started."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from trading import param_fields as param_fields_lib
from trading.candles import candle_coverage, unit_label
from trading.models import Candle, StrategyConfig
from trading.strategies import registry
from trading.strategies.params import CANDLE_UNITS

# What a person may set for a backtest's risk limits, as the engine's settings allow them (autocoin/settings.py).
LIMIT_BOUNDS: dict[str, tuple[Decimal, Decimal, bool]] = {
    "max_order_krw": (Decimal("5000"), Decimal("1000000000"), True),
    "max_daily_loss_krw": (Decimal("0"), Decimal("100000000000"), False),
    "max_position_ratio": (Decimal("0"), Decimal("1"), False),
    "cooldown_sec": (Decimal("0"), Decimal("86400"), True),
}


def unit_choices() -> list[tuple[str, str]]:
    return [(str(unit), unit_label(unit)) for unit in CANDLE_UNITS]


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except (InvalidOperation, AttributeError):
        return None
    return value if value.is_finite() else None


class BacktestForm(forms.Form):
    """Build it with the strategy the person chose (`strategy=`); its parameter fields are that strategy's."""

    strategy = forms.ChoiceField(label=_("Strategy"))
    market = forms.RegexField(label=_("Market"), regex=r"^[A-Z]{2,10}-[A-Z0-9]{1,15}$", max_length=32)
    unit = forms.TypedChoiceField(label=_("Candle unit"), coerce=int, choices=unit_choices)
    date_from = forms.DateField(label=_("From (Seoul date)"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(
        label=_("To (Seoul date, included)"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The whole day is included."),
    )
    initial_krw = forms.CharField(label=_("Initial KRW"), max_length=20, initial="1,000,000")
    fees = forms.BooleanField(label=_("Charge Upbit's fee (0.05%)"), required=False, initial=True)
    limits = forms.BooleanField(
        label=_("Apply the risk limits"),
        required=False,
        initial=True,
        help_text=_("Off: no order size cap, cooldown, position cap or daily loss limit (Upbit's own rules still apply)."),
    )
    max_order_krw = forms.CharField(label=_("Max order (KRW)"), max_length=20)
    max_daily_loss_krw = forms.CharField(label=_("Max daily loss (KRW)"), max_length=20)
    max_position_ratio = forms.CharField(label=_("Max position (share of equity, 0-1)"), max_length=20)
    cooldown_sec = forms.CharField(label=_("Cooldown between orders (s)"), max_length=20)

    def __init__(self, *args: Any, strategy: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = list(registry.STRATEGIES)
        chosen = strategy if strategy in registry.STRATEGIES else settings.STRATEGY
        self.strategy_name = chosen
        choices = [(name, f"{name} · {gettext(registry.STRATEGIES[name].title)}") for name in names]
        self.fields["strategy"].choices = choices  # type: ignore[attr-defined]  # a ChoiceField, declared above
        self.fields["strategy"].initial = chosen
        stored = StrategyConfig.objects.filter(strategy=chosen).values_list("params", flat=True).first() or {}
        self.rows = param_fields_lib.param_rows(chosen, stored if isinstance(stored, dict) else {}, exclude=("candle_unit",))
        self.fields.update(param_fields_lib.param_fields(self.rows))
        current_unit = param_fields_lib.param_rows(chosen, stored if isinstance(stored, dict) else {})
        unit = next((row.current for row in current_unit if row.spec.name == "candle_unit"), "")
        self.fields["unit"].initial = unit
        self.fields["market"].initial = settings.TRADING_MARKET
        self.fields["max_order_krw"].initial = f"{settings.MAX_ORDER_KRW:,.0f}"
        self.fields["max_daily_loss_krw"].initial = f"{settings.MAX_DAILY_LOSS_KRW:,.0f}"
        self.fields["max_position_ratio"].initial = param_fields_lib.param_text(settings.MAX_POSITION_RATIO)
        self.fields["cooldown_sec"].initial = str(settings.ORDER_COOLDOWN_SEC)
        self.request_data: dict[str, Any] = {}

    @property
    def param_field_names(self) -> list[str]:
        return [row.field_name for row in self.rows]

    def clean_initial_krw(self) -> Decimal:
        value = _decimal(self.cleaned_data["initial_krw"])
        if value is None or value < 5000 or value > Decimal("100000000000"):
            raise forms.ValidationError(gettext("Enter an amount of KRW between 5,000 and 100,000,000,000."))
        return value

    def _limit(self, name: str) -> Decimal | None:
        low, high, low_inclusive = LIMIT_BOUNDS[name]
        value = _decimal(self.cleaned_data.get(name) or "")
        if value is None or value > high or (value < low if low_inclusive else value <= low):
            sentence = (
                gettext("Enter a number of at least %(min)s and at most %(max)s.")
                if low_inclusive
                else gettext("Enter a number above %(min)s and at most %(max)s.")
            )
            self.add_error(name, sentence % {"min": f"{low:,}", "max": f"{high:,}"})
            return None
        if name == "cooldown_sec" and value != value.to_integral_value():
            self.add_error(name, gettext("Enter whole seconds."))
            return None
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.is_bound and self.data.get("params_for") != self.strategy_name:
            # The strategy was changed but the page still showed another strategy's parameter fields (the page did
            # not swap them): show this strategy's fields, prefilled, and let the person look before running.
            self.add_error(
                "strategy", gettext("These are the parameters of the strategy you chose; check them and submit again.")
            )
            return cleaned
        limits = {name: self._limit(name) for name in LIMIT_BOUNDS}
        start = end = None
        if cleaned.get("date_from") and cleaned.get("date_to"):
            zone = ZoneInfo(settings.TIME_ZONE)
            start = datetime.combine(cleaned["date_from"], time.min, tzinfo=zone)
            end = datetime.combine(cleaned["date_to"] + timedelta(days=1), time.min, tzinfo=zone)
            if cleaned["date_from"] > cleaned["date_to"]:
                self.add_error("date_to", gettext("The end date is before the start date."))
                start = None
        unit = cleaned.get("unit")
        params = None
        if unit is not None:
            params = param_fields_lib.params_from_form(self, self.rows, strategy=self.strategy_name, extra={"candle_unit": unit})
        market = cleaned.get("market")
        if (
            start is not None
            and end is not None
            and market
            and unit is not None
            and not self.errors
            and not Candle.objects.filter(market=market, unit=unit, ts__gte=start, ts__lt=end).exists()
        ):
            self.add_error(None, self._no_candles(market, unit))
        if self.errors or params is None or start is None or end is None or any(value is None for value in limits.values()):
            return cleaned
        self.request_data = {
            "market": market,
            "unit": unit,
            "strategy": self.strategy_name,
            "params": {name: param_fields_lib.param_text(value) or None for name, value in params.items()},
            "start": start.isoformat(),
            "end": end.isoformat(),
            "initial_krw": str(cleaned["initial_krw"]),
            "fees": bool(cleaned.get("fees")),
            "limits": bool(cleaned.get("limits")),
            "limit_overrides": {
                name: int(value) if name == "cooldown_sec" else str(value) for name, value in limits.items() if value is not None
            },
        }
        return cleaned

    @staticmethod
    def _no_candles(market: str, unit: int) -> str:
        count, first, last = candle_coverage(market=market, unit=unit)
        if not count or first is None or last is None:
            return gettext(
                "No %(market)s %(unit)s candles are stored. Load some with python manage.py fetchcandles or importcandles."
            ) % {"market": market, "unit": unit_label(unit)}
        zone = ZoneInfo(settings.TIME_ZONE)
        return gettext(
            "No %(market)s %(unit)s candles in this period. %(count)s are stored, from %(first)s to %(last)s (Seoul time)."
        ) % {
            "market": market,
            "unit": unit_label(unit),
            "count": f"{count:,}",
            "first": f"{first.astimezone(zone):%Y-%m-%d %H:%M}",
            "last": f"{last.astimezone(zone):%Y-%m-%d %H:%M}",
        }
