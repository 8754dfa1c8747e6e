"""The training and test periods of a study (`--train FROM..TO --test FROM..TO [--folds K]`) and their candles.

A period's ends are read as `backtest --from/--to` reads them: a bare date is local midnight (TIME_ZONE,
Asia/Seoul by default), and a bare end date means the end of that day, so `--train 2025-01-01..2025-06-30`
is [2025-01-01 00:00 KST, 2025-07-01 00:00 KST). A candle belongs to the period its start falls in.

Rolling walk-forward (`--folds K`): K consecutive train/test windows over the whole span, from the training
period's start to the test period's end, in whole local days. Each test window has the same length and
the test windows tile the end of the span back to back; each training window comes right before its test
window and keeps the given train : test proportion. The last fold's test window ends where the given test
period ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from trading.backtest.engine import BacktestError
from trading.backtest.services import run_candles
from trading.candles import CandleDataError, parse_moment
from trading.strategies.indicators import CandleArrays


class PeriodError(ValueError):
    """A period that cannot be used; the text is the one line shown to the person."""


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def text(self, tz: str) -> str:
        zone = ZoneInfo(tz)
        return f"{self.start.astimezone(zone):%Y-%m-%d %H:%M} → {self.end.astimezone(zone):%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class Split:
    train: Window
    test: Window


def parse_period(option: str, text: str, *, tz: str) -> Window:
    first, sep, last = (text or "").partition("..")
    if not sep or not first.strip() or not last.strip():
        raise PeriodError(f"{option} {text!r} is not FROM..TO, e.g. {option} 2025-01-01..2025-06-30")
    try:
        start = parse_moment(first, tz=tz)
        end = parse_moment(last, tz=tz, end_of_day=True)
    except CandleDataError as error:
        raise PeriodError(f"{option}: {error}") from None
    if start >= end:
        raise PeriodError(f"{option} {text}: the period is empty or inverted; FROM must come before TO")
    return Window(start, end)


def check_split(train: Window, test: Window) -> None:
    if test.start < train.end:
        raise PeriodError(
            "--train and --test overlap (or the test comes first): the test period must start at or after the training "
            f"period's end ({train.end:%Y-%m-%d %H:%M} UTC)"
        )


def _local_date(moment: datetime, zone: ZoneInfo) -> date | None:
    local = moment.astimezone(zone)
    return local.date() if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0) else None


def folds_of(train: Window, test: Window, folds: int, *, tz: str) -> list[Split]:
    """The splits of a study: the given one, or K rolling ones (see the module's docstring)."""
    check_split(train, test)
    if folds <= 1:
        if folds < 0:
            raise PeriodError(f"--folds {folds}: give a positive number of folds")
        return [Split(train, test)]
    zone = ZoneInfo(tz)
    ends = [_local_date(moment, zone) for moment in (train.start, train.end, test.start, test.end)]
    if any(day is None for day in ends):
        raise PeriodError(f"--folds needs periods of whole days (bare dates, local midnight in {tz})")
    first, train_end, test_start, last = (day for day in ends if day is not None)
    total = (last - first).days
    train_days, test_days = (train_end - first).days, (last - test_start).days
    fold_test = int(total / (train_days / test_days + folds))
    fold_train = total - folds * fold_test
    if fold_test < 1 or fold_train < 1:
        raise PeriodError(f"--folds {folds}: {total} days cannot hold {folds} train/test windows of at least a day each")

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

    splits = []
    for k in range(folds):
        begin = first + timedelta(days=k * fold_test)
        cut = begin + timedelta(days=fold_train)
        splits.append(
            Split(Window(midnight(begin), midnight(cut)), Window(midnight(cut), midnight(cut + timedelta(days=fold_test))))
        )
    return splits


@dataclass(frozen=True)
class LoadedSplit:
    split: Split
    train: CandleArrays
    test: CandleArrays


def load_splits(*, market: str, unit: int, splits: list[Split]) -> list[LoadedSplit]:
    """The stored candles of every window, loaded once (a worker keeps them for all its trials).

    A window without candles raises PeriodError naming it and what is stored."""
    loaded: dict[Window, CandleArrays] = {}

    def arrays(window: Window, name: str) -> CandleArrays:
        if window not in loaded:
            try:
                loaded[window] = run_candles(market=market, unit=unit, start=window.start, end=window.end)
            except BacktestError as error:
                raise PeriodError(f"{name}: {error}") from None
        return loaded[window]

    result = []
    for number, split in enumerate(splits, start=1):
        label = f" (fold {number})" if len(splits) > 1 else ""
        result.append(
            LoadedSplit(split, arrays(split.train, f"training period{label}"), arrays(split.test, f"test period{label}"))
        )
    return result
