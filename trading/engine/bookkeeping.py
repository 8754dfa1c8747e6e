"""After each cycle: the balance snapshot, the day's PnL row, the daily loss check and the daily summary."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from trading import events, services
from trading.engine.failures import FailurePolicy
from trading.engine.gate import OrderPath
from trading.engine.metrics import Metrics
from trading.engine.notify import Notifier
from trading.engine.outcome import EngineStopped
from trading.engine.pnl import Holdings, PnlTracker, SnapshotKeeper
from trading.models import PnlDaily

QUANTUM = Decimal("0.00000001")


class Bookkeeper:
    """Keeps the records a cycle leaves behind and trips the kill-switch on the daily loss limit."""

    def __init__(
        self,
        *,
        market: str,
        account: str,
        metrics: Metrics,
        notifier: Notifier,
        orders: OrderPath,
        failures: FailurePolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self.market = market
        self.account = account
        self.metrics = metrics
        self.notifier = notifier
        self.orders = orders
        self.failures = failures
        self.clock = clock
        self._snapshots: SnapshotKeeper | None = None

    def record(self, holdings: Holdings, price: Decimal, pnl: PnlTracker) -> None:
        """Snapshot, daily PnL and the daily loss check after a cycle (raises EngineStopped when the limit trips)."""
        if self._snapshots is None:
            self._snapshots = SnapshotKeeper(account=self.account, market=self.market)
        snapshots = self._snapshots
        now = self.clock()
        equity = holdings.equity(price)
        # With a snapshot due (the holdings changed, as after a fill) the cycle leaves three rows: one commit for
        # the three, rather than one each (each commit waits for the disk, which cost more than the writes).
        several = snapshots.due(holdings, now)
        try:
            with transaction.atomic() if several else nullcontext():
                if several:
                    snapshots.store(holdings, price, now)
                update = pnl.update(price=price, equity=equity, now=now)
                services.engine_cycle_record(last_price=price)
        except BaseException:
            if several:
                # Rolled back: what the keepers took for written is not, so the next cycle writes it again.
                self._snapshots = None
                pnl.forget_written()
            raise
        self.metrics.equity_krw = equity.quantize(QUANTUM)
        self.metrics.pnl_today_krw = update.total
        if update.new_day and update.previous_day is not None:
            self.daily_summary(update.previous_day)
        if not update.day_start_known:
            # Today's loss cannot be judged without the midnight value; meanwhile the gate refuses new entries.
            return
        if -update.total >= settings.MAX_DAILY_LOSS_KRW and self.orders.loss_limit_day() != update.day:
            # Tripped once per trading day: after a Reset the same day, the risk gate still blocks
            # entries until midnight, but exits and manual sells work again.
            self.orders.loss_limit_hit(update.day)
            self.failures.trip(
                f"the daily loss limit was reached: today's PnL is {events.krw_text(update.total)} KRW "
                f"(realized {events.krw_text(update.realized)}, unrealized {events.krw_text(update.unrealized)}), "
                f"limit -{events.krw_text(settings.MAX_DAILY_LOSS_KRW)} KRW (MAX_DAILY_LOSS_KRW). Open orders were cancelled; "
                "trading stays stopped until Reset, and new entries stay blocked until local midnight",
                meta={
                    "rule": "daily_loss",
                    "account": self.account,
                    "trading_day": update.day.isoformat(),
                    "pnl_today": update.total,
                    "realized": update.realized,
                    "unrealized": update.unrealized,
                },
            )
            raise EngineStopped("kill-switch: daily loss limit")

    def daily_summary(self, day: date) -> None:
        row = PnlDaily.objects.filter(date=day, market=self.market, account=self.account).first()
        if row is None:
            return
        text = (
            f"autocoin daily summary {day} ({row.mode}, {self.market}): realized {events.krw_text(row.realized)} KRW, "
            f"unrealized {events.krw_text(row.unrealized)} KRW, fees {events.krw_text(row.fees)} KRW, {row.trades} fill(s), "
            f"max drawdown {events.krw_text(row.max_drawdown)} KRW"
        )
        events.pnl_reported(message=text, day=day, total=row.total)
        self.notifier.send(text)
