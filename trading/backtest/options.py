"""The options a person gives a run over stored candles (`backtest`, `replay`): declared and read in one place.

Both commands take the same market, unit, strategy, range, parameters, money and limits, with the
same defaults and the same one-line messages; each command adds its own few options on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from trading.backtest.metrics import Metrics
from trading.candles import CandleDataError, parse_moment, parse_unit
from trading.engine.risk import RiskLimits
from trading.strategies.registry import STRATEGIES


class OptionError(ValueError):
    """An option that cannot be used; the text is the one line shown to the person."""


def add_run_arguments(parser: CommandParser, *, out_help: str) -> None:
    parser.add_argument("--market", default=None, help="market code (default: TRADING_MARKET)")
    parser.add_argument(
        "--unit", default=None, help="candle unit: 1, 3, 5, 10, 15, 30, 60, 240 or day (default: the strategy's candle_unit)"
    )
    parser.add_argument("--strategy", default=None, help=f"{', '.join(STRATEGIES)} (default: STRATEGY)")
    parser.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD in TIME_ZONE) or date-time")
    parser.add_argument("--to", dest="end", required=True, help="last day, inclusive (YYYY-MM-DD) or date-time (exclusive)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="strategy parameter, repeatable (default: the engine's stored parameters, else the strategy's defaults)",
    )
    parser.add_argument("--out", default=None, help=out_help)
    add_account_arguments(parser)


def add_account_arguments(parser: CommandParser) -> None:
    """The money, the fees and the limits of a run: the same options wherever stored candles are replayed."""
    parser.add_argument("--initial-krw", default="1000000", help="starting KRW (default 1,000,000)")
    parser.add_argument("--no-fees", action="store_true", help="trade without Upbit's 0.05%% fee")
    parser.add_argument(
        "--no-limits",
        action="store_true",
        help="lift our own limits (order size, cooldown, position cap, daily loss); Upbit's minimum order still applies",
    )
    parser.add_argument("--max-order-krw", default=None, help="override MAX_ORDER_KRW")
    parser.add_argument("--max-daily-loss-krw", default=None, help="override MAX_DAILY_LOSS_KRW")
    parser.add_argument("--max-position-ratio", default=None, help="override MAX_POSITION_RATIO")
    parser.add_argument("--cooldown-sec", default=None, help="override ORDER_COOLDOWN_SEC")


@dataclass(frozen=True)
class RunOptions:
    market: str
    strategy: str
    unit: int | None
    start: datetime
    end: datetime
    params: dict[str, str]
    initial_krw: Decimal
    fees: bool
    limits: bool
    limit_overrides: dict[str, Any]


def parse_decimal(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise OptionError(f"{name} {text!r} is not a number") from None
    if not value.is_finite():
        raise OptionError(f"{name} {text!r} is not a finite number")
    return value


def percent(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:+.2f}%"


def parse_params(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise OptionError(f"--param {item!r} is not NAME=VALUE, e.g. --param fast=12")
        params[name.strip()] = value.strip()
    return params


def parse_limit_overrides(options: Mapping[str, Any]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for option in ("max_order_krw", "max_daily_loss_krw", "max_position_ratio"):
        if options[option] is not None:
            value = parse_decimal(f"--{option.replace('_', '-')}", options[option])
            if value <= 0:
                raise OptionError(f"--{option.replace('_', '-')} must be positive, got {options[option]}")
            overrides[option] = value
    if options["cooldown_sec"] is not None:
        text = str(options["cooldown_sec"])
        if not text.isdigit():
            raise OptionError(f"--cooldown-sec {text!r} is not a whole number of seconds")
        overrides["cooldown_sec"] = int(text)
    if "max_position_ratio" in overrides and overrides["max_position_ratio"] > 1:
        raise OptionError("--max-position-ratio must be at most 1")
    return overrides


def parse_run_options(options: Mapping[str, Any]) -> RunOptions:
    """Read the options `add_run_arguments` declared. Raises OptionError with the line to show."""
    market = str(options["market"] or settings.TRADING_MARKET).upper()
    strategy = str(options["strategy"] or settings.STRATEGY)
    try:
        unit = parse_unit(options["unit"]) if options["unit"] else None
        start = parse_moment(options["start"], tz=settings.TIME_ZONE)
        end = parse_moment(options["end"], tz=settings.TIME_ZONE, end_of_day=True)
    except CandleDataError as error:
        raise OptionError(str(error)) from None
    if start >= end:
        raise OptionError(f"--from {options['start']} is not before --to {options['end']}")
    params = parse_params(options["param"])
    account = parse_account_options(options)
    return RunOptions(
        market=market,
        strategy=strategy,
        unit=unit,
        start=start,
        end=end,
        params=params,
        initial_krw=account.initial_krw,
        fees=account.fees,
        limits=account.limits,
        limit_overrides=account.limit_overrides,
    )


@dataclass(frozen=True)
class AccountOptions:
    initial_krw: Decimal
    fees: bool
    limits: bool
    limit_overrides: dict[str, Any]


def parse_account_options(options: Mapping[str, Any]) -> AccountOptions:
    """Read the options `add_account_arguments` declared. Raises OptionError with the line to show."""
    overrides = parse_limit_overrides(options)
    initial = parse_decimal("--initial-krw", str(options["initial_krw"]))
    return AccountOptions(initial, fees=not options["no_fees"], limits=not options["no_limits"], limit_overrides=overrides)


def metrics_lines(*, initial_krw: Decimal, final_equity: Decimal, metrics: Metrics, fees: Decimal) -> list[str]:
    """The figures of a run, one per line, as both commands print them."""
    sharpe = "n/a" if metrics.sharpe is None else f"{metrics.sharpe:.2f}"
    win = "n/a" if metrics.win_rate is None else f"{metrics.win_rate * 100:.1f}%"
    return [
        f"  equity       {initial_krw:,.0f} → {final_equity:,.0f} KRW",
        f"  return       {percent(metrics.total_return)} (CAGR {percent(metrics.cagr)})",
        f"  buy and hold {percent(metrics.buy_and_hold_return)}",
        f"  drawdown     {metrics.max_drawdown * 100:.2f}% ({metrics.max_drawdown_krw:,.0f} KRW)",
        f"  sharpe       {sharpe} (daily returns, annualised ×√365)",
        f"  trades       {metrics.round_trips} round trips, win rate {win}, {metrics.orders} orders",
        f"  fees         {fees:,.2f} KRW",
        f"  exposure     {metrics.exposure * 100:.1f}% of candles in a position",
    ]


def rules_line(*, fees: bool, limits: RiskLimits, limits_on: bool) -> str:
    return f"  rules        fees {'on' if fees else 'off'}; " + (
        f"MAX_ORDER_KRW {limits.max_order_krw:,}, cooldown {limits.cooldown_sec}s, position cap "
        f"{limits.max_position_ratio}, daily loss {limits.max_daily_loss_krw:,} KRW ({limits.time_zone} day)"
        if limits_on
        else "limits off"
    )
