"""Run the live engine itself over stored candles, in a database of its own; print the result, optionally compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.backtest.options import OptionError, add_run_arguments, parse_run_options
from trading.replay.runner import ReplayError
from trading.replay.services import DIFFERENCE_EXIT, replay_config_build, replay_in_own_database


class Command(BaseCommand):
    help = (
        "Replay stored candles through the real trading engine (strategy, exit rules, risk gate, order path, paper "
        "fills, PnL book and events) at a simulated clock: one engine cycle at each of the open, low, high and close "
        "of every candle. Runs in a fresh database of its own; the trades CSV has the backtest's columns."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_run_arguments(parser, out_help="folder for the trades CSV (default var/replays)")
        parser.add_argument(
            "--compare",
            action="store_true",
            help="also run the backtest on the same candles and compare trade by trade; exit 1 on any difference",
        )
        parser.add_argument("--keep-db", default=None, metavar="PATH", help="keep the replay's SQLite database at PATH")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = parse_run_options(options)
            config = replay_config_build(
                market=run.market,
                unit=run.unit,
                strategy=run.strategy,
                params=run.params or None,
                start=run.start,
                end=run.end,
                initial_krw=run.initial_krw,
                fees=run.fees,
                limits=run.limits,
                limit_overrides=run.limit_overrides,
            )
        except (OptionError, ReplayError) as error:
            raise CommandError(str(error)) from None
        try:
            outcome = replay_in_own_database(
                config,
                compare=options["compare"],
                out_dir=Path(options["out"]) if options["out"] else None,
                keep_db=Path(options["keep_db"]) if options["keep_db"] else None,
            )
        except ReplayError as error:
            raise CommandError(str(error)) from None
        report = outcome.report
        if report.error:
            raise CommandError(report.error)
        for line in report.lines:
            self.stdout.write(line)
        if outcome.database is not None:
            self.stdout.write(f"  database     {outcome.database}")
        if outcome.exit_status == DIFFERENCE_EXIT:
            raise CommandError("the replay and the backtest differ (see above)", returncode=DIFFERENCE_EXIT)
        if outcome.exit_status != 0:
            raise CommandError(f"the replay process ended with status {outcome.exit_status}")
        self.stdout.write(self.style.SUCCESS("  replay done"))
