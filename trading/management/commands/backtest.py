"""Replay stored candles through the engine's strategy, risk gate and paper fills; print and keep the result."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.backtest.engine import BacktestError
from trading.backtest.options import OptionError, add_run_arguments, metrics_lines, parse_run_options, rules_line
from trading.backtest.services import backtest_run_create
from trading.candles import unit_label


class Command(BaseCommand):
    help = (
        "Backtest a strategy on stored candles with the live engine's own strategy code, risk rules (MAX_ORDER_KRW, "
        "cooldown, position cap, daily loss limit) and Upbit fill rules (fee, tick grid, minimum order). Decisions are "
        "made on a closed candle and filled at the next candle's open."
    )
    # A backtest reads candles and writes a report and one row: the project-wide system checks (URLs, templates,
    # security settings) guard the web process and `check`, and would cost the command a sixth of its time.
    requires_system_checks = ()

    def add_arguments(self, parser: CommandParser) -> None:
        add_run_arguments(parser, out_help="folder for the trades CSV and the equity SVG (default var/backtests)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = parse_run_options(options)
        except OptionError as error:
            raise CommandError(str(error)) from None
        market, strategy = run.market, run.strategy

        try:
            outcome = backtest_run_create(
                market=market,
                unit=run.unit,
                strategy=strategy,
                params=run.params or None,
                start=run.start,
                end=run.end,
                initial_krw=run.initial_krw,
                fees=run.fees,
                limits=run.limits,
                limit_overrides=run.limit_overrides,
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
        out(rules_line(fees=result.config.fees, limits=result.config.limits, limits_on=not options["no_limits"]))
        for line in metrics_lines(
            initial_krw=result.config.initial_krw, final_equity=result.final_equity, metrics=metrics, fees=result.fees
        ):
            out(line)
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
