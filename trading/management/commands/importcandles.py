"""Import a candle CSV into the database (all or nothing)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.candle_files import candles_import
from trading.candles import OHLCV_DEFAULT_TZ, CandleDataError, parse_unit, unit_label


class Command(BaseCommand):
    help = (
        "Import candles from a CSV file: Upbit's candle columns (candle_date_time_utc, opening_price, …) or the "
        "plain OHLCV layout pyupbit writes (a KST time index, open, high, low, close, volume, value). "
        "Every row is checked first; one bad row and nothing is stored. Candles already stored are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the CSV file")
        parser.add_argument("--market", help="market code such as KRW-BTC (needed when the file has no market column)")
        parser.add_argument(
            "--unit",
            help="1, 3, 5, 10, 15, 30, 60, 240 (minutes) or day (default: the file's unit column, else its time spacing)",
        )
        parser.add_argument(
            "--tz",
            default=OHLCV_DEFAULT_TZ,
            help=f"zone of naive times in the OHLCV layout (default {OHLCV_DEFAULT_TZ}, as pyupbit writes them)",
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            unit = parse_unit(str(options["unit"])) if options.get("unit") else None
            result = candles_import(
                path=str(options["file"]),
                market=str(options["market"]) if options.get("market") else None,
                unit=unit,
                tz=str(options["tz"]),
            )
        except CandleDataError as error:
            raise CommandError(str(error)) from None
        label = unit_label(result.unit)
        self.stdout.write(
            f"{result.path}: {result.rows_read:,} rows ({result.layout} layout) → {result.candles:,} {result.market} {label} "
            f"candles from {result.first:%Y-%m-%d %H:%M} to {result.last:%Y-%m-%d %H:%M} UTC"
        )
        self.stdout.write(f"  market from {result.market_source}; unit {label} from {result.unit_source}")
        if result.duplicate_lines:
            lines = ", ".join(map(str, result.duplicate_lines[:10]))
            self.stdout.write(f"  {len(result.duplicate_lines)} duplicate line(s) stored once (lines {lines})")
        if result.conflicting_lines:
            pairs = ", ".join(f"{a}/{b}" for a, b in result.conflicting_lines[:10])
            self.stdout.write(
                f"  {len(result.conflicting_lines)} candle(s) listed twice with different values; kept the later (lines {pairs})"
            )
        self.stdout.write(
            self.style.SUCCESS(f"  stored {result.inserted:,} new; {result.already_stored:,} were already stored and kept")
        )
