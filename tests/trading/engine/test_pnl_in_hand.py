"""The PnL book takes the fills the engine just recorded without reading them back, only when nothing can be missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import FillFactory, OrderFactory
from trading.engine.pnl import PnlTracker, fill_records, replay_fills
from trading.models import Fill, Order

D = Decimal
MORNING = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # 10:00 in Seoul


def record(side: str, *, minutes: int, volume: str = "0.001", funds: str = "100000", fee: str = "50", account: str = "paper"):
    order = OrderFactory(side=side, status=Order.Status.DONE, account=account)
    return FillFactory(order=order, volume=D(volume), funds=D(funds), fee=D(fee), ts=MORNING + timedelta(minutes=minutes))


def tracker_after(*fills: Fill) -> PnlTracker:
    tracker = PnlTracker(market="KRW-BTC", account="paper")
    tracker.absorb_new_fills()
    assert tracker.book.max_id == max(fill.pk for fill in fills)
    return tracker


def rebuilt_book():
    return replay_fills(fill_records(market="KRW-BTC", account="paper"))


def book_figures(book) -> tuple:
    return (book.volume, book.cost, book.max_id, {day: (t.realized, t.fees, t.trades) for day, t in book.days.items()})


@pytest.mark.django_db
def test_fills_just_recorded_join_the_book_without_a_query_and_match_a_full_rebuild():
    tracker = tracker_after(record("buy", minutes=0))
    bought = record("buy", minutes=5, funds="120000", fee="60")
    sold = record("sell", minutes=9, funds="130000", fee="65")

    with CaptureQueriesContext(connection) as queries:
        assert tracker.absorb_fills([sold, bought]) == 2

    assert len(queries) == 0
    assert book_figures(tracker.book) == book_figures(rebuilt_book())
    # the sell realized 130,000 - 65 - half of (100,050 + 120,060)
    assert tracker.book.days[next(iter(tracker.book.days))].realized == D("19880")


@pytest.mark.django_db
def test_a_fill_recorded_another_way_in_between_is_read_from_the_table_not_skipped():
    tracker = tracker_after(record("buy", minutes=0))
    unseen = record("buy", minutes=3)  # recorded without passing through the engine's hands
    mine = record("sell", minutes=6, funds="110000", fee="55")

    with CaptureQueriesContext(connection) as queries:
        assert tracker.absorb_fills([mine]) == 2

    assert len(queries) == 1
    assert tracker.book.max_id == mine.pk > unseen.pk
    assert book_figures(tracker.book) == book_figures(rebuilt_book())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("funds", "fee"),
    [
        ("55000.123456789", "27.5"),  # 9 decimal places in hand: the column keeps 8
        ("12345678.12345678", "6172.83906173"),  # 16 significant digits: more than SQLite's numbers hold
    ],
)
def test_a_value_the_database_would_change_is_read_back_so_the_book_holds_what_was_stored(funds, fee):
    tracker = tracker_after(record("buy", minutes=0))
    odd = record("sell", minutes=4, volume="0.0005", funds=funds, fee=fee)
    assert odd.funds == D(funds)  # the object in hand still has the unrounded value

    with CaptureQueriesContext(connection) as queries:
        tracker.absorb_fills([odd])

    assert len(queries) == 1
    assert book_figures(tracker.book) == book_figures(rebuilt_book())


@pytest.mark.django_db
def test_a_fill_of_another_account_makes_the_book_read_its_own_fills_from_the_table():
    tracker = tracker_after(record("buy", minutes=0))
    other = record("buy", minutes=2, account="live:sandbox.example:abc123")

    tracker.absorb_fills([other])

    assert book_figures(tracker.book) == book_figures(rebuilt_book())
    assert tracker.book.volume == D("0.001")


@pytest.mark.django_db
def test_a_fill_dated_before_the_last_applied_one_replays_the_book_in_time_order():
    tracker = tracker_after(record("buy", minutes=10))
    late = record("sell", minutes=1, funds="90000", fee="45")  # an adopted order's late report, dated earlier

    tracker.absorb_fills([late])

    assert book_figures(tracker.book) == book_figures(rebuilt_book())


@pytest.mark.django_db
def test_an_account_without_fills_takes_its_first_fill_in_hand_whatever_other_accounts_hold():
    for minute in range(3):
        record("buy", minutes=minute, account="live:api.upbit.com:0123456789ab")  # history of another account
    tracker = PnlTracker(market="KRW-BTC", account="paper")
    assert tracker.book.max_id == 0
    first = record("buy", minutes=10)

    with CaptureQueriesContext(connection) as queries:
        assert tracker.absorb_fills([first]) == 1

    assert len(queries) == 0
    assert book_figures(tracker.book) == book_figures(rebuilt_book())


@pytest.mark.django_db
def test_fills_of_other_accounts_are_looked_at_once_not_on_every_read():
    tracker = tracker_after(record("buy", minutes=0))
    record("buy", minutes=1, account="live:api.upbit.com:0123456789ab")
    record("buy", minutes=2, account="live:api.upbit.com:0123456789ab")

    assert tracker.absorb_new_fills() == 0
    mine = record("sell", minutes=5, funds="110000", fee="55")
    with CaptureQueriesContext(connection) as queries:
        assert tracker.absorb_fills([mine]) == 1

    assert len(queries) == 0, "the other account's fills were looked at already"
    assert book_figures(tracker.book) == book_figures(rebuilt_book())
