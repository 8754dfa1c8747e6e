"""Strategy parameters: each one's type, default and allowed range, and the parameters every strategy shares
(`candle_unit`, the protective exits, the ATR stop and the volatility filter)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal


# ---------------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------------
class InvalidParams(ValueError):
    """A strategy parameter that cannot be used; the text names the parameter, the value and what is allowed."""

    def __init__(self, message: str, *, strategy: str = "", param: str = "", value: Any = None) -> None:
        super().__init__(message)
        self.strategy = strategy
        self.param = param
        self.value = value


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: its type, default and allowed range. `optional` parameters accept None and 0 as "off"."""

    name: str
    kind: Literal["int", "decimal"]
    default: int | Decimal | None
    minimum: int | Decimal
    maximum: int | Decimal
    help: str
    min_inclusive: bool = True
    max_inclusive: bool = True
    optional: bool = False
    choices: tuple[int, ...] = ()

    def allowed(self) -> str:
        if self.choices:
            return f"one of {', '.join(map(str, self.choices))}"
        low = f"{'at least' if self.min_inclusive else 'more than'} {self.minimum}"
        high = f"{'at most' if self.max_inclusive else 'less than'} {self.maximum}"
        noun = "a whole number" if self.kind == "int" else "a number"
        off = " (0 or null turns it off)" if self.optional else ""
        return f"{noun} {low} and {high}{off}"

    def parse(self, strategy: str, raw: Any) -> int | Decimal | None:
        def bad(problem: str) -> InvalidParams:
            return InvalidParams(
                f"{strategy}: parameter {self.name}={raw!r} {problem}; use {self.allowed()}",
                strategy=strategy,
                param=self.name,
                value=raw,
            )

        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.optional:
                return None
            raise bad("is missing")
        if isinstance(raw, bool):
            raise bad("is a boolean")
        number: int | Decimal
        if self.kind == "int":
            if isinstance(raw, int):
                number = raw
            elif isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
                number = int(raw.strip())
            else:
                raise bad("is not a whole number")
        else:
            if isinstance(raw, Decimal | int):
                number = Decimal(raw)
            elif isinstance(raw, float):
                number = Decimal(repr(raw))
            elif isinstance(raw, str):
                try:
                    number = Decimal(raw.strip().replace(",", "").replace("_", ""))
                except InvalidOperation:
                    raise bad("is not a number") from None
            else:
                raise bad(f"is a {type(raw).__name__}, not a number")
            if not number.is_finite():
                raise bad("is not a finite number")
        if self.optional and number == 0:
            return None
        if self.choices:
            if number not in self.choices:
                raise bad("is not allowed")
            return number
        too_low = number < self.minimum if self.min_inclusive else number <= self.minimum
        too_high = number > self.maximum if self.max_inclusive else number >= self.maximum
        if too_low or too_high:
            raise bad("is out of range")
        return number


CANDLE_UNITS: tuple[int, ...] = (1, 3, 5, 10, 15, 30, 60, 240, 1440)
"""Upbit's candle units in minutes (1440 = day candles)."""


def candle_unit_spec(default: int) -> ParamSpec:
    """The `candle_unit` parameter: which candles (minutes) the engine fetches and the backtest replays.

    The strategy computes on whatever candles it is given; this tells its callers which ones it was tuned for."""
    return ParamSpec(
        "candle_unit", "int", default, 1, 1440, "the candle length in minutes the strategy runs on", choices=CANDLE_UNITS
    )


EXIT_PARAM_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "take_profit_pct",
        "decimal",
        None,
        Decimal("0"),
        Decimal("1000"),
        "sell when the close is this many percent above the average buy price",
        min_inclusive=False,
        optional=True,
    ),
    ParamSpec(
        "stop_loss_pct",
        "decimal",
        None,
        Decimal("0"),
        Decimal("100"),
        "sell when the close is this many percent below the average buy price",
        min_inclusive=False,
        max_inclusive=False,
        optional=True,
    ),
    ParamSpec(
        "trailing_stop_pct",
        "decimal",
        None,
        Decimal("0"),
        Decimal("100"),
        "sell when the close is this many percent below the highest price since entry",
        min_inclusive=False,
        max_inclusive=False,
        optional=True,
    ),
)


WILDER_WARMUP_PERIODS = 10
"""Periods of candles a Wilder average (ATR, RSI) needs before it is trusted: it weighs its seed by
(1 - 1/period) a candle, so after 10 periods the seed weighs at most e^-10 = 4.5 * 10^-5 (period 14: 3.1 * 10^-5)."""

VOLATILITY_PARAM_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("atr_period", "int", 14, 1, 1000, "the ATR period (Wilder's average true range), in candles"),
    ParamSpec(
        "atr_stop_mult",
        "decimal",
        None,
        Decimal("0"),
        Decimal("100"),
        "sell when the close is this many ATRs below the entry price (below the highest price since entry with atr_trailing 1)",
        min_inclusive=False,
        optional=True,
    ),
    ParamSpec(
        "atr_trailing",
        "int",
        0,
        0,
        1,
        "1: the ATR stop measures from the highest price since entry; 0: from the entry price",
        choices=(0, 1),
    ),
    ParamSpec(
        "max_volatility_pct",
        "decimal",
        None,
        Decimal("0"),
        Decimal("100"),
        "no new entries while ATR(atr_period) / close * 100 is above this",
        min_inclusive=False,
        optional=True,
    ),
)
"""The ATR stop and the volatility filter, shared by every strategy. The strategy only computes the ATR
(`Prepared.series["atr"]` and `Prepared.lists["atr"]`, when `uses_atr(params)`); the protective-exit
evaluation that reads it is documented in docs/DECISIONS.md."""


def uses_atr(params: Mapping[str, Any]) -> bool:
    """Whether validated `params` turn on a rule that reads the ATR (the ATR stop or the volatility filter)."""
    return params.get("atr_stop_mult") is not None or params.get("max_volatility_pct") is not None


def atr_min_candles(params: Mapping[str, Any]) -> int:
    """Closed candles the ATR rules of validated `params` need (0 when both are off): 10 * atr_period.

    The live engine should fetch `max(strategy.min_candles(...), atr_min_candles(params))` candles so its
    ATR agrees with the backtest's long history."""
    return WILDER_WARMUP_PERIODS * int(params["atr_period"]) if uses_atr(params) else 0
