"""Housekeeping writes that a person runs from the console or a command: pruning old history and starting
the paper account over. The same rules as trading/services.py: one function per change, its audit row
through trading/events.py, refusals with a code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from exchange import paper
from trading import events
from trading.errors import InvalidInput, TransitionNotAllowed
from trading.models import BalanceSnapshot, EngineEvent, EngineState, Signal

State = EngineState.State


# ---------------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------------
def history_prune(*, days: int, actor: str = "prune") -> dict[str, int]:
    """Delete engine events, HOLD signals and balance snapshots older than `days` days.

    Orders, fills, BUY/SELL signals, daily PnL and manual requests are never deleted: they are the
    trading record. The newest balance snapshot of each account is always kept."""
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
    events.history_pruned(actor=actor, days=days, counts=counts)
    return counts


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
