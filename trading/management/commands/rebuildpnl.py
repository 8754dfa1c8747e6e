"""`python manage.py rebuildpnl [--market KRW-BTC] [--mode paper|live]`: recompute daily realized PnL from fills."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from trading.engine.pnl import pnl_rebuild


class Command(BaseCommand):
    help = (
        "Recompute every day's realized PnL, fees and fill count from the fills (average cost, fees included). "
        "Unrealized PnL, equity and drawdown are market observations and are kept as recorded."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--market", help="only this market, e.g. KRW-BTC")
        parser.add_argument("--mode", choices=("paper", "live"), help="only paper or only live")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = pnl_rebuild(market=options.get("market"), mode=options.get("mode"))
        for row in rows:
            self.stdout.write(
                f"{row.date} {row.market} {row.mode}: realized {row.realized.normalize():f} KRW, "
                f"fees {row.fees.normalize():f} KRW, {row.trades} fill(s)"
            )
        self.stdout.write(f"rebuilt {len(rows)} day(s)")
