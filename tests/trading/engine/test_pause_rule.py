"""The risk gate's pause rules: they refuse the strategy's entries, never a sell or a person's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from trading import pause_services
from trading.engine import pause_rule
from trading.engine.risk import IntentSource, OrderIntent, RiskContext, RiskLimits, Rule, evaluate
from trading.models import EngineState
from trading.schedule_models import PauseWindow

NOW = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)  # 12:00 KST
SEOUL = ZoneInfo("Asia/Seoul")
LIMITS = RiskLimits(
    max_order_krw=D("10000"),
    max_daily_loss_krw=D("50000"),
    max_position_ratio=D("0.3"),
    cooldown_sec=0,
    max_consecutive_failures=3,
)
PAUSED = pause_rule.entries_paused("user:alice", "FOMC")


def context(**overrides: object) -> RiskContext:
    values: dict[str, object] = {
        "now": NOW,
        "price": D("100000000"),
        "krw_free": D("1000000"),
        "coin_volume": D("0.001"),  # 100,000 KRW of coin: a sell of it is above the minimum
        "limits": LIMITS,
        "entries_block": PAUSED,
    }
    values.update(overrides)
    return RiskContext(**values)  # type: ignore[arg-type]


def test_a_pause_refuses_the_strategys_buy_naming_who_paused():
    result = evaluate(OrderIntent(side="buy"), context())

    assert not result.allowed
    assert result.blocked_by is not None
    assert result.blocked_by.rule == Rule.ENTRIES_PAUSED == "entries_paused"
    assert "new entries paused by user:alice (FOMC)" in result.blocked_by.message
    assert result.krw_total is None


@pytest.mark.parametrize(
    ("intent", "label"),
    [
        (OrderIntent(side="sell", source=IntentSource.STRATEGY), "strategy exit"),
        (OrderIntent(side="sell", source=IntentSource.EXIT_RULE, reason="stop_loss"), "stop-loss"),
        (OrderIntent(side="sell", source=IntentSource.KILL_SWITCH), "kill-switch close"),
        (OrderIntent(side="sell", source=IntentSource.MANUAL), "manual sell"),
        (OrderIntent(side="buy", source=IntentSource.MANUAL, krw_total=D("10000")), "manual buy"),
    ],
)
def test_a_pause_lets_exits_protective_stops_and_manual_orders_through(intent, label):
    result = evaluate(intent, context())

    assert result.allowed, f"{label}: {result.message}"
    assert all(check.rule != Rule.ENTRIES_PAUSED for check in result.checks)


def test_without_a_pause_the_same_buy_is_allowed():
    assert evaluate(OrderIntent(side="buy"), context(entries_block=None)).allowed


def test_a_window_and_the_market_offline_have_their_own_sentences():
    window = evaluate(OrderIntent(side="buy"), context(entries_block=pause_rule.pause_window("FOMC", "a", "b")))
    offline = evaluate(OrderIntent(side="buy"), context(entries_block=pause_rule.market_offline("x", "y")))

    assert window.blocked_by is not None
    assert window.blocked_by.message == "new entries paused by the schedule window “FOMC” (a – b, Seoul time)"
    assert offline.blocked_by is not None
    assert offline.blocked_by.rule == Rule.MARKET_OFFLINE
    assert offline.blocked_by.message.startswith("market offline (Upbit maintenance) since x")
    assert pause_rule.pause_text(offline.blocked_by) == {
        "code": "entries_paused_market_offline",
        "params": {"since": "x", "until": "y"},
    }


@pytest.mark.django_db
def test_the_engines_clock_decides_whether_a_window_is_in_force():
    """The gate asks at the time it is given (the exchange's), whatever the PC's clock says."""
    start = datetime(2025, 3, 10, 23, 30, tzinfo=SEOUL)  # 14:30 UTC
    PauseWindow.objects.create(label="FOMC", starts_at=start, ends_at=start + timedelta(hours=2))
    state = EngineState.load()

    assert pause_rule.entries_block_check(state, start - timedelta(seconds=1)) is None
    during = pause_rule.entries_block_check(state, start + timedelta(minutes=45))  # 00:15 KST the next day
    assert during is not None
    assert (
        during.message
        == "new entries paused by the schedule window “FOMC” (2025-03-10 23:30:00 – 2025-03-11 01:30:00, Seoul time)"
    )
    assert pause_rule.entries_block_check(state, start + timedelta(hours=2)) is None


@pytest.mark.django_db
def test_a_persons_pause_is_read_from_the_state_row():
    pause_services.entries_pause(actor="user:bob", reason="news")

    check = pause_rule.entries_block_check(EngineState.load(), NOW)

    assert check is not None
    assert check.rule == Rule.ENTRIES_PAUSED
    assert check.numbers == {"cause": "manual", "actor": "user:bob", "reason": "news"}
