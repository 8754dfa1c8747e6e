from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import CandleFactory
from trading.optimize.windows import PeriodError, Window, folds_of, load_splits, parse_period

pytestmark = pytest.mark.django_db
TZ = "Asia/Seoul"


def test_a_candle_at_1459_utc_trains_and_one_at_1500_utc_tests_asia_seoul_midnight():
    # 2025-01-02 00:00 in Seoul is 2025-01-01 15:00 UTC: the training day ends there.
    for minute in range(14 * 60, 16 * 60):
        CandleFactory(ts=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=minute), unit=1)
    train = parse_period("--train", "2025-01-01..2025-01-01", tz=TZ)
    test = parse_period("--test", "2025-01-02..2025-01-02", tz=TZ)
    [loaded] = load_splits(market="KRW-BTC", unit=1, splits=folds_of(train, test, 1, tz=TZ))
    last_train = datetime.fromtimestamp(int(loaded.train.start[-1]), tz=UTC)
    first_test = datetime.fromtimestamp(int(loaded.test.start[0]), tz=UTC)
    assert last_train == datetime(2025, 1, 1, 14, 59, tzinfo=UTC)
    assert first_test == datetime(2025, 1, 1, 15, 0, tzinfo=UTC)
    assert len(loaded.train) == 60
    assert len(loaded.test) == 60


def test_a_period_without_candles_is_named():
    CandleFactory(ts=datetime(2025, 1, 1, 3, tzinfo=UTC), unit=1)
    train = parse_period("--train", "2025-01-01..2025-01-01", tz=TZ)
    test = parse_period("--test", "2025-01-02..2025-01-02", tz=TZ)
    with pytest.raises(PeriodError, match=r"^test period: no KRW-BTC 1m candles"):
        load_splits(market="KRW-BTC", unit=1, splits=folds_of(train, test, 1, tz=TZ))


def seoul(day: int) -> datetime:
    return datetime(2025, 1, day, tzinfo=UTC) - timedelta(hours=9)


def test_rolling_folds_tile_the_span_in_whole_local_days_keeping_the_proportion():
    train = parse_period("--train", "2025-01-01..2025-01-20", tz=TZ)
    test = parse_period("--test", "2025-01-21..2025-01-30", tz=TZ)
    splits = folds_of(train, test, 3, tz=TZ)
    # 30 days, train : test = 2 : 1, 3 folds: test windows of 6 days, training windows of 12.
    assert [(s.train, s.test) for s in splits] == [
        (Window(seoul(1), seoul(13)), Window(seoul(13), seoul(19))),
        (Window(seoul(7), seoul(19)), Window(seoul(19), seoul(25))),
        (Window(seoul(13), seoul(25)), Window(seoul(25), seoul(31))),
    ]
    assert splits[-1].test.end == test.end


@pytest.mark.parametrize(
    ("train", "test", "folds", "says"),
    [
        ("2025-01-01..2025-01-20", "2025-01-20..2025-01-30", 1, "overlap"),
        ("2025-01-10..2025-01-20", "2025-01-01..2025-01-05", 1, "overlap"),
        ("2025-01-01..2025-01-02", "2025-01-03..2025-01-03", 5, "cannot hold 5"),
        ("2025-01-01T09:30..2025-01-10", "2025-01-11..2025-01-12", 2, "whole days"),
    ],
)
def test_periods_that_cannot_split_are_refused(train, test, folds, says):
    with pytest.raises(PeriodError) as caught:
        folds_of(parse_period("--train", train, tz=TZ), parse_period("--test", test, tz=TZ), folds, tz=TZ)
    assert says in str(caught.value)


@pytest.mark.parametrize("text", ["2025-01-01", "2025-01-10..2025-01-01", "..2025-01-01", "2025-13-01..2025-01-02"])
def test_a_period_that_is_not_from_before_to_is_refused(text):
    with pytest.raises(PeriodError):
        parse_period("--train", text, tz=TZ)
