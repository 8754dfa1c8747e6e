"""The value of a position held over local midnight: read once, stored, and never guessed.

A position bought yesterday counts in today's PnL only from its value at local midnight (the close of the last
candle before it). These tests run the engine against the sandbox over HTTP on a fixed date, with the candle
endpoint failing through the sandbox's fault injection: the loss since midnight survives a restart, and while the
midnight value cannot be read the engine refuses new entries (and only those).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from exchange.upbit import UpbitClient
from tests.factories import FillFactory, ManualOrderRequestFactory, OrderFactory, UserFactory
from trading.engine.cycle import TradingEngine
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order, PnlDaily, StrategyConfig

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)

YESTERDAY_2350 = datetime(2026, 3, 9, 14, 50, tzinfo=UTC)  # 23:50 on 9 March in Seoul
TODAY = datetime(2026, 3, 10).date()
MINUTE_CANDLES = "/v1/candles/minutes/1"
# 0.01 BTC bought for 1,000,000 KRW + 500 fee: at 100,000,000 it is worth 999,500 after the sell fee, at 90,000,000
# 899,550. Today's unrealized PnL is the change since midnight: 899,550 - 999,500.
TODAYS_LOSS = D("-99950")


@pytest.fixture
def sandbox(sandbox_factory, frozen_now):
    """The sandbox at 23:50 in Seoul, on a clock that moves only when the test advances it; Django's clock follows it."""
    handle = sandbox_factory(clock=lambda: YESTERDAY_2350)
    frozen_now.now = YESTERDAY_2350
    original = handle.advance

    def advance(seconds: float):
        frozen_now.advance(seconds=seconds)
        return original(seconds)

    handle.advance = advance
    return handle


@pytest.fixture
def carried_position(sandbox, live, engine_settings):
    """0.01 BTC bought at 23:00 yesterday at 100,000,000 KRW, still held; the price stays there past midnight."""
    # MACD with periods longer than the engine ever reads always holds; on day candles its requests never touch
    # the 1-minute candles that value the day's start, so failing those fails only that.
    StrategyConfig.objects.update_or_create(
        strategy="macd", defaults={"params": {"fast": 12, "slow": 2000, "signal": 1000, "candle_unit": 1440}}
    )
    engine_settings.STRATEGY = "macd"
    engine_settings.MAX_DAILY_LOSS_KRW = D("500000")
    engine_settings.MAX_POSITION_RATIO = D("1")
    sandbox.set_price("100000000")
    sandbox.set_balance("KRW", "2000000")
    sandbox.set_balance("BTC", "0.01", avg_buy_price="100000000")
    order = OrderFactory(mode="live", side="buy", executed_volume=D("0.01"), executed_funds=D("1000000"), paid_fee=D("500"))
    bought_at = YESTERDAY_2350 - timedelta(minutes=50)
    FillFactory(order=order, volume=D("0.01"), funds=D("1000000"), fee=D("500"), price=D("100000000"), ts=bought_at)
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def engine_for(exchange, sandbox) -> TradingEngine:
    return TradingEngine(exchange, clock=sandbox.server.now)


def to_seoul_time(sandbox, hour: int) -> None:
    """Move the sandbox to `hour`:00 today in Seoul."""
    target = datetime(2026, 3, 10, hour - 9, tzinfo=UTC) if hour >= 9 else datetime(2026, 3, 9, hour + 15, tzinfo=UTC)
    sandbox.advance((target - sandbox.server.now()).total_seconds())


def fail_candles(sandbox, count: int = 1000, **fault) -> None:
    sandbox.fail_next(MINUTE_CANDLES, method="GET", count=count, **fault)


def candle_requests_failed(sandbox, armed: int = 1000) -> int:
    faults = [f for f in sandbox.state()["faults"] if f["path"] == MINUTE_CANDLES]
    return armed - (faults[0]["remaining"] if faults else 0)


def today_row() -> PnlDaily:
    return PnlDaily.objects.get(date=TODAY, mode="live")


def unknown_events():
    return EngineEvent.objects.filter(kind="pnl", meta__rule="day_start_unknown", level="WARNING")


def buy(krw: str = "10000") -> ManualOrderRequest:
    return ManualOrderRequestFactory(kind="buy", krw=D(krw))


def settled(request: ManualOrderRequest) -> ManualOrderRequest:
    request.refresh_from_db()
    return request


@pytest.mark.usefixtures("carried_position")
def test_the_loss_since_midnight_survives_a_restart_while_the_candle_endpoint_fails(live, sandbox, engine_settings):
    to_seoul_time(sandbox, 9)
    assert engine_for(live, sandbox).run_cycle().ok
    assert today_row().start_price == D("100000000")
    assert today_row().unrealized == 0

    sandbox.set_price("90000000")
    to_seoul_time(sandbox, 12)
    fail_candles(sandbox)
    engine_settings.MAX_DAILY_LOSS_KRW = D("90000")
    restarted = engine_for(live, sandbox)
    outcome = restarted.run_cycle()

    assert today_row().unrealized == TODAYS_LOSS
    # The stored midnight price was used: the failing endpoint was not even asked.
    assert candle_requests_failed(sandbox) == 0
    # ...so the loss counts against the limit as it did before the restart.
    assert outcome.stopped
    tripped = EngineEvent.objects.get(kind="kill_switch", meta__rule="daily_loss")
    assert D(tripped.meta["unrealized"]) == TODAYS_LOSS
    assert not unknown_events().exists()


@pytest.mark.usefixtures("carried_position")
def test_a_failing_candle_request_at_start_up_blocks_buys_once_announced_and_sells_still_go(live, sandbox):
    to_seoul_time(sandbox, 12)
    sandbox.set_price("90000000")
    fail_candles(sandbox, status=500, name="server_error")
    first = buy()

    assert engine_for(live, sandbox).run_cycle().ok

    assert settled(first).status == ManualOrderRequest.Status.REJECTED
    assert "today's starting value is unknown" in first.result
    blocked = EngineEvent.objects.get(kind="risk_blocked")
    assert blocked.meta["blocked_by"] == "day_start_unknown"
    assert Order.objects.filter(side="buy").count() == 1  # yesterday's
    row = today_row()
    assert row.start_price is None
    assert row.start_unknown_since == sandbox.server.now()
    assert row.unrealized == 0  # not a figure from the current price; the notice says it is unknown
    assert unknown_events().count() == 1
    assert "could not be read" in unknown_events().get().message

    # Every cycle asks again (one request each) and refuses buys, without a second event; a restart neither.
    second = buy()
    assert engine_for(live, sandbox).run_cycle().ok
    assert settled(second).status == ManualOrderRequest.Status.REJECTED
    assert candle_requests_failed(sandbox) == 2
    assert unknown_events().count() == 1
    assert not EngineState.load().kill_switch  # today's loss is unknown, not zero and not guessed

    sell = ManualOrderRequestFactory(kind="sell", krw=None, volume=D("0.004"))
    engine = engine_for(live, sandbox)
    assert engine.run_cycle().ok
    assert settled(sell).status == ManualOrderRequest.Status.DONE, sell.result
    close = ManualOrderRequestFactory(kind="close", krw=None)
    assert engine.run_cycle().ok
    assert settled(close).status == ManualOrderRequest.Status.DONE, close.result
    assert D(sandbox.state()["balances"]["BTC"]["balance"]) == 0


@pytest.mark.usefixtures("carried_position")
def test_the_dashboard_says_entries_are_blocked_while_the_start_is_unknown(live, sandbox):
    to_seoul_time(sandbox, 12)
    fail_candles(sandbox)
    assert engine_for(live, sandbox).run_cycle().ok
    client = Client()
    client.force_login(UserFactory(username="viewer", groups=["Operators"]))

    english = client.get("/panels/risk").content.decode()
    korean = client.get("/panels/risk", headers={"Accept-Language": "ko"}).content.decode()

    assert "Today's starting value is unknown (since 12:00)" in english
    assert "New entries are blocked" in english
    assert "<td>unknown / 500,000</td>" in english  # today's loss is not shown as 0
    assert "오늘의 시작 평가액을 알 수 없습니다 (12:00부터)" in korean
    assert "신규 진입은 차단됩니다" in korean
    assert "<td>알 수 없음 / 500,000</td>" in korean
    assert "<dt>Unrealized</dt><dd>unknown</dd>" in client.get("/panels/pnl").content.decode()


@pytest.mark.usefixtures("carried_position")
def test_entries_resume_once_the_candle_answers(live, sandbox):
    to_seoul_time(sandbox, 12)
    sandbox.set_price("90000000")
    fail_candles(sandbox, count=1)
    engine = engine_for(live, sandbox)
    refused = buy()
    assert engine.run_cycle().ok
    assert settled(refused).status == ManualOrderRequest.Status.REJECTED

    sandbox.advance(5)
    accepted = buy()
    assert engine.run_cycle().ok

    assert settled(accepted).status == ManualOrderRequest.Status.DONE, accepted.result
    row = today_row()
    assert row.start_price == D("100000000")
    assert row.start_unknown_since is None
    known = EngineEvent.objects.get(kind="pnl", meta__rule="day_start_unknown", level="INFO")
    assert "known again" in known.message
    assert D(known.meta["carried_unrealized"]) == D("-1000")  # 999,500 - 1,000,500: the fees of yesterday's buy
    assert unknown_events().count() == 1
    client = Client()
    client.force_login(UserFactory(username="viewer", groups=["Operators"]))
    assert "starting value is unknown" not in client.get("/panels/risk").content.decode()


@pytest.mark.usefixtures("carried_position")
def test_a_rate_limited_candle_request_is_not_repeated_before_its_pause(sandbox, engine_settings):
    engine_settings.LOOP_INTERVAL_SEC = 4
    to_seoul_time(sandbox, 12)
    fail_candles(sandbox, status=429, name="too_many_requests")
    # No resend inside the client: each engine request is one HTTP request the sandbox counts.
    keys = (sandbox.access_key, sandbox.secret_key)
    client = UpbitClient(sandbox.base_url, *keys, read_timeout=2, connect_timeout=1, max_retries=0)
    engine = engine_for(client, sandbox)
    try:
        assert engine.run_cycle().ok
        assert candle_requests_failed(sandbox) == 1
        sandbox.advance(3)  # within the first pause (LOOP_INTERVAL_SEC)
        assert engine.run_cycle().ok
        assert candle_requests_failed(sandbox) == 1
        sandbox.advance(2)
        assert engine.run_cycle().ok
        assert candle_requests_failed(sandbox) == 2
        sandbox.advance(5)  # the pause doubled to 8 s
        assert engine.run_cycle().ok
        assert candle_requests_failed(sandbox) == 2
        sandbox.advance(4)
        sandbox.reset_faults()
        assert engine.run_cycle().ok
    finally:
        client.close()
    assert today_row().start_price == D("100000000")
    assert unknown_events().count() == 1


@pytest.mark.usefixtures("carried_position")
def test_a_day_that_starts_flat_needs_no_midnight_price(live, sandbox):
    close = ManualOrderRequestFactory(kind="close", krw=None)
    engine = engine_for(live, sandbox)
    assert engine.run_cycle().ok  # 23:50: sold yesterday
    assert settled(close).status == ManualOrderRequest.Status.DONE, close.result
    to_seoul_time(sandbox, 12)
    fail_candles(sandbox)

    entry = buy()
    assert engine.run_cycle().ok

    assert settled(entry).status == ManualOrderRequest.Status.DONE, entry.result
    assert candle_requests_failed(sandbox) == 0
    assert not unknown_events().exists()
