"""The search space a person gives (`--space fast=5:30 --space k=0.3,0.5,0.7`), checked against the strategy's
parameter specs, and how a trial draws from it.

- `a:b` with whole numbers: every integer from a to b (both included);
- `a:b` where either end has a dot: any number from a to b (a float range);
- `a,b,c`: one of those values (categorical).

Each end and each value must be allowed by the parameter's spec (trading/strategies/params.py); a range
must have low < high. `candle_unit` cannot be searched: the candles are loaded once per worker, for `--unit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from trading.strategies.base import InvalidParams, ParamSpec
from trading.strategies.registry import get_strategy

if TYPE_CHECKING:
    import optuna


class SpaceError(ValueError):
    """A --space that cannot be searched; the text is the one line shown to the person."""


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: Literal["int", "float", "choice"]
    low: int | float | None = None
    high: int | float | None = None
    choices: tuple[int | str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"kind": "choice", "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high}

    def text(self) -> str:
        if self.kind == "choice":
            return f"{self.name}={','.join(map(str, self.choices))}"
        return f"{self.name}={self.low}:{self.high}"

    def suggest(self, trial: optuna.Trial) -> int | float | str:
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low or 0), int(self.high or 0))
        if self.kind == "float":
            return trial.suggest_float(self.name, float(self.low or 0), float(self.high or 0))
        choice = trial.suggest_categorical(self.name, list(self.choices))
        return choice if isinstance(choice, int | str) else str(choice)


def _spec_of(strategy: str, name: str) -> ParamSpec:
    specs = {spec.name: spec for spec in get_strategy(strategy).all_param_specs}
    if name == "candle_unit":
        raise SpaceError("--space candle_unit: the candle unit cannot be searched; run one study per --unit")
    spec = specs.get(name)
    if spec is None:
        raise SpaceError(f"--space {name}: {strategy} has no parameter {name!r}; its parameters are {', '.join(specs)}")
    return spec


def _checked(strategy: str, spec: ParamSpec, text: str, item: str) -> int | Decimal:
    try:
        value = spec.parse(strategy, text)
    except InvalidParams as error:
        raise SpaceError(f"--space {item}: {error}") from None
    if value is None:
        raise SpaceError(f"--space {item}: {text!r} turns {spec.name} off; list it as a value (e.g. {spec.name}=0,1.5,2)")
    return value


def parse_dimension(strategy: str, item: str) -> Dimension:
    """One `NAME=SPEC` option. Raises SpaceError."""
    name, sep, spec_text = item.partition("=")
    name, spec_text = name.strip(), spec_text.strip()
    if not sep or not name or not spec_text:
        raise SpaceError(f"--space {item!r} is not NAME=LOW:HIGH or NAME=A,B,C, e.g. --space fast=5:30")
    spec = _spec_of(strategy, name)
    if ":" in spec_text:
        low_text, _, high_text = spec_text.partition(":")
        if not low_text.strip() or not high_text.strip() or ":" in high_text:
            raise SpaceError(f"--space {item}: a range is LOW:HIGH, e.g. {name}=5:30")
        is_float = "." in low_text or "." in high_text
        if is_float and spec.kind == "int":
            raise SpaceError(f"--space {item}: {name} is a whole number; give a whole-number range such as 5:30")
        if spec.choices:
            raise SpaceError(f"--space {item}: {name} is {spec.allowed()}; list the values, e.g. {name}=0,1")
        low, high = _checked(strategy, spec, low_text, item), _checked(strategy, spec, high_text, item)
        if low >= high:
            word = "empty" if low == high else "inverted"
            raise SpaceError(f"--space {item}: the range is {word}; give LOW < HIGH (one value: --param {name}={low})")
        if spec.kind == "int":
            return Dimension(name, "int", int(low), int(high))
        return Dimension(name, "float", float(low), float(high))
    values = [value.strip() for value in spec_text.split(",")]
    if any(not value for value in values):
        raise SpaceError(f"--space {item}: an empty value in the list")
    choices: list[int | str] = []
    for value in values:
        if spec.optional and value.strip("0.") == "":
            choices.append(0 if spec.kind == "int" else "0")  # off, as the spec reads 0
            continue
        parsed = _checked(strategy, spec, value, item)
        choices.append(int(parsed) if spec.kind == "int" else str(parsed))
    if len(set(choices)) != len(choices):
        raise SpaceError(f"--space {item}: a value is listed twice")
    if len(choices) < 2:
        raise SpaceError(f"--space {item}: one value is not a search; use --param {name}={choices[0]}")
    return Dimension(name, "choice", choices=tuple(choices))


def parse_space(strategy: str, items: list[str]) -> list[Dimension]:
    """Every --space option, in order; a parameter named twice is an error."""
    if not items:
        raise SpaceError("give at least one --space NAME=LOW:HIGH (or NAME=A,B,C)")
    dimensions: list[Dimension] = []
    for item in items:
        dimension = parse_dimension(strategy, item)
        if any(known.name == dimension.name for known in dimensions):
            raise SpaceError(f"--space {dimension.name} is given twice")
        dimensions.append(dimension)
    return dimensions


def suggest(trial: optuna.Trial, dimensions: list[Dimension]) -> dict[str, Any]:
    return {dimension.name: dimension.suggest(trial) for dimension in dimensions}
