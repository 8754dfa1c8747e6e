"""Comparing the backtest's trades with the replay's, trade by trade, with the rule behind each difference."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading.backtest.engine import BlockedOrder, TradeRecord
from trading.replay.compare import compare_trades, difference_lines
from trading.replay.runner import KillSwitchTrip, RiskBlock

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _trade(index: int, side: str, reason: str, price: str = "100000000", **changes) -> TradeRecord:
    ts = T0 + timedelta(minutes=index)
    trade = TradeRecord(
        index=index,
        ts=ts,
        side=side,
        reason=reason,
        decided_at=ts,
        price=Decimal(price),
        volume=Decimal("0.00999500"),
        funds=Decimal("999500"),
        fee=Decimal("499.75"),
        realized_pnl=Decimal("0") if side == "buy" else Decimal("-1000.25"),
        krw_after=Decimal("0"),
        coin_after=Decimal("0"),
        equity_after=Decimal("0"),
    )
    return replace(trade, **changes)


TRADES = [
    _trade(3, "buy", "entry"),
    _trade(9, "sell", "exit_signal"),
    _trade(15, "buy", "entry"),
    _trade(20, "sell", "stop_loss"),
]


def test_identical_lists_say_so_with_the_count():
    comparison = compare_trades(TRADES, [replace(trade) for trade in TRADES])
    assert comparison.identical
    assert comparison.matched == 4
    assert difference_lines(comparison) == ["identical: 4 trades"]


def test_money_is_compared_to_the_won_and_volume_and_price_exactly():
    close_enough = [replace(TRADES[0], fee=Decimal("499.7501"), realized_pnl=Decimal("0.4")), *TRADES[1:]]
    assert compare_trades(TRADES, close_enough).identical
    for field, value in (("volume", Decimal("0.00999501")), ("price", Decimal("100001000")), ("fee", Decimal("501"))):
        changed = [TRADES[0], replace(TRADES[1], **{field: value}), *TRADES[2:]]
        comparison = compare_trades(TRADES, changed)
        assert not comparison.identical
        assert comparison.matched == 3
        (difference,) = comparison.differences
        assert difference.fields == (field,)
        assert (difference.backtest, difference.replay) == (TRADES[1], changed[1])


def test_a_trade_made_at_another_moment_by_the_same_rule_is_one_differing_pair():
    later = [
        *TRADES[:3],
        replace(TRADES[3], ts=TRADES[3].ts + timedelta(seconds=2), decided_at=TRADES[3].ts + timedelta(seconds=2)),
    ]
    (difference,) = compare_trades(TRADES, later).differences
    assert difference.fields == ("ts",)
    assert "the same rule (stop_loss) acted at different moments" in difference.explanation


def test_a_pair_made_by_different_rules_names_both():
    other_rule = [*TRADES[:3], replace(TRADES[3], reason="trailing_stop", index=21, ts=TRADES[3].ts + timedelta(minutes=1))]
    (difference,) = compare_trades(TRADES, other_rule).differences
    assert set(difference.fields) == {"ts"}
    assert difference.explanation == "different rules: the backtest's sell is stop_loss, the replay's is trailing_stop"


def test_a_trade_missing_in_the_replay_names_the_engines_risk_block():
    replay = [TRADES[0], TRADES[1]]
    block = RiskBlock(
        ts=TRADES[2].decided_at,
        side="buy",
        source="strategy",
        reason="BUY by sma_cross: entry",
        rule="cooldown",
        message="wait 60 s",
    )
    comparison = compare_trades(TRADES, replay, replay_blocked=[block])
    assert comparison.matched == 2
    first, second = comparison.differences
    assert (first.backtest, first.replay, first.fields) == (TRADES[2], None, ())
    assert first.explanation == "only in the backtest: entry; the engine's risk gate blocked its buy by cooldown: wait 60 s"
    assert second.backtest == TRADES[3]
    assert second.explanation == "only in the backtest: stop_loss; the replay made no sell here"
    lines = difference_lines(comparison)
    assert lines[0] == "2 difference(s), 2 identical trade(s)"
    assert lines[1].startswith("  1. backtest buy 0.00999500 @ 100,000,000 at 2024-03-01 00:15:00 (entry) | replay -")


def test_a_trade_missing_in_the_backtest_names_its_block_or_the_kill_switch():
    extra = _trade(12, "buy", "entry")
    replay = [TRADES[0], TRADES[1], extra, _trade(13, "sell", "exit_signal"), *TRADES[2:]]
    blocked = [
        BlockedOrder(index=12, decided_at=extra.decided_at, side="buy", reason="entry", rule="daily_loss", message="limit")
    ]
    comparison = compare_trades(TRADES, replay, backtest_blocked=blocked)
    assert comparison.matched == 4
    first, second = comparison.differences
    assert (first.backtest, first.replay) == (None, extra)
    assert first.explanation == "only in the replay: entry; the backtest's risk gate blocked its buy (entry) by daily_loss: limit"
    assert second.explanation == "only in the replay: exit_signal; the backtest made no sell here"

    trip = KillSwitchTrip(ts=TRADES[1].ts, rule="daily_loss", message="limit reached")
    (only,) = compare_trades(TRADES, TRADES[:2], kill_switches=[trip]).differences[:1]
    assert "the replay's kill-switch tripped at 2024-03-01 00:09:00 (daily_loss) and was reset" in only.explanation


def test_every_trade_missing_on_one_side_is_listed():
    comparison = compare_trades([], TRADES)
    assert [difference.replay for difference in comparison.differences] == TRADES
    assert all(difference.backtest is None for difference in comparison.differences)
    assert compare_trades(TRADES, []).matched == 0
    assert not compare_trades([], []).differences
