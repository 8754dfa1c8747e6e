"""Housekeeping writes that a person runs from the console or a command: pruning old history and starting
the paper account over. The same rules as trading/services.py: one function per change, its audit row
through trading/events.py, refusals with a code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from exchange import paper
from trading import events
from trading.chart_models import EngineCandle
from trading.errors import InvalidInput, TransitionNotAllowed
from trading.models import BalanceSnapshot, EngineEvent, EngineState, Signal

State = EngineState.State

ENGINE_CANDLES_KEPT = 6000
"""The newest engine candles each source, market and unit keeps whatever their age: the chart's newest page (1,000)
over the longest warm-up the engine reads (5,000), so its lines stay the engine's numbers after any prune."""


# ---------------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------------
def history_prune(*, days: int, actor: str = "prune") -> dict[str, int]:
    """Delete engine events, HOLD signals, balance snapshots and engine candles (the sandbox's) older than `days` days.

    Orders, fills, BUY/SELL signals, daily PnL and manual requests are never deleted: they are the
    trading record. The newest balance snapshot of each account is always kept, and so are the newest
    `ENGINE_CANDLES_KEPT` engine candles of each source, market and unit. The market history (`Candle`: Upbit's
    candles, which backtests read) is never pruned."""
    if days < 1:
        raise InvalidInput("days", "days_too_small", value=days)
    cutoff = timezone.now() - timedelta(days=days)
    counts: dict[str, int] = {}
    counts["events"], _ = EngineEvent.objects.filter(ts__lt=cutoff).delete()
    hold_signals = Signal.objects.filter(ts__lt=cutoff, action=Signal.Action.HOLD, orders__isnull=True)
    counts["hold_signals"], _ = hold_signals.delete()
    # Each account keeps its newest snapshot (snapshots are written in time order), so every ledger keeps its balance.
    newest = BalanceSnapshot.objects.values("account").annotate(last=Max("id")).values_list("last", flat=True)
    old_snapshots = BalanceSnapshot.objects.filter(ts__lt=cutoff).exclude(id__in=list(newest))
    counts["snapshots"], _ = old_snapshots.delete()
    counts["engine_candles"] = _engine_candles_prune(cutoff)
    events.history_pruned(actor=actor, days=days, counts=counts)
    return counts


def _engine_candles_prune(cutoff: datetime) -> int:
    """Delete engine candles older than `cutoff`, keeping the newest ENGINE_CANDLES_KEPT of each series."""
    deleted = 0
    series = EngineCandle.objects.values_list("source", "market", "unit").distinct().order_by()
    for source, market, unit in list(series):
        rows = EngineCandle.objects.filter(source=source, market=market, unit=unit)
        kept_from = rows.order_by("-ts").values_list("ts", flat=True)[ENGINE_CANDLES_KEPT - 1 : ENGINE_CANDLES_KEPT].first()
        if kept_from is not None:
            count, _ = rows.filter(ts__lt=min(cutoff, kept_from)).delete()
            deleted += count
    return deleted


# ---------------------------------------------------------------------------------------------------
# The paper account
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaperResetResult:
    initial_krw: Decimal
    cancelled_orders: int


def paper_account_reset(*, actor: str, initial_krw: Decimal | None = None) -> PaperResetResult:
    """Start the paper account over with `initial_krw` (default PAPER_INITIAL_KRW): open paper orders are
    cancelled, coins removed. Refused while the engine is RUNNING or STOPPING (it may be trading on the
    account); the engine state row stays locked meanwhile so a Start cannot slip in."""
    amount = settings.PAPER_INITIAL_KRW if initial_krw is None else initial_krw
    with transaction.atomic():
        EngineState.load()
        state = EngineState.objects.select_for_update().get(pk=EngineState.SINGLETON_PK)
        if state.state in (State.RUNNING, State.STOPPING):
            raise TransitionNotAllowed("paper_reset_while_trading", current=state.state)
        try:
            result = paper.reset_account(amount)
        except ValueError as error:
            raise InvalidInput("initial_krw", "invalid_amount", problem=str(error)) from None
        previous = {balance.currency: balance.balance + balance.locked for balance in result.previous_balances}
        events.paper_account_reset(
            actor=actor,
            state=state.state,
            initial_krw=result.initial_krw,
            cancelled_orders=result.cancelled_orders,
            previous=previous,
        )
    return PaperResetResult(initial_krw=result.initial_krw, cancelled_orders=result.cancelled_orders)
