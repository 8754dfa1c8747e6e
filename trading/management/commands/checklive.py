"""Check, before live trading, that Upbit accepts the keys and would take an order: one line per check."""

from __future__ import annotations

import getpass
import re

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from exchange.preflight import run_live_preflight
from trading import events

MARKET_CODE = re.compile(r"KRW-[A-Z0-9]{1,15}")


class Command(BaseCommand):
    help = (
        "Live pre-flight: the keys are set and accepted, their expiry, the market, the balance for a minimum order, and a "
        "test order through Upbit's POST /v1/orders/test (nothing is placed). Exit 0 when every check passes, 1 when one "
        "fails, 2 on bad usage. The keys are never printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--market", help="the market to check (default: TRADING_MARKET), e.g. KRW-BTC")

    def handle(self, *args: object, **options: object) -> None:
        market = str(options["market"] or settings.TRADING_MARKET)
        if not MARKET_CODE.fullmatch(market):
            raise CommandError(f"--market {market!r} is not a KRW market code; use the form KRW-BTC", returncode=2)
        checks = run_live_preflight(market=market)
        for check in checks:
            self.stdout.write(check.line)
        if not all(check.ok for check in checks):
            try:
                events.live_preflight_failed(actor=f"cli:{getpass.getuser()}", market=market, checks=checks)
            except DatabaseError as error:  # the lines above are the answer; the audit row is a bonus
                self.stderr.write(f"(the failed check could not be recorded in the event log: {error})")
            raise SystemExit(1)
