"""`python manage.py prune --days N`: delete old events, HOLD signals, balance snapshots and engine candles (never
orders, fills or the market history)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from trading import housekeeping, services


class Command(BaseCommand):
    help = (
        "Delete engine events, HOLD signals, balance snapshots and engine candles (the sandbox's) older than N days; "
        "the newest candles the chart needs are kept. Orders, fills and the market history are never deleted."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, required=True, help="keep this many days (at least 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = housekeeping.history_prune(days=options["days"])
        except services.InvalidInput as error:
            raise CommandError(f"--days {error.message}") from None
        self.stdout.write(
            f"pruned {counts['events']} events, {counts['hold_signals']} HOLD signals, {counts['snapshots']} balance snapshots, "
            f"{counts['engine_candles']} engine candles"
        )
