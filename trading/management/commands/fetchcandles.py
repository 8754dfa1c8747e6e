"""Fetch candles from Upbit's public quotation API into the database (resumable)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exchange.exceptions import ExchangeError
from trading.candles import CandleDataError, FetchProgress, candles_fetch, parse_moment, parse_unit, unit_label


class Command(BaseCommand):
    help = (
        "Fetch minute or day candles from Upbit (UPBIT_API_BASE) for a date range, 200 per request, newest first. "
        "Safe to interrupt and run again: what is already stored is not fetched twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--market", default=None, help="market code (default: TRADING_MARKET)")
        parser.add_argument("--unit", default="1", help="1, 3, 5, 10, 15, 30, 60, 240 (minutes) or day (default 1)")
        parser.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD, in TIME_ZONE) or date-time")
        parser.add_argument(
            "--to", dest="end", required=True, help="last day, inclusive (YYYY-MM-DD, in TIME_ZONE) or date-time (exclusive)"
        )
        parser.add_argument("--api-base", default=None, help="Upbit-compatible base URL (default: UPBIT_API_BASE)")

    def handle(self, *args: object, **options: object) -> None:
        from exchange.upbit import UpbitClient

        market = str(options.get("market") or settings.TRADING_MARKET).upper()
        try:
            unit = parse_unit(str(options["unit"]))
            start = parse_moment(str(options["start"]), tz=settings.TIME_ZONE)
            end = parse_moment(str(options["end"]), tz=settings.TIME_ZONE, end_of_day=True)
        except CandleDataError as error:
            raise CommandError(str(error)) from None
        if start >= end:
            raise CommandError(f"--from {options['start']} is not before --to {options['end']}")
        base = str(options.get("api_base") or settings.UPBIT_API_BASE)
        client = UpbitClient.from_settings(with_keys=False) if not options.get("api_base") else UpbitClient(base)
        label = unit_label(unit)
        self.stdout.write(
            f"fetching {market} {label} candles {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC from {client.base_url}"
        )
        last_print = [0.0]

        def progress(step: FetchProgress) -> None:
            now = time.monotonic()
            if now - last_print[0] >= 2 or step.reached <= step.segment_start:
                last_print[0] = now
                self.stdout.write(
                    f"  {step.pages:,} pages, {step.inserted:,} new candles, back to {step.reached:%Y-%m-%d %H:%M} UTC"
                )

        try:
            result = candles_fetch(source=client, market=market, unit=unit, start=start, end=end, progress=progress)
        except CandleDataError as error:
            raise CommandError(str(error)) from None
        except ExchangeError as error:
            raise CommandError(
                f"Upbit: {error}; what was fetched so far is stored, run the same command again to resume"
            ) from None
        finally:
            client.close()
        for oldest, newest in result.skipped_ranges:
            self.stdout.write(f"  already stored: {oldest:%Y-%m-%d %H:%M} → {newest:%Y-%m-%d %H:%M} UTC (not fetched again)")
        self.stdout.write(
            self.style.SUCCESS(
                f"done: {result.pages:,} requests, {result.received:,} candles received, {result.inserted:,} new stored"
            )
        )
