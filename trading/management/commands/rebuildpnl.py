"""`python manage.py rebuildpnl [--market KRW-BTC] [--account paper|current|<account>]`: recompute daily realized
PnL from fills, one ledger per exchange account."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from exchange.factory import account_current
from trading.engine.pnl import pnl_rebuild


class Command(BaseCommand):
    help = (
        "Recompute every day's realized PnL, fees and fill count from the fills (average cost, fees included), "
        "separately for each exchange account. Unrealized PnL, equity and drawdown are market observations and are "
        "kept as recorded."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--market", help="only this market, e.g. KRW-BTC")
        parser.add_argument(
            "--account",
            help='only this account: "paper", "current" (the one the settings name), "live:legacy" or a name as the admin '
            "shows it in the account column, e.g. live:api.upbit.com:3fa9c1d2e4b5",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = options.get("account")
        if account == "current":
            account = account_current()
        rows = pnl_rebuild(market=options.get("market"), account=account)
        for row in rows:
            self.stdout.write(
                f"{row.date} {row.market} {row.account}: realized {row.realized.normalize():f} KRW, "
                f"fees {row.fees.normalize():f} KRW, {row.trades} fill(s)"
            )
        self.stdout.write(f"rebuilt {len(rows)} day(s)")
