"""`python manage.py runengine [--once] [--log-format text|json]`: the trading engine process."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from trading.engine.logs import configure_logging
from trading.engine.runner import EngineRunner


class Command(BaseCommand):
    help = (
        "Run the trading engine: follows Start/Stop/Reset from the dashboard, trades every LOOP_INTERVAL_SEC while "
        "RUNNING. --once runs exactly one cycle (whatever the state; never trades in ERROR) and exits."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="run one cycle and exit")
        parser.add_argument("--log-format", choices=("text", "json"), default="text", help="text (default) or JSON lines")
        # Set by `runall` when it restarts a dead engine: recorded as an event once this process holds the claim.
        parser.add_argument("--launcher-restart", default="", help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        configure_logging(options["log_format"])
        runner = EngineRunner(out=lambda text: self.stdout.write(text))
        runner.restart_note = options["launcher_restart"]

        # Signal handlers live in the main thread only; they just ask for a graceful stop.
        def on_signal(signum: int, _frame: Any) -> None:
            runner.request_shutdown(signal.Signals(signum).name)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        result = runner.run(once=options["once"])
        if result.exit_code != 0:
            raise CommandError(result.message, returncode=result.exit_code)
        self.stdout.write(f"autocoin engine: {result.message}")
        sys.stdout.flush()
