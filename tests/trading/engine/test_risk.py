from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from exchange.rules import fee_for, spendable_total
from trading.engine.days import day_start, next_day_start
from trading.engine.risk import (
    IntentSource,
    OrderIntent,
    RiskContext,
    RiskLimits,
    Rule,
    cooldown,
    daily_loss_limit,
    evaluate,
    max_order_size,
    position_cap,
    position_room,
    sell_size,
    trading_day,
)
from trading.engine.risk_limits import kill_switch_reasons, risk_context_from_settings, risk_limits_from_settings
from trading.strategies import Action, Decision, Reason

KST = "Asia/Seoul"
NOW = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)  # 12:00 KST
LIMITS = RiskLimits(
    max_order_krw=D("10000"),
    max_daily_loss_krw=D("50000"),
    max_position_ratio=D("0.3"),
    cooldown_sec=30,
    max_consecutive_failures=3,
    time_zone=KST,
)


def context(**overrides) -> RiskContext:
    values = {
        "now": NOW,
        "price": D("100000000"),
        "krw_free": D("1000000"),
        "coin_volume": D("0"),
        "limits": LIMITS,
    }
    values.update(overrides)
    return RiskContext(**values)


# ---------------------------------------------------------------------------------------------------
# The trading day is the KST calendar day
# ---------------------------------------------------------------------------------------------------
def test_the_trading_day_turns_at_kst_midnight_which_is_15_utc():
    assert trading_day(datetime(2025, 3, 10, 14, 59, 59, tzinfo=UTC), KST) == date(2025, 3, 10)
    assert trading_day(datetime(2025, 3, 10, 15, 0, 0, tzinfo=UTC), KST) == date(2025, 3, 11)


def test_utc_midnight_is_not_a_boundary():
    before = datetime(2025, 3, 10, 23, 59, tzinfo=UTC)  # 08:59 KST on the 11th
    after = datetime(2025, 3, 11, 0, 1, tzinfo=UTC)  # 09:01 KST on the 11th
    assert trading_day(before, KST) == trading_day(after, KST) == date(2025, 3, 11)


def test_day_start_and_end_are_local_midnights():
    start = day_start(NOW, KST)
    assert start.astimezone(UTC) == datetime(2025, 3, 9, 15, 0, tzinfo=UTC)
    assert next_day_start(NOW, KST).astimezone(UTC) == datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
    assert day_start(datetime(2025, 3, 10, 15, 0, tzinfo=UTC), KST).astimezone(UTC) == datetime(2025, 3, 10, 15, 0, tzinfo=UTC)


def test_trading_day_refuses_a_naive_time():
    with pytest.raises(ValueError, match="aware"):
        trading_day(datetime(2025, 3, 10, 12, 0), KST)


# ---------------------------------------------------------------------------------------------------
# Daily loss limit
# ---------------------------------------------------------------------------------------------------
def test_daily_loss_below_the_limit_is_allowed_and_at_the_limit_is_blocked():
    assert daily_loss_limit(D("-30000"), D("-19999"), D("50000")).allowed
    blocked = daily_loss_limit(D("-30000"), D("-20000"), D("50000"))
    assert not blocked.allowed
    assert blocked.rule == Rule.DAILY_LOSS
    assert blocked.numbers == {"realized_today": "-30000", "unrealized_now": "-20000", "pnl_today": "-50000", "limit": "50000"}
    assert "today's PnL -50,000 KRW" in blocked.message
    assert "-50,000 KRW" in blocked.message


def test_daily_profit_offsets_unrealized_loss():
    assert daily_loss_limit(D("20000"), D("-60000"), D("50000")).allowed  # -40,000 in total


def test_daily_loss_block_holds_for_the_rest_of_the_day_after_a_recovery():
    today = date(2025, 3, 10)
    check = daily_loss_limit(D("-10000"), D("0"), D("50000"), today=today, hit_on=today)
    assert not check.allowed
    assert "reached earlier today (2025-03-10)" in check.message
    assert daily_loss_limit(D("-10000"), D("0"), D("50000"), today=today, hit_on=date(2025, 3, 9)).allowed


def test_daily_loss_blocks_buys_until_kst_midnight_never_sells():
    hit_on = date(2025, 3, 10)
    late = context(now=datetime(2025, 3, 10, 14, 59, 59, tzinfo=UTC), loss_limit_day=hit_on)
    assert evaluate(OrderIntent("buy"), late).blocked_by.rule == Rule.DAILY_LOSS
    # 00:00 UTC is 09:00 KST on the same trading day: still blocked.
    utc_midnight = context(now=datetime(2025, 3, 10, 0, 0, tzinfo=UTC), loss_limit_day=hit_on)
    assert not evaluate(OrderIntent("buy"), utc_midnight).allowed
    next_day = context(now=datetime(2025, 3, 10, 15, 0, tzinfo=UTC), loss_limit_day=hit_on)
    assert evaluate(OrderIntent("buy"), next_day).allowed
    losing = context(realized_today=D("-70000"), coin_volume=D("0.001"))
    assert not evaluate(OrderIntent("buy"), losing).allowed
    assert evaluate(OrderIntent("sell"), losing).allowed


def test_an_unknown_day_start_blocks_every_buy_and_no_sell():
    unknown = context(day_start_known=False, coin_volume=D("0.001"), realized_today=D("1000"))
    for source in IntentSource:
        result = evaluate(OrderIntent("buy", source=source), unknown)
        assert result.blocked_by.rule == Rule.DAY_START_UNKNOWN
        assert "today's starting value is unknown" in result.message
        assert result.as_meta()["blocked_by"] == "day_start_unknown"
        assert dict(result.blocked_by.numbers) == {"trading_day": "2025-03-10"}
        assert evaluate(OrderIntent("sell", source=source), unknown).allowed
    assert evaluate(OrderIntent("buy"), replace(unknown, day_start_known=True)).allowed


# ---------------------------------------------------------------------------------------------------
# Cooldown
# ---------------------------------------------------------------------------------------------------
def test_cooldown_allows_exactly_at_the_boundary():
    last = NOW - timedelta(seconds=30)
    check = cooldown(last, NOW, 30)
    assert check.allowed
    assert check.numbers["elapsed_sec"] == "30"


def test_cooldown_blocks_just_before_the_boundary():
    check = cooldown(NOW - timedelta(seconds=29, microseconds=999999), NOW, 30, side="sell")
    assert not check.allowed
    assert check.rule == Rule.COOLDOWN
    assert "the last sell order was 29.999999 s ago" in check.message
    assert "allowed in 0.000001 s (ORDER_COOLDOWN_SEC=30)" in check.message


def test_cooldown_without_a_previous_order_or_when_off():
    assert cooldown(None, NOW, 30).allowed
    assert cooldown(NOW, NOW, 0).allowed


def test_cooldown_applies_to_strategy_orders_only():
    recent = context(last_buy_at=NOW - timedelta(seconds=5), last_sell_at=NOW - timedelta(seconds=5), coin_volume=D("0.001"))
    assert evaluate(OrderIntent("buy"), recent).blocked_by.rule == Rule.COOLDOWN
    assert evaluate(OrderIntent("sell"), recent).blocked_by.rule == Rule.COOLDOWN
    for source in (IntentSource.EXIT_RULE, IntentSource.MANUAL, IntentSource.KILL_SWITCH):
        assert evaluate(OrderIntent("sell", source=source), recent).allowed, source
    assert evaluate(OrderIntent("buy", source=IntentSource.MANUAL, krw_total=D("6000")), recent).allowed
    # The cooldown is per side: a recent buy does not hold back a sell.
    assert evaluate(OrderIntent("sell"), replace(recent, last_sell_at=None)).allowed


# ---------------------------------------------------------------------------------------------------
# Sizing: fee-aware, MAX_ORDER_KRW, minimum order
# ---------------------------------------------------------------------------------------------------
def test_buy_is_sized_at_max_order_krw_when_there_is_room():
    check = max_order_size(krw_free=D("1000000"), max_order_krw=D("10000"), position_room_krw=D("299955"))
    assert check.allowed
    assert check.size == D("10000")
    assert check.numbers["bound_by"] == "MAX_ORDER_KRW"
    assert check.numbers["fee"] == "5.00000000"


def test_buy_with_the_whole_balance_leaves_room_for_the_fee():
    check = max_order_size(krw_free=D("10004"), max_order_krw=D("10000"))
    # 10,000 + 5 fee > 10,004: the total drops to 9,999 (+ 4.9995 fee = 10,003.9995).
    assert check.size == D("9999")
    assert check.size + fee_for(check.size) <= D("10004")
    assert check.numbers["bound_by"] == "the KRW balance incl. the fee"


def test_fee_aware_sizing_never_exceeds_the_balance():
    rng = random.Random(7)
    for _ in range(2000):
        krw = D(rng.randrange(5000, 3_000_000)) + D(rng.randrange(0, 10**8)) / D(10**8)
        check = max_order_size(krw_free=krw, max_order_krw=D("1000000000"))
        total = check.size
        assert total + fee_for(total) <= krw, krw
        assert (total + 1) + fee_for(total + 1) > krw, krw  # and it is the largest whole-KRW total that fits


def test_buy_below_the_minimum_is_blocked():
    blocked = max_order_size(krw_free=D("5002"), max_order_krw=D("10000"))
    assert not blocked.allowed
    assert blocked.rule == Rule.MIN_ORDER
    assert blocked.size == D("4999")
    assert "a buy of 4,999 KRW (bound by the KRW balance incl. the fee) is below Upbit's minimum order of 5,000 KRW" in (
        blocked.message
    )
    allowed = max_order_size(krw_free=D("5003"), max_order_krw=D("10000"))  # 5,000 + 2.5 fee
    assert allowed.allowed
    assert allowed.size == D("5000")


def test_requested_amount_above_a_limit_is_blocked_not_trimmed():
    check = max_order_size(krw_free=D("1000000"), max_order_krw=D("10000"), requested_krw=D("100000"))
    assert not check.allowed
    assert check.rule == Rule.MAX_ORDER_SIZE
    assert "a buy of 100,000 KRW is more than MAX_ORDER_KRW allows; the most allowed now is 10,000 KRW" in check.message
    fits = max_order_size(krw_free=D("1000000"), max_order_krw=D("10000"), requested_krw=D("7000"))
    assert fits.allowed
    assert fits.size == D("7000")


def test_max_order_krw_with_decimals_is_floored_to_whole_krw():
    assert max_order_size(krw_free=D("1000000"), max_order_krw=D("10000.9")).size == D("10000")


# ---------------------------------------------------------------------------------------------------
# Position cap
# ---------------------------------------------------------------------------------------------------
def test_position_cap_allows_exactly_the_ratio_and_blocks_above():
    assert position_cap(D("300000"), D("1000000"), D("0.3")).allowed
    blocked = position_cap(D("300001"), D("1000000"), D("0.3"))
    assert not blocked.allowed
    assert blocked.rule == Rule.POSITION_CAP
    assert blocked.numbers["cap"] == "300000.0"
    assert "30.00% of equity 1,000,000 KRW" in blocked.message


def test_position_room_accounts_for_the_fee_leaving_equity():
    # T <= 0.3 × (1,000,000 − 0.0005 T)  →  T <= 300,000 / 1.00015 = 299,955.006…
    room = position_room(D("1000000"), D("0"), D("0.3"))
    assert room == D("299955")
    assert position_cap(room, D("1000000") - fee_for(room), D("0.3")).allowed
    assert not position_cap(room + 1, D("1000000") - fee_for(room + 1), D("0.3")).allowed


def test_position_room_is_zero_once_the_cap_is_reached():
    assert position_room(D("1000000"), D("300000"), D("0.3")) == D("0")
    assert position_room(D("1000000"), D("400000"), D("0.3")) == D("0")


def test_buy_is_bound_by_the_position_cap():
    # Equity 1,000,000 (700,000 KRW + 0.003 BTC at 100,000,000 = 300,000): the coin is already at 30%.
    full = context(krw_free=D("700000"), coin_volume=D("0.003"), limits=replace(LIMITS, max_order_krw=D("500000")))
    result = evaluate(OrderIntent("buy"), full)
    assert not result.allowed
    assert result.blocked_by.rule == Rule.MIN_ORDER
    assert "(bound by the position cap)" in result.message
    # With 20% in the coin there is room for about 10% more.
    part = context(krw_free=D("800000"), coin_volume=D("0.002"), limits=replace(LIMITS, max_order_krw=D("500000")))
    sized = evaluate(OrderIntent("buy"), part)
    assert sized.allowed
    assert sized.krw_total == position_room(D("1000000"), D("200000"), D("0.3")) == D("99985")
    assert sized.checks[-1].rule == Rule.POSITION_CAP
    assert sized.checks[-1].allowed


# ---------------------------------------------------------------------------------------------------
# Sells: size, minimum and dust
# ---------------------------------------------------------------------------------------------------
def test_sell_everything_free_by_default():
    check = sell_size(coin_volume=D("0.0012345678912"), price=D("100000000"))
    assert check.allowed
    assert check.size == D("0.00123456")


def test_dust_is_blocked_and_reported_as_dust():
    check = sell_size(coin_volume=D("0.00004"), price=D("100000000"))  # 4,000 KRW
    assert not check.allowed
    assert check.rule == Rule.DUST
    assert check.numbers["dust"] == "true"
    assert "dust: 0.00004 worth 4,000 KRW is below Upbit's minimum order of 5,000 KRW" in check.message
    assert "stays in the account" in check.message


def test_partial_sell_below_the_minimum_is_blocked():
    check = sell_size(coin_volume=D("0.001"), price=D("100000000"), requested_volume=D("0.00001"))
    assert not check.allowed
    assert check.rule == Rule.MIN_ORDER
    assert sell_size(coin_volume=D("0.001"), price=D("100000000"), requested_volume=D("0.00005")).allowed


def test_selling_more_than_held_is_blocked():
    check = sell_size(coin_volume=D("0.001"), price=D("100000000"), requested_volume=D("0.002"))
    assert not check.allowed
    assert check.rule == Rule.SELL_SIZE
    assert "more than the free balance 0.001" in check.message


def test_nothing_to_sell():
    result = evaluate(OrderIntent("sell", source=IntentSource.MANUAL), context())
    assert not result.allowed
    assert "nothing to sell" in result.message


# ---------------------------------------------------------------------------------------------------
# Kill switch
# ---------------------------------------------------------------------------------------------------
def test_kill_switch_reasons():
    assert kill_switch_reasons(False, 2, 2, 3) == []
    reasons = kill_switch_reasons(True, 3, 4, 3)
    assert [reason.rule for reason in reasons] == [Rule.DAILY_LOSS, Rule.ORDER_FAILURES, Rule.API_FAILURES]
    assert reasons[1].message == "3 orders failed in a row (MAX_CONSECUTIVE_FAILURES=3)"
    assert [reason.rule for reason in kill_switch_reasons(False, 0, 3, 3)] == [Rule.API_FAILURES]


def test_kill_switch_blocks_entries_but_not_exits():
    tripped = context(kill_switch=True, kill_switch_reason="3 orders failed in a row", coin_volume=D("0.001"))
    buy = evaluate(OrderIntent("buy"), tripped)
    assert not buy.allowed
    assert buy.blocked_by.rule == Rule.KILL_SWITCH
    assert "kill switch is on: 3 orders failed in a row" in buy.message
    assert not evaluate(OrderIntent("buy", source=IntentSource.MANUAL, krw_total=D("6000")), tripped).allowed
    sell = evaluate(OrderIntent("sell", source=IntentSource.KILL_SWITCH), tripped)
    assert sell.allowed
    assert sell.volume == D("0.001")


# ---------------------------------------------------------------------------------------------------
# The gate as a whole
# ---------------------------------------------------------------------------------------------------
def test_allowed_buy_reports_every_check_and_the_size():
    result = evaluate(OrderIntent("buy"), context())
    assert result.allowed
    assert result.approved
    assert result.reasons == []
    assert result.krw_total == D("10000")
    assert [check.rule for check in result.checks] == [
        Rule.KILL_SWITCH,
        Rule.DAILY_LOSS,
        Rule.COOLDOWN,
        Rule.MAX_ORDER_SIZE,
        Rule.POSITION_CAP,
    ]
    meta = json.loads(json.dumps(result.as_meta(), cls=DjangoJSONEncoder))
    assert meta["krw_total"] == "10000"
    assert meta["blocked_by"] is None


def test_blocked_buy_names_the_first_rule_and_lists_every_reason():
    result = evaluate(OrderIntent("buy"), context(kill_switch=True, realized_today=D("-60000")))
    assert not result.allowed
    assert result.krw_total is None
    assert result.blocked_by.rule == Rule.KILL_SWITCH
    assert len(result.reasons) == 2
    assert result.as_meta()["blocked_by"] == "kill_switch"


def test_no_price_blocks():
    assert evaluate(OrderIntent("buy"), context(price=D("0"))).blocked_by.rule == Rule.PRICE


def test_fee_never_pushes_a_buy_over_the_balance_in_the_gate():
    tight = context(krw_free=D("7003.5"), limits=replace(LIMITS, max_position_ratio=D("1")))
    result = evaluate(OrderIntent("buy"), tight)
    assert result.allowed
    assert result.krw_total + fee_for(result.krw_total) <= D("7003.5")
    assert result.krw_total == spendable_total(D("7003.5")) == D("7000")


def test_intent_from_a_decision():
    stop = Decision(Action.SELL, D("0"), "stop", reason=Reason.STOP_LOSS)
    assert OrderIntent.from_decision(stop).source == IntentSource.EXIT_RULE
    entry = Decision(Action.BUY, D("1"), "cross", reason=Reason.ENTRY)
    assert OrderIntent.from_decision(entry) == OrderIntent("buy", IntentSource.STRATEGY, reason="entry")
    with pytest.raises(ValueError, match="decision is not an order"):
        OrderIntent.from_decision(Decision(Action.HOLD, D("0"), "nothing", reason=Reason.NO_SIGNAL))


def test_limits_come_from_settings(settings):
    settings.MAX_ORDER_KRW = D("20000")
    settings.ORDER_COOLDOWN_SEC = 7
    settings.TIME_ZONE = "Asia/Seoul"
    limits = risk_limits_from_settings()
    assert limits.max_order_krw == D("20000")
    assert limits.cooldown_sec == 7
    assert limits.time_zone == "Asia/Seoul"
    ctx = risk_context_from_settings(now=NOW, price=D("100000000"), krw_free=D("1000000"), coin_volume=D("0"))
    assert evaluate(OrderIntent("buy"), ctx).krw_total == D("20000")
    assert risk_limits_from_settings({"max_order_krw": D("6000")}).max_order_krw == D("6000")
