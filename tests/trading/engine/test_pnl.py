from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from tests.factories import BalanceSnapshotFactory, FillFactory, OrderFactory
from trading.engine.pnl import Holdings, PnlTracker, SnapshotKeeper, local_day, pnl_rebuild
from trading.models import BalanceSnapshot, Order, PnlDaily

D = Decimal


def fill(side: str, *, volume: str, funds: str, fee: str, ts: datetime, mode: str = "paper"):
    order = OrderFactory(side=side, mode=mode, status=Order.Status.DONE, ord_type="price" if side == "buy" else "market")
    return FillFactory(order=order, volume=D(volume), funds=D(funds), fee=D(fee), price=D(funds) / D(volume), ts=ts)


# 2026-03-10 in Seoul runs from 2026-03-09 15:00 UTC to 2026-03-10 15:00 UTC.
DAY1_MORNING = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # 01:00 KST on the 10th
DAY1_LATE = datetime(2026, 3, 10, 14, 59, tzinfo=UTC)  # 23:59 KST on the 10th
DAY2_EARLY = datetime(2026, 3, 10, 15, 1, tzinfo=UTC)  # 00:01 KST on the 11th


@pytest.mark.django_db
def test_realized_pnl_by_average_cost_with_fees_checked_by_hand():
    fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_MORNING)
    fill("buy", volume="0.001", funds="120000", fee="60", ts=DAY1_MORNING.replace(minute=10))
    fill("sell", volume="0.001", funds="130000", fee="65", ts=DAY1_MORNING.replace(minute=20))

    tracker = PnlTracker(market="KRW-BTC", account="paper")
    update = tracker.update(price=D("140000000"), equity=D("1000000"), now=DAY1_MORNING.replace(minute=30))

    # cost 100,050 + 120,060 = 220,110 for 0.002; selling half takes 110,055 out.
    # realized = 130,000 - 65 - 110,055 = 19,880
    assert update.realized == D("19880")
    # 0.001 × 140,000,000 × 0.9995 - 110,055 = 139,930 - 110,055 = 29,875
    assert update.unrealized == D("29875")
    row = PnlDaily.objects.get(market="KRW-BTC", mode="paper")
    assert row.date.isoformat() == "2026-03-10"
    assert (row.realized, row.unrealized, row.fees, row.trades) == (D("19880"), D("29875"), D("175"), 3)
    assert row.total == D("49755")


@pytest.mark.django_db
def test_the_trading_day_turns_at_local_midnight_not_utc():
    assert local_day(DAY1_LATE).isoformat() == "2026-03-10"
    assert local_day(DAY2_EARLY).isoformat() == "2026-03-11"
    fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_LATE)
    fill("sell", volume="0.001", funds="90000", fee="45", ts=DAY2_EARLY)

    rows = {row.date.isoformat(): row for row in pnl_rebuild()}

    assert rows["2026-03-10"].realized == D("0")
    assert rows["2026-03-10"].fees == D("50")
    # 90,000 - 45 - 100,050
    assert rows["2026-03-11"].realized == D("-10095")
    assert rows["2026-03-11"].trades == 1


@pytest.mark.django_db
def test_a_position_carried_over_midnight_counts_only_todays_move():
    fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_LATE)
    midnight_prices: list[datetime] = []

    def price_at(moment: datetime) -> Decimal:
        midnight_prices.append(moment)
        return D("90000000")  # fell 10% before midnight: that loss belongs to the 10th

    tracker = PnlTracker(market="KRW-BTC", account="paper", price_at=price_at)
    yesterday = tracker.update(price=D("90000000"), equity=None, now=DAY1_LATE.replace(second=30))
    # 0.001 × 90,000,000 × 0.9995 - 100,050 = 89,955 - 100,050
    assert yesterday.unrealized == D("-10095")

    assert tracker.establish_day_start(DAY2_EARLY)
    today = tracker.update(price=D("85000000"), equity=None, now=DAY2_EARLY)
    assert today.new_day
    assert today.previous_day.isoformat() == "2026-03-10"
    assert midnight_prices == [datetime(2026, 3, 10, 15, 0, tzinfo=UTC)]
    # today: 84,957.5 - 89,955 (the midnight value): only the move since midnight
    assert today.unrealized == D("-4997.5")
    assert today.realized == D("0")
    assert yesterday.total + today.total == D("85000000") * D("0.001") * D("0.9995") - D("100050")


@pytest.mark.django_db
def test_rebuildpnl_gives_the_numbers_the_engine_computed_incrementally():
    times = [DAY1_MORNING.replace(minute=m) for m in (1, 2, 3, 4, 5)] + [DAY2_EARLY.replace(minute=m) for m in (2, 3, 4)]
    plan = [
        ("buy", "0.001", "100000", "50"),
        ("buy", "0.0005", "52000", "26"),
        ("sell", "0.0007", "75000", "37.5"),
        ("buy", "0.002", "190000", "95"),
        ("sell", "0.001", "99000", "49.5"),
        ("sell", "0.0008", "82000", "41"),
        ("buy", "0.0001", "10100", "5.05"),
        ("sell", "0.0011", "120000", "60"),
    ]
    tracker = PnlTracker(market="KRW-BTC", account="paper")
    for (side, volume, funds, fee), ts in zip(plan, times, strict=True):
        fill(side, volume=volume, funds=funds, fee=fee, ts=ts)
        tracker.absorb_new_fills()
        tracker.update(price=D("100000000"), equity=D("1000000"), now=ts)
    incremental = {
        row.date: (row.realized, row.fees, row.trades) for row in PnlDaily.objects.filter(market="KRW-BTC", mode="paper")
    }
    assert len(incremental) == 2
    assert any(realized != 0 for realized, _, _ in incremental.values())
    PnlDaily.objects.update(realized=D("123"), fees=D("0"), trades=0)

    call_command("rebuildpnl", stdout=io.StringIO())

    rebuilt = {row.date: (row.realized, row.fees, row.trades) for row in PnlDaily.objects.filter(market="KRW-BTC", mode="paper")}
    assert rebuilt == incremental


@pytest.mark.django_db
def test_a_late_fill_dated_before_applied_ones_is_replayed_in_time_order():
    fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_MORNING.replace(minute=1))
    fill("sell", volume="0.001", funds="110000", fee="55", ts=DAY1_MORNING.replace(minute=30))
    tracker = PnlTracker(market="KRW-BTC", account="paper")
    assert tracker.book.volume == 0
    # An adopted order reports a buy that happened between the two.
    fill("buy", volume="0.001", funds="90000", fee="45", ts=DAY1_MORNING.replace(minute=10))
    tracker.absorb_new_fills()

    fresh = PnlTracker(market="KRW-BTC", account="paper")
    assert (tracker.book.volume, tracker.book.cost) == (fresh.book.volume, fresh.book.cost)
    assert tracker.book.days == fresh.book.days


@pytest.mark.django_db
def test_selling_coins_the_fills_do_not_account_for_realizes_nothing_on_that_part():
    fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_MORNING)
    fill("sell", volume="0.002", funds="220000", fee="110", ts=DAY1_MORNING.replace(minute=5))
    tracker = PnlTracker(market="KRW-BTC", account="paper")
    # half of the proceeds (109,945) against the known cost 100,050; the other half has no known cost
    assert tracker.book.days[local_day(DAY1_MORNING)].realized == D("9895")
    assert tracker.book.volume == 0


@pytest.mark.django_db
def test_drawdown_is_the_largest_fall_from_the_days_peak():
    tracker = PnlTracker(market="KRW-BTC", account="paper")
    for minute, equity in ((0, "1000000"), (1, "1010000"), (2, "990000"), (3, "1020000"), (4, "1005000")):
        update = tracker.update(price=D("100000000"), equity=D(equity), now=DAY1_MORNING.replace(minute=minute))
    row = PnlDaily.objects.get()
    assert (row.equity_start, row.equity_peak, row.equity_last) == (D("1000000"), D("1020000"), D("1005000"))
    assert row.max_drawdown == update.max_drawdown == D("20000")


@pytest.mark.django_db
def test_snapshots_are_stored_on_change_and_at_the_interval(settings):
    settings.BALANCE_SNAPSHOT_INTERVAL_SEC = 300
    keeper = SnapshotKeeper(account="paper", market="KRW-BTC")
    holdings = Holdings(krw=D("1000000"), coin=D("0"), avg_buy_price=D("0"))
    start = DAY1_MORNING
    assert keeper.maybe_store(holdings, D("100000000"), start) is not None
    assert keeper.maybe_store(holdings, D("100100000"), start.replace(minute=1)) is None
    changed = Holdings(krw=D("990000"), coin=D("0.0001"), avg_buy_price=D("100000000"))
    snap = keeper.maybe_store(changed, D("100000000"), start.replace(minute=2))
    assert snap is not None
    assert snap.total_krw == D("1000000")
    assert keeper.maybe_store(changed, D("100000000"), start.replace(minute=8)) is not None
    assert BalanceSnapshot.objects.count() == 3


@pytest.mark.django_db
def test_prune_keeps_orders_fills_and_trading_signals():
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import EngineEventFactory, SignalFactory
    from trading.models import EngineEvent, Fill, Signal

    old = timezone.now() - timedelta(days=40)
    old_fill = fill("buy", volume="0.001", funds="100000", fee="50", ts=old)
    Order.objects.filter(pk=old_fill.order_id).update(ts=old)
    EngineEvent.objects.filter(pk__in=[EngineEventFactory().pk for _ in range(3)]).update(ts=old)
    recent_event = EngineEventFactory()
    Signal.objects.filter(pk=SignalFactory(action="HOLD").pk).update(ts=old)
    Signal.objects.filter(pk=SignalFactory(action="BUY").pk).update(ts=old)
    BalanceSnapshot.objects.filter(pk__in=[BalanceSnapshotFactory().pk, BalanceSnapshotFactory().pk]).update(ts=old)
    newest = BalanceSnapshotFactory()

    call_command("prune", "--days", "30", stdout=io.StringIO())

    assert Order.objects.count() == 1
    assert Fill.objects.count() == 1
    assert list(Signal.objects.values_list("action", flat=True)) == ["BUY"]
    assert EngineEvent.objects.filter(pk=recent_event.pk).exists()
    assert not EngineEvent.objects.filter(ts__lt=timezone.now() - timedelta(days=30)).exists()
    assert list(BalanceSnapshot.objects.values_list("pk", flat=True)) == [newest.pk]


@pytest.mark.django_db
def test_prune_refuses_a_nonsense_age():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune", "--days", "0")


@pytest.mark.django_db
def test_the_entry_time_is_the_first_buy_since_the_book_was_last_flat():
    first = fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_MORNING)
    fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_MORNING.replace(minute=5))
    fill("sell", volume="0.0015", funds="150000", fee="75", ts=DAY1_MORNING.replace(minute=10))
    tracker = PnlTracker(market="KRW-BTC", account="paper")
    assert tracker.book.entry_at == first.ts  # a partial sell keeps the position's entry

    fill("sell", volume="0.00049", funds="49000", fee="25", ts=DAY1_MORNING.replace(minute=20))  # 1,000 KRW of dust left
    tracker.absorb_new_fills()
    assert tracker.book.entry_at is None

    again = fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY2_EARLY)
    tracker.absorb_new_fills()
    assert tracker.book.entry_at == again.ts
    assert pnl_rebuild()
    assert PnlTracker(market="KRW-BTC", account="paper").book.entry_at == again.ts


def test_the_day_baseline_is_zero_flat_unknown_without_the_close_and_never_another_price():
    from trading.engine.pnl import day_baseline

    assert day_baseline(D("0"), D("0"), None, D("0.0005")) == 0
    assert day_baseline(D("0.01"), D("1000500"), None, D("0.0005")) is None
    assert day_baseline(D("0.01"), D("1000500"), D("0"), D("0.0005")) is None
    # 0.01 × 100,000,000 × 0.9995 - 1,000,500
    assert day_baseline(D("0.01"), D("1000500"), D("100000000"), D("0.0005")) == D("-1000")


@pytest.mark.django_db
def test_an_answer_without_a_candle_leaves_the_day_unknown_until_one_comes():
    from trading.models import EngineEvent

    fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_LATE)
    answers: list[Decimal | None] = [None, None, D("90000000")]
    asked: list[datetime] = []

    def price_at(moment: datetime) -> Decimal | None:
        asked.append(moment)
        return answers.pop(0)

    tracker = PnlTracker(market="KRW-BTC", account="paper", price_at=price_at)
    # The candle before midnight may still take trades during the close margin: nothing is asked yet.
    assert not tracker.establish_day_start(DAY2_EARLY.replace(minute=0, second=1))
    assert asked == []

    assert not tracker.establish_day_start(DAY2_EARLY)
    assert not tracker.establish_day_start(DAY2_EARLY.replace(second=5))
    update = tracker.update(price=D("85000000"), equity=None, now=DAY2_EARLY.replace(second=6))
    assert not update.day_start_known
    assert update.unrealized == 0  # the stored figure, not one made up from the current price
    assert tracker.today(D("85000000"), DAY2_EARLY.replace(second=6)) == (D("0"), None)
    unknown = EngineEvent.objects.filter(kind="pnl", meta__rule="day_start_unknown", level="WARNING")
    assert unknown.count() == 1
    assert unknown.get().meta["error"] == "the exchange returned no candle before midnight"

    assert tracker.establish_day_start(DAY2_EARLY.replace(second=10))
    assert asked == [datetime(2026, 3, 10, 15, 0, tzinfo=UTC)] * 3
    update = tracker.update(price=D("85000000"), equity=None, now=DAY2_EARLY.replace(second=11))
    assert update.day_start_known
    assert update.unrealized == D("-4997.5")
    # A new process reads the stored price and asks nothing.
    assert PnlTracker(market="KRW-BTC", account="paper", price_at=price_at).establish_day_start(DAY2_EARLY.replace(minute=30))
    assert len(asked) == 3


@pytest.mark.django_db
def test_a_ban_while_reading_the_midnight_price_stops_the_engine_as_any_call_does():
    from exchange.exceptions import IpBanned

    fill("buy", volume="0.001", funds="100000", fee="50", ts=DAY1_LATE)

    def banned(moment: datetime) -> Decimal | None:
        raise IpBanned("banned", ban_seconds=600)

    tracker = PnlTracker(market="KRW-BTC", account="paper", price_at=banned)
    with pytest.raises(IpBanned):
        tracker.establish_day_start(DAY2_EARLY)
