"""Trade-by-trade comparison of a backtest and a replay of the same candles, with the rule behind each difference.

Both sides list their fills as `TradeRecord`s. They are lined up by (side, candle) with a longest-common-
subsequence match, so one extra trade on one side shows as one missing trade, not as every later trade
differing. Lined-up trades are compared on time, side, price and volume exactly, and on fee and realized
PnL to the won (quantized to 1 KRW: the two may round sub-won amounts differently). Whatever remains
unmatched in a stretch between matches is paired in order when the sides agree (the same trade made at
another candle), else reported as missing on one side.

Each difference gets a one-line explanation naming the rule where it can tell: the decision reason of
each side (entry, exit_signal, stop_loss, take_profit, trailing_stop …), a risk-gate block on the other
side near that time (the backtest's `BlockedOrder`s, the engine's `risk_blocked` events), or a
kill-switch the replay reset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from difflib import SequenceMatcher

from trading.backtest.engine import BlockedOrder, TradeRecord
from trading.replay.runner import KillSwitchTrip, RiskBlock

WON = Decimal("1")
EXACT_FIELDS = ("ts", "side", "price", "volume")
MONEY_FIELDS = ("fee", "realized_pnl")


@dataclass(frozen=True, slots=True)
class TradeDifference:
    backtest: TradeRecord | None
    replay: TradeRecord | None
    fields: tuple[str, ...]
    """The fields that differ; empty when one side has no trade."""
    explanation: str


@dataclass(frozen=True)
class Comparison:
    matched: int
    """Trades present on both sides with every compared field equal."""
    differences: list[TradeDifference]

    @property
    def identical(self) -> bool:
        return not self.differences


def _won(value: Decimal) -> Decimal:
    return value.quantize(WON, rounding=ROUND_HALF_EVEN)


def differing_fields(backtest: TradeRecord, replay: TradeRecord) -> tuple[str, ...]:
    fields = [name for name in EXACT_FIELDS if getattr(backtest, name) != getattr(replay, name)]
    fields += [name for name in MONEY_FIELDS if _won(getattr(backtest, name)) != _won(getattr(replay, name))]
    return tuple(fields)


def _describe(trade: TradeRecord) -> str:
    return f"{trade.side} {trade.volume} @ {trade.price:,.0f} at {trade.ts:%Y-%m-%d %H:%M:%S} ({trade.reason or 'no reason'})"


def _near(moment: datetime, other: datetime, window: timedelta) -> bool:
    return abs(other - moment) <= window


@dataclass(frozen=True)
class _Context:
    backtest_blocked: Sequence[BlockedOrder]
    replay_blocked: Sequence[RiskBlock]
    kill_switches: Sequence[KillSwitchTrip]
    window: timedelta

    def backtest_block(self, trade: TradeRecord) -> str:
        for block in self.backtest_blocked:
            if block.side == trade.side and _near(trade.decided_at, block.decided_at, self.window):
                return f"the backtest's risk gate blocked its {block.side} ({block.reason}) by {block.rule}: {block.message}"
        return ""

    def replay_block(self, trade: TradeRecord) -> str:
        for block in self.replay_blocked:
            if block.side == trade.side and _near(trade.decided_at, block.ts, self.window):
                return f"the engine's risk gate blocked its {block.side} by {block.rule}: {block.message}"
        for trip in self.kill_switches:
            if trip.ts <= trade.decided_at and trade.decided_at - trip.ts <= timedelta(days=1):
                rule = trip.rule or "kill-switch"
                return f"the replay's kill-switch tripped at {trip.ts:%Y-%m-%d %H:%M:%S} ({rule}) and was reset"
        return ""


def _explain_pair(backtest: TradeRecord, replay: TradeRecord, fields: tuple[str, ...]) -> str:
    if backtest.reason != replay.reason:
        return f"different rules: the backtest's {backtest.side} is {backtest.reason}, the replay's is {replay.reason}"
    if "ts" in fields:
        return (
            f"the same rule ({backtest.reason}) acted at different moments: the backtest decided at "
            f"{backtest.decided_at:%Y-%m-%d %H:%M:%S}, the replay at {replay.decided_at:%Y-%m-%d %H:%M:%S}"
        )
    if "price" in fields:
        return f"the same rule ({backtest.reason}) at the same moment filled at another price"
    if "volume" in fields:
        return f"the same rule ({backtest.reason}) sized the order differently (balances or limits differ by then)"
    return f"the same {backtest.reason} trade differs in money: {', '.join(fields)}"


def _explain_missing(trade: TradeRecord, *, only_in: str, context: _Context) -> str:
    other = "replay" if only_in == "backtest" else "backtest"
    blocked = context.replay_block(trade) if only_in == "backtest" else context.backtest_block(trade)
    base = f"only in the {only_in}: {trade.reason or trade.side}"
    return f"{base}; {blocked}" if blocked else f"{base}; the {other} made no {trade.side} here"


def compare_trades(
    backtest: Sequence[TradeRecord],
    replay: Sequence[TradeRecord],
    *,
    backtest_blocked: Sequence[BlockedOrder] = (),
    replay_blocked: Sequence[RiskBlock] = (),
    kill_switches: Sequence[KillSwitchTrip] = (),
    unit_sec: int = 60,
) -> Comparison:
    """Line up and compare two trade lists (both oldest first); see the module docstring."""
    context = _Context(backtest_blocked, replay_blocked, kill_switches, timedelta(seconds=2 * unit_sec))
    keys_b = [(trade.side, trade.index) for trade in backtest]
    keys_r = [(trade.side, trade.index) for trade in replay]
    matcher = SequenceMatcher(None, keys_b, keys_r, autojunk=False)
    differences: list[TradeDifference] = []
    matched = 0

    def pair(b: TradeRecord, r: TradeRecord) -> None:
        nonlocal matched
        fields = differing_fields(b, r)
        if fields:
            differences.append(TradeDifference(b, r, fields, _explain_pair(b, r, fields)))
        else:
            matched += 1

    for tag, b_lo, b_hi, r_lo, r_hi in matcher.get_opcodes():
        if tag == "equal":
            for b, r in zip(backtest[b_lo:b_hi], replay[r_lo:r_hi], strict=True):
                pair(b, r)
            continue
        left, right = list(backtest[b_lo:b_hi]), list(replay[r_lo:r_hi])
        while left and right and left[0].side == right[0].side:
            pair(left.pop(0), right.pop(0))
        merged = [(trade, "backtest") for trade in left] + [(trade, "replay") for trade in right]
        merged.sort(key=lambda item: item[0].ts)
        for trade, side in merged:
            differences.append(
                TradeDifference(
                    trade if side == "backtest" else None,
                    trade if side == "replay" else None,
                    (),
                    _explain_missing(trade, only_in=side, context=context),
                )
            )
    return Comparison(matched=matched, differences=differences)


def difference_lines(comparison: Comparison) -> list[str]:
    """The comparison as text: one line per differing trade pair, then its explanation."""
    if comparison.identical:
        return [f"identical: {comparison.matched} trades"]
    lines = [f"{len(comparison.differences)} difference(s), {comparison.matched} identical trade(s)"]
    for number, difference in enumerate(comparison.differences, start=1):
        b = _describe(difference.backtest) if difference.backtest else "-"
        r = _describe(difference.replay) if difference.replay else "-"
        what = f" [{', '.join(difference.fields)}]" if difference.fields else ""
        lines.append(f"  {number}. backtest {b} | replay {r}{what}")
        lines.append(f"     {difference.explanation}")
    return lines
