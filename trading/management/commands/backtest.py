"""Replay stored candles through the engine's strategy, risk gate and paper fills; print and keep the result."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.backtest.engine import BacktestError
from trading.backtest.services import backtest_run_create
from trading.candles import CandleDataError, parse_moment, parse_unit, unit_label
from trading.strategies.registry import STRATEGIES


def _decimal(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise CommandError(f"{name} {text!r} is not a number") from None
    if not value.is_finite():
        raise CommandError(f"{name} {text!r} is not a finite number")
    return value


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:+.2f}%"


class Command(BaseCommand):
    help = (
        "Backtest a strategy on stored candles with the live engine's own strategy code, risk rules (MAX_ORDER_KRW, "
        "cooldown, position cap, daily loss limit) and Upbit fill rules (fee, tick grid, minimum order). Decisions are "
        "made on a closed candle and filled at the next candle's open."
    )

    def add_arguments(self, parser: CommandParser) -> None:
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
        parser.add_argument("--initial-krw", default="1000000", help="starting KRW (default 1,000,000)")
        parser.add_argument("--out", default=None, help="folder for the trades CSV and the equity SVG (default var/backtests)")
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

    def handle(self, *args: Any, **options: Any) -> None:
        market = str(options["market"] or settings.TRADING_MARKET).upper()
        strategy = str(options["strategy"] or settings.STRATEGY)
        try:
            unit = parse_unit(options["unit"]) if options["unit"] else None
            start = parse_moment(options["start"], tz=settings.TIME_ZONE)
            end = parse_moment(options["end"], tz=settings.TIME_ZONE, end_of_day=True)
        except CandleDataError as error:
            raise CommandError(str(error)) from None
        if start >= end:
            raise CommandError(f"--from {options['start']} is not before --to {options['end']}")
        params: dict[str, str] = {}
        for item in options["param"]:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise CommandError(f"--param {item!r} is not NAME=VALUE, e.g. --param fast=12")
            params[name.strip()] = value.strip()
        overrides: dict[str, Any] = {}
        for option, field in (
            ("max_order_krw", "max_order_krw"),
            ("max_daily_loss_krw", "max_daily_loss_krw"),
            ("max_position_ratio", "max_position_ratio"),
        ):
            if options[option] is not None:
                value = _decimal(f"--{option.replace('_', '-')}", options[option])
                if value <= 0:
                    raise CommandError(f"--{option.replace('_', '-')} must be positive, got {options[option]}")
                overrides[field] = value
        if options["cooldown_sec"] is not None:
            text = str(options["cooldown_sec"])
            if not text.isdigit():
                raise CommandError(f"--cooldown-sec {text!r} is not a whole number of seconds")
            overrides["cooldown_sec"] = int(text)
        if "max_position_ratio" in overrides and overrides["max_position_ratio"] > 1:
            raise CommandError("--max-position-ratio must be at most 1")
        initial = _decimal("--initial-krw", str(options["initial_krw"]))

        try:
            outcome = backtest_run_create(
                market=market,
                unit=unit,
                strategy=strategy,
                params=params or None,
                start=start,
                end=end,
                initial_krw=initial,
                fees=not options["no_fees"],
                limits=not options["no_limits"],
                limit_overrides=overrides,
                out_dir=Path(options["out"]) if options["out"] else None,
            )
        except BacktestError as error:
            raise CommandError(str(error)) from None

        result, metrics = outcome.result, outcome.result.metrics
        unit = result.config.unit
        out = self.stdout.write
        first = datetime.fromtimestamp(int(result.arrays.start[0]), tz=UTC)
        last = datetime.fromtimestamp(int(result.arrays.start[-1]), tz=UTC)
        out(f"{strategy} on {market} {unit_label(unit)}: {metrics.candles:,} candles")
        out(f"  candles      {first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC")
        out(f"  params       {', '.join(f'{k}={v}' for k, v in result.config.params.items() if v is not None)}")
        limits = result.config.limits
        out(
            f"  rules        fees {'on' if result.config.fees else 'off'}; "
            + (
                f"MAX_ORDER_KRW {limits.max_order_krw:,}, cooldown {limits.cooldown_sec}s, position cap "
                f"{limits.max_position_ratio}, daily loss {limits.max_daily_loss_krw:,} KRW ({limits.time_zone} day)"
                if not options["no_limits"]
                else "limits off"
            )
        )
        out(f"  equity       {result.config.initial_krw:,.0f} → {result.final_equity:,.0f} KRW")
        out(f"  return       {_pct(metrics.total_return)} (CAGR {_pct(metrics.cagr)})")
        out(f"  buy and hold {_pct(metrics.buy_and_hold_return)}")
        out(f"  drawdown     {metrics.max_drawdown * 100:.2f}% ({metrics.max_drawdown_krw:,.0f} KRW)")
        sharpe = "n/a" if metrics.sharpe is None else f"{metrics.sharpe:.2f}"
        win = "n/a" if metrics.win_rate is None else f"{metrics.win_rate * 100:.1f}%"
        out(f"  sharpe       {sharpe} (daily returns, annualised ×√365)")
        out(f"  trades       {metrics.round_trips} round trips, win rate {win}, {metrics.orders} orders")
        out(f"  fees         {result.fees:,.2f} KRW")
        out(f"  exposure     {metrics.exposure * 100:.1f}% of candles in a position")
        if result.blocked:
            blocked = ", ".join(f"{rule} {count}" for rule, count in sorted(result.blocked_by_rule.items()))
            out(f"  blocked      {len(result.blocked)} orders: {blocked}")
        out(f"  trades CSV   {outcome.trades_csv}")
        out(f"  equity SVG   {outcome.equity_svg_path}")
        out(
            self.style.SUCCESS(
                f"  saved as backtest run #{outcome.run.pk} in {outcome.total_seconds:.2f} s "
                f"(loading {outcome.load_seconds:.2f} s, replay {result.seconds.get('loop', 0):.2f} s)"
            )
        )
