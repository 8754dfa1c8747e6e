"""Reads: what the dashboard, the API and the admin are told about the engine and the account."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import BalanceSnapshotFactory, FillFactory, ManualOrderRequestFactory, OrderFactory, PnlDailyFactory
from tests.web.conftest import engine_heartbeat
from trading import selectors
from trading.models import EngineState, Order, StrategyConfig

State = EngineState.State
pytestmark = pytest.mark.django_db


def test_allowed_actions_follow_the_state_machine():
    assert selectors.allowed_actions(State.IDLE) == {"start": True, "stop": False, "reset": False}
    assert selectors.allowed_actions(State.RUNNING) == {"start": False, "stop": True, "reset": False}
    assert selectors.allowed_actions(State.STOPPING) == {"start": False, "stop": False, "reset": False}
    assert selectors.allowed_actions(State.ERROR) == {"start": False, "stop": False, "reset": True}


def test_the_engine_is_online_only_with_an_owner_and_a_fresh_heartbeat(settings):
    state = EngineState.load()
    assert not selectors.engine_online(state)
    assert selectors.heartbeat_age_bucket(state) is None
    state = engine_heartbeat()
    assert selectors.engine_online(state)
    assert selectors.heartbeat_age_bucket(state) == ("under", 5)
    stale = timezone.now() - timedelta(seconds=settings.ENGINE_STALE_AFTER_SEC + 1)
    state = engine_heartbeat(heartbeat_at=stale)
    assert not selectors.engine_online(state)
    state = engine_heartbeat(owner="")
    assert not selectors.engine_online(state)


@pytest.mark.parametrize(
    ("age_sec", "bucket"),
    [(7, ("under", 10)), (59, ("under", 60)), (150, ("min", 2)), (7200, ("h", 2)), (3 * 86400, ("d", 3))],
)
def test_the_heartbeat_age_is_coarse(age_sec, bucket):
    state = engine_heartbeat(heartbeat_at=timezone.now() - timedelta(seconds=age_sec))
    assert selectors.heartbeat_age_bucket(state) == bucket


def test_engine_status_masks_secrets_and_says_which_buttons_work(settings):
    settings.UPBIT_SECRET_KEY = "very-secret-upbit-key-123"
    state = engine_heartbeat(state=State.ERROR, last_error="auth failed for very-secret-upbit-key-123", kill_switch=True)
    status = selectors.engine_status(state)
    assert "very-secret-upbit-key-123" not in status["last_error"]
    assert status["last_error"].startswith("auth failed for ")
    assert status["allowed_actions"] == {"start": False, "stop": False, "reset": True}
    assert (status["state"], status["engine_online"], status["kill_switch"]) == (State.ERROR, True, True)


def test_the_balance_is_valued_at_the_engines_last_price_net_of_both_fees():
    assert selectors.balance_current() is None
    BalanceSnapshotFactory(krw=Decimal("500000"), coin_volume=Decimal("0.01"), avg_buy_price=Decimal("100000000"))
    FillFactory(
        order__side="buy", price=Decimal("100000000"), volume=Decimal("0.01"), funds=Decimal("1000000"), fee=Decimal("500")
    )
    engine_heartbeat(last_price=Decimal("110000000"))
    balance = selectors.balance_current()
    assert balance is not None
    assert balance.coin_value == Decimal("1100000")
    assert balance.total_krw == Decimal("1600000")
    # 1,100,000 less the 0.05% a sell would pay (550), less the cost with the buy fee (1,000,500).
    assert balance.unrealized == Decimal("98950")
    assert balance.position_ratio == Decimal("1100000") / Decimal("1600000")


def test_daily_loss_counts_losses_only():
    assert selectors.daily_loss(None) == 0
    up = PnlDailyFactory(realized=Decimal("1000"), unrealized=Decimal("-300"))
    assert selectors.daily_loss(up) == 0
    down = PnlDailyFactory(realized=Decimal("-1000"), unrealized=Decimal("-300"))
    assert selectors.daily_loss(down) == Decimal("1300")


@pytest.mark.parametrize("name", ["engine", "market", "balance", "pnl", "risk", "chart", "signals", "orders", "manual", "log"])
def test_every_panel_has_a_version(name):
    assert selectors.panel_version(name, EngineState.load())


def test_a_panels_version_changes_with_what_it_shows():
    before = selectors.panel_version("manual")
    assert selectors.panel_version("manual") == before
    ManualOrderRequestFactory()
    assert selectors.panel_version("manual") != before
    engine = selectors.panel_version("engine")
    engine_heartbeat(state=State.RUNNING)
    assert selectors.panel_version("engine") != engine


def test_an_unknown_panel_has_no_version():
    with pytest.raises(KeyError):
        selectors.panel_version("weather")


def test_the_cycle_inputs_say_whether_a_manual_request_waits_and_carry_the_stored_parameters():
    empty = selectors.engine_cycle_inputs(market="KRW-BTC", strategy="sma_cross")
    assert empty.state.pk == EngineState.SINGLETON_PK
    assert not empty.manual_pending
    assert empty.strategy_params is None

    StrategyConfig.objects.create(strategy="sma_cross", params={"fast": 3, "slow": 8})
    ManualOrderRequestFactory(kind="buy", krw=Decimal("10000"), market="KRW-ETH")
    other_market = selectors.engine_cycle_inputs(market="KRW-BTC", strategy="sma_cross")
    assert not other_market.manual_pending
    assert other_market.strategy_params == {"fast": 3, "slow": 8}

    ManualOrderRequestFactory(kind="buy", krw=Decimal("10000"), market="KRW-BTC")
    assert selectors.engine_cycle_inputs(market="KRW-BTC", strategy="sma_cross").manual_pending


def test_the_cycle_inputs_say_whether_an_order_of_the_account_is_still_open(django_assert_num_queries):
    account = "live:api.upbit.com:0123456789ab"
    with django_assert_num_queries(1):
        assert not selectors.engine_cycle_inputs(market="KRW-BTC", strategy="sma_cross", account=account).orders_open
    OrderFactory(status=Order.Status.DONE, account=account)
    OrderFactory(status=Order.Status.WAIT, account="paper")  # another account's open order is not this one's
    assert not selectors.engine_cycle_inputs(market="KRW-BTC", strategy="sma_cross", account=account).orders_open
    for status in Order.OPEN_STATUSES:
        order = OrderFactory(status=status, account=account)
        assert selectors.engine_cycle_inputs(market="KRW-BTC", strategy="sma_cross", account=account).orders_open, status
        order.delete()
    # without an account nobody asked: the engine then reads the orders itself
    assert selectors.engine_cycle_inputs(market="KRW-BTC", strategy="sma_cross").orders_open


def test_the_cycle_inputs_read_stored_parameters_and_fresh_values_every_time():
    first = selectors.engine_cycle_inputs(market="KRW-BTC", strategy="macd", account="paper")
    assert first.strategy_params is None
    StrategyConfig.objects.create(strategy="macd", params={"fast": 12, "slow": 26, "signal": 9, "note": "한글"})
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(kill_switch=True)
    again = selectors.engine_cycle_inputs(market="KRW-BTC", strategy="macd", account="paper")
    assert again.strategy_params == {"fast": 12, "slow": 26, "signal": 9, "note": "한글"}
    assert again.state.kill_switch is True
    assert isinstance(again.state, EngineState)


def test_the_order_limit_reads_are_one_query_of_this_account_and_market(django_assert_num_queries, settings, frozen_now):
    frozen_now.now = timezone.localtime(frozen_now.now).replace(hour=12, minute=0, second=0)  # well inside one day
    now = timezone.now()
    OrderFactory(side="buy", ts=now - timedelta(seconds=20), executed_funds=Decimal("7000"))
    OrderFactory(side="buy", ts=now - timedelta(seconds=5), status=Order.Status.REJECTED)  # never sent: no cooldown
    OrderFactory(side="sell", ts=now - timedelta(seconds=50), executed_funds=Decimal("9000"))
    OrderFactory(side="sell", ts=now - timedelta(seconds=1), status=Order.Status.WAIT, executed_funds=Decimal("0"))
    OrderFactory(side="buy", ts=now - timedelta(days=2), executed_funds=Decimal("99000"))  # before today
    OrderFactory(side="buy", ts=now, market="KRW-ETH", executed_funds=Decimal("50000"))  # another market
    OrderFactory(side="buy", ts=now, account="someone-else", executed_funds=Decimal("60000"))  # another account
    EngineState.load()
    with django_assert_num_queries(1):
        reads = selectors.order_limit_reads()
    assert reads.last_ts == {"buy": now - timedelta(seconds=20), "sell": now - timedelta(seconds=1)}
    assert reads.largest_today_krw == Decimal("9000")
    settings.ORDER_COOLDOWN_SEC = 30
    assert selectors.cooldown_remaining_sec(reads) == {"buy": 10, "sell": 29}


def test_the_order_limit_reads_without_orders_or_a_state_row():
    EngineState.objects.all().delete()
    reads = selectors.order_limit_reads()
    assert reads == selectors.OrderLimitReads(largest_today_krw=Decimal("0"), last_ts={"buy": None, "sell": None})
    assert selectors.cooldown_remaining_sec() == {"buy": 0, "sell": 0}
    assert selectors.order_limit_reads().largest_today_krw == Decimal("0")
