"""The worker process of a backtest asked for from the console: runs the queued job and reports into its row."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.backtest.engine import BacktestError
from trading.backtest.worker import run_job
from trading.backtest_job_models import BacktestJob


class Command(BaseCommand):
    help = "Run a backtest queued from the console (its job id), writing progress and the result into the job's row."
    requires_system_checks = ()  # a worker of the web process, which has run the checks

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--job", type=int, required=True, help="the console backtest's id (BacktestJob)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job = run_job(options["job"])
        except BacktestJob.DoesNotExist:
            raise CommandError(f"no backtest #{options['job']}") from None
        except BacktestError as error:
            raise CommandError(str(error)) from None
        if job.status == BacktestJob.Status.FAILED:
            raise CommandError(f"backtest #{job.pk} failed: {job.error}")
        self.stdout.write(self.style.SUCCESS(f"backtest #{job.pk} done: run #{job.run_id}"))
