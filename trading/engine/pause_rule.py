"""The risk gate's pause rules: a person's pause, a schedule window, the exchange's maintenance.

Each refuses the strategy's new entries only (`risk.evaluate` applies `RiskContext.entries_block` to strategy
buys); sells of every kind and a person's manual orders pass. The engine judges them at the exchange's time
(the ticker's), so a window opens and closes by the exchange's clock, not the PC's.

The backtester and the replay leave `entries_block` empty: a person's pause is about the live engine, and the
schedule describes real dates a backtest does not trade through. The replay runs the engine over a database of
its own, where no person has paused anything and no window is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trading import event_texts
from trading.engine.risk import RiskCheck, Rule
from trading.models import EngineState
from trading.pause_selectors import EntriesBlock, entries_block

_SENTENCE = {
    "manual": "entries_paused_manual",
    "schedule": "entries_paused_schedule",
    "market_offline": "entries_paused_market_offline",
}


def entries_paused(actor: str, reason: str) -> RiskCheck:
    """A person paused new entries (until they resume them)."""
    return _check(EntriesBlock(Rule.ENTRIES_PAUSED, "manual", {"actor": actor, "reason": reason}))


def pause_window(label: str, starts: str, ends: str) -> RiskCheck:
    """A schedule window is in force (its times as shown, in Seoul time)."""
    return _check(EntriesBlock(Rule.ENTRIES_PAUSED, "schedule", {"label": label, "starts": starts, "ends": ends}))


def market_offline(since: str, until: str) -> RiskCheck:
    """The exchange said `market_offline` lately: no new position while it may still be under maintenance."""
    return _check(EntriesBlock(Rule.MARKET_OFFLINE, "market_offline", {"since": since, "until": until}))


def _check(block: EntriesBlock) -> RiskCheck:
    code = _SENTENCE[block.cause]
    return RiskCheck(False, block.rule, event_texts.english(code, **block.params), {"cause": block.cause, **block.params})


def entries_block_check(state: EngineState, now: datetime) -> RiskCheck | None:
    """The check that refuses new entries at the exchange's time `now`, or None when entries may open."""
    block = entries_block(state, now)
    return _check(block) if block is not None else None


def pause_text(check: RiskCheck) -> dict[str, Any] | None:
    """The person's sentence (in their language on the dashboard) for an entry a pause refused, else None."""
    cause = check.numbers.get("cause") if check.rule in (Rule.ENTRIES_PAUSED, Rule.MARKET_OFFLINE) else None
    if cause not in _SENTENCE:
        return None
    params = {name: value for name, value in check.numbers.items() if name != "cause"}
    return event_texts.meta(_SENTENCE[str(cause)], **params)
