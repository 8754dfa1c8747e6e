from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.factories import CandleFactory
from trading.candle_files import candles_import
from trading.candles import (
    UNIT_DAY,
    CandleDataError,
    candle_arrays,
    parse_moment,
    parse_unit,
)
from trading.models import Candle

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UPBIT_1M = FIXTURES / "upbit-krw-btc-1m-excerpt.csv"
OHLCV_60M = FIXTURES / "upbit-krw-btc-60m-excerpt.csv"


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


# --- the two layouts ----------------------------------------------------------------------------------
def test_upbit_layout_imports_every_minute_once_and_reports_the_duplicate_line():
    rows = _rows(UPBIT_1M)
    header, body = rows[0], rows[1:]
    utc = header.index("candle_date_time_utc")
    distinct = {row[utc] for row in body}
    duplicate_lines = [number for number, row in enumerate(body, start=2) if [r[utc] for r in body].index(row[utc]) + 2 != number]

    result = candles_import(path=UPBIT_1M)

    assert result.layout == "upbit"
    assert (result.market, result.unit) == ("KRW-BTC", 1)
    assert result.unit_source == "the file's unit column"
    assert result.duplicate_lines == duplicate_lines
    assert len(duplicate_lines) == 1
    assert result.inserted == len(distinct) == Candle.objects.filter(market="KRW-BTC", unit=1).count()
    first = body[0]
    stored = Candle.objects.get(ts=datetime.fromisoformat(first[utc]).replace(tzinfo=UTC))
    assert (stored.open, stored.high, stored.low, stored.close) == tuple(
        Decimal(first[header.index(name)]) for name in ("opening_price", "high_price", "low_price", "trade_price")
    )
    assert stored.volume == Decimal(first[header.index("candle_acc_trade_volume")])


def test_pyupbit_layout_reads_the_index_as_kst_and_infers_the_hour_unit_despite_gaps():
    rows = _rows(OHLCV_60M)
    result = candles_import(path=OHLCV_60M, market="krw-btc")

    assert result.layout == "ohlcv"
    assert result.market == "KRW-BTC"
    assert (result.unit, result.unit_source) == (60, "the spacing of the timestamps")
    assert result.inserted == len(rows) - 1
    # 2024-12-01 00:00 in the file's KST index is 2024-11-30 15:00 UTC.
    assert result.first == datetime(2024, 11, 30, 15, tzinfo=UTC)
    first = Candle.objects.get(market="KRW-BTC", unit=60, ts=result.first)
    assert first.open == Decimal(rows[1][1])
    # SQLite keeps a decimal column as a double: 15 significant digits survive, enough for any price.
    assert abs(first.value - Decimal(rows[1][6])) < Decimal("0.001")
    # The file has gaps (maintenance hours): they stay gaps, nothing is invented.
    stored = list(Candle.objects.filter(market="KRW-BTC", unit=60).order_by("ts").values_list("ts", flat=True))
    spans = {b - a for a, b in pairwise(stored)}
    assert timedelta(hours=1) in spans
    assert max(spans) > timedelta(hours=1)


def test_day_candles_and_a_time_column_with_an_explicit_offset(tmp_path):
    path = _write(
        tmp_path / "days.csv",
        [
            ["time", "open", "high", "low", "close", "volume"],
            ["2025-01-01T09:00:00+09:00", "100", "110", "90", "105", "1"],
            ["2025-01-02T09:00:00+09:00", "105", "120", "100", "118", "2"],
            ["2025-01-03T09:00:00+09:00", "118", "119", "101", "102", "3"],
        ],
    )
    result = candles_import(path=path, market="KRW-XRP")
    assert result.unit == UNIT_DAY
    assert list(Candle.objects.filter(market="KRW-XRP").values_list("ts", flat=True)) == [
        datetime(2025, 1, day, tzinfo=UTC) for day in (1, 2, 3)
    ]


def test_importing_the_same_file_twice_adds_nothing():
    first = candles_import(path=UPBIT_1M)
    second = candles_import(path=UPBIT_1M)
    assert second.inserted == 0
    assert second.already_stored == first.inserted
    assert Candle.objects.count() == first.inserted


def test_a_minute_listed_twice_with_different_values_keeps_the_later_line(tmp_path):
    header = ["", "open", "high", "low", "close", "volume", "value"]
    path = _write(
        tmp_path / "conflict.csv",
        [
            header,
            ["2025-01-01 09:00:00", "100", "100", "100", "100", "1", "100"],
            ["2025-01-01 09:01:00", "100", "101", "99", "100", "1", "100"],
            ["2025-01-01 09:01:00", "100", "105", "99", "104", "3", "300"],
            ["2025-01-01 09:02:00", "104", "104", "104", "104", "1", "104"],
        ],
    )
    result = candles_import(path=path, market="KRW-BTC")
    assert result.conflicting_lines == [(3, 4)]
    assert Candle.objects.count() == 3
    assert Candle.objects.get(ts=datetime(2025, 1, 1, 0, 1, tzinfo=UTC)).close == Decimal("104")


# --- bad input ------------------------------------------------------------------------------------------
def test_bad_rows_are_reported_by_line_number_and_nothing_is_stored(tmp_path):
    CandleFactory(market="KRW-BTC", unit=1, ts=datetime(2024, 1, 1, tzinfo=UTC))
    rows = _rows(UPBIT_1M)[:12]
    header = rows[0]
    rows[3][header.index("opening_price")] = "abc"  # line 4
    rows[5][header.index("high_price")] = "1"  # line 6: high below low
    rows[7][header.index("candle_date_time_utc")] = "yesterday"  # line 8
    rows[9] = rows[9][:4]  # line 10: too few columns
    path = _write(tmp_path / "bad.csv", rows)

    with pytest.raises(CandleDataError) as caught:
        candles_import(path=path)

    message = str(caught.value)
    assert message.startswith("4 bad row(s) of 11, nothing imported")
    for line in ("line 4: open 'abc' is not a number", "line 6: high 1", "line 8: time 'yesterday'", "line 10: 4 columns"):
        assert line in message
    assert Candle.objects.count() == 1  # only the candle stored before


def test_a_timestamp_off_the_unit_grid_is_a_bad_row(tmp_path):
    path = _write(
        tmp_path / "grid.csv",
        [
            ["", "open", "high", "low", "close", "volume"],
            ["2025-01-01 09:00:00", "1", "1", "1", "1", "1"],
            ["2025-01-01 09:01:00", "1", "1", "1", "1", "1"],
            ["2025-01-01 09:02:30", "1", "1", "1", "1", "1"],
            ["2025-01-01 09:03:00", "1", "1", "1", "1", "1"],
        ],
    )
    with pytest.raises(CandleDataError, match=r"line 4: 2025-01-01 00:02:30 UTC is not the start of a 1m candle"):
        candles_import(path=path, market="KRW-BTC")
    assert not Candle.objects.exists()


def test_an_explicit_unit_that_contradicts_the_files_unit_column_is_refused():
    with pytest.raises(CandleDataError, match=r"line 2: unit 1 is not 5"):
        candles_import(path=UPBIT_1M, unit=5)
    assert not Candle.objects.exists()


def test_a_market_that_contradicts_the_files_market_column_is_refused():
    with pytest.raises(CandleDataError, match=r"line 2: market KRW-BTC is not KRW-ETH"):
        candles_import(path=UPBIT_1M, market="KRW-ETH")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "the file is empty"),
        ([["", "open", "high", "low", "close"]], "no candle rows after the header"),
        ([["a", "b", "c"], ["1", "2", "3"]], "line 1: unknown columns"),
        ([["", "open", "high", "low", "close", "volume"], ["2025-01-01 09:00:00", "1", "1", "1", "1", "1"]], "pass --market"),
    ],
)
def test_files_that_cannot_be_candles_get_one_clear_message(tmp_path, rows, message):
    path = _write(tmp_path / "odd.csv", rows)
    with pytest.raises(CandleDataError, match=message):
        candles_import(path=path)


def test_the_unit_cannot_be_guessed_from_a_single_candle(tmp_path):
    rows = [["", "open", "high", "low", "close", "volume"], ["2025-01-01 09:00:00", "1", "1", "1", "1", "1"]]
    path = _write(tmp_path / "one.csv", rows)
    with pytest.raises(CandleDataError, match="pass --unit"):
        candles_import(path=path, market="KRW-BTC")
    assert candles_import(path=path, market="KRW-BTC", unit=1).inserted == 1


# --- the command --------------------------------------------------------------------------------------
def test_importcandles_command_prints_what_it_did(capsys):
    call_command("importcandles", str(OHLCV_60M), "--market", "KRW-BTC", "--unit", "60")
    out = capsys.readouterr().out
    assert "2,900 KRW-BTC 60m candles from 2024-11-30 15:00 to 2025-03-31 14:00 UTC" in out
    assert "stored 2,900 new; 0 were already stored" in out


def test_importcandles_command_turns_bad_input_into_one_line_errors(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("importcandles", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="unit '7' is not supported"):
        call_command("importcandles", str(UPBIT_1M), "--unit", "7")
    with pytest.raises(CommandError, match="time zone 'Mars/Base' is not known"):
        call_command("importcandles", str(OHLCV_60M), "--market", "KRW-BTC", "--tz", "Mars/Base")


# --- reading back ---------------------------------------------------------------------------------------
def test_candle_arrays_reads_the_stored_range_as_floats_oldest_first():
    candles_import(path=OHLCV_60M, market="KRW-BTC")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    arrays = candle_arrays(market="KRW-BTC", unit=60, start=start, end=start + timedelta(days=1))
    expected = list(
        Candle.objects.filter(market="KRW-BTC", unit=60, ts__gte=start, ts__lt=start + timedelta(days=1)).order_by("ts")
    )
    assert len(arrays) == len(expected) > 0
    assert arrays.unit_sec == 3600
    assert arrays.start.tolist() == [int(c.ts.timestamp()) for c in expected]
    assert arrays.open.tolist() == [float(c.open) for c in expected]
    assert arrays.close.tolist() == [float(c.close) for c in expected]
    assert len(candle_arrays(market="KRW-ETH", unit=60, start=start, end=start + timedelta(days=1))) == 0


def test_units_and_dates_are_parsed_for_people():
    assert [parse_unit(text) for text in ("1", "60m", "240", "day", "1d")] == [1, 60, 240, UNIT_DAY, UNIT_DAY]
    assert parse_moment("2025-01-01", tz="Asia/Seoul") == datetime(2024, 12, 31, 15, tzinfo=UTC)
    assert parse_moment("2025-01-01", tz="Asia/Seoul", end_of_day=True) == datetime(2025, 1, 1, 15, tzinfo=UTC)
    assert parse_moment("2025-01-01T00:00Z", tz="Asia/Seoul") == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(CandleDataError, match="is not a date"):
        parse_moment("01/02/2025", tz="Asia/Seoul")


# --- fetching from the sandbox exchange over HTTP -----------------------------------------------------------
NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def replay(tmp_path, sandbox_factory):
    """The real 1-minute excerpt with five minutes cut out (a gap), replayed by the sandbox so that its last
    candle is the one forming at NOW."""
    rows = _rows(UPBIT_1M)
    header, body = rows[0], rows[1:]
    utc = header.index("candle_date_time_utc")
    cut = {body[k][utc] for k in range(100, 105)}
    kept = [row for row in body if row[utc] not in cut]
    path = _write(tmp_path / "replay.csv", [header, *kept])
    minutes = sorted({datetime.fromisoformat(row[utc]).replace(tzinfo=UTC) for row in kept})
    handle = sandbox_factory(prices=str(path), clock=lambda: NOW, csv_history=len(minutes))
    shift = datetime(2026, 3, 2, 12, 0, tzinfo=UTC) - minutes[-1]
    opens = {
        datetime.fromisoformat(row[utc]).replace(tzinfo=UTC) + shift: Decimal(row[header.index("opening_price")]) for row in kept
    }
    return handle, [m + shift for m in minutes], opens, cut


def _client(handle):
    from exchange.upbit import UpbitClient

    return UpbitClient(handle.base_url)


def test_fetch_pages_back_200_at_a_time_keeps_gaps_and_skips_the_forming_candle(replay):
    from trading.candles import candles_fetch

    handle, minutes, opens, cut_minutes = replay
    start, end = minutes[0], NOW + timedelta(hours=1)
    pages = []
    result = candles_fetch(source=_client(handle), market="KRW-BTC", unit=1, start=start, end=end, now=NOW, progress=pages.append)
    stored = list(Candle.objects.filter(market="KRW-BTC", unit=1).order_by("ts"))
    expected = minutes[:-1]  # the last one is still forming at NOW
    assert [c.ts for c in stored] == expected
    assert result.inserted == len(expected) > 200
    assert result.pages == 2
    assert [p.pages for p in pages] == [1, 2]
    assert {c.ts: c.open for c in stored} == {ts: opens[ts] for ts in expected}
    gaps = [b - a for a, b in pairwise(expected) if b - a > timedelta(minutes=1)]
    assert gaps == [timedelta(minutes=len(cut_minutes) + 1)]


def test_an_interrupted_fetch_resumes_without_fetching_or_storing_twice(replay):
    from exchange.exceptions import RetryLater
    from trading.candles import candles_fetch

    handle, minutes, _opens, _cut = replay
    client = _client(handle)

    def break_after_first_page(step):
        if step.pages == 1:
            handle.fail_next("/v1/candles/minutes/1", method="GET", status=500, count=50)

    with pytest.raises(RetryLater):
        candles_fetch(
            source=client,
            market="KRW-BTC",
            unit=1,
            start=minutes[0],
            end=NOW,
            now=NOW,
            progress=break_after_first_page,
            retries=0,
            sleep=lambda s: None,
        )
    assert Candle.objects.count() == 200  # the first page is kept
    handle.reset_faults()

    resumed = candles_fetch(source=client, market="KRW-BTC", unit=1, start=minutes[0], end=NOW, now=NOW)
    rest = len(minutes) - 1 - 200
    assert resumed.inserted == rest
    assert resumed.received < 200 + rest  # the stored 200 were not asked for again in full
    assert list(Candle.objects.order_by("ts").values_list("ts", flat=True)) == minutes[:-1]
    again = candles_fetch(source=client, market="KRW-BTC", unit=1, start=minutes[0], end=NOW, now=NOW)
    assert again.inserted == 0
    assert Candle.objects.count() == len(minutes) - 1


@pytest.mark.slow
def test_fetchcandles_command_fetches_day_candles_from_the_sandbox(sandbox, capsys):
    call_command("fetchcandles", "--unit", "day", "--from", "2025-01-01", "--to", "2025-01-10", "--api-base", sandbox.base_url)
    days = list(Candle.objects.filter(market="KRW-BTC", unit=UNIT_DAY).order_by("ts").values_list("ts", flat=True))
    # 2025-01-01..10 in Asia/Seoul: day candles (00:00 UTC) from 2025-01-01 to 2025-01-10.
    assert days == [datetime(2025, 1, d, tzinfo=UTC) for d in range(1, 11)]
    assert "10 new stored" in capsys.readouterr().out
    call_command("fetchcandles", "--unit", "day", "--from", "2025-01-01", "--to", "2025-01-10", "--api-base", sandbox.base_url)
    assert Candle.objects.filter(unit=UNIT_DAY).count() == 10


def test_fetchcandles_command_reports_bad_input_in_one_line(sandbox):
    with pytest.raises(CommandError, match="is not before"):
        call_command("fetchcandles", "--from", "2025-02-01", "--to", "2025-01-01", "--api-base", sandbox.base_url)
    with pytest.raises(CommandError, match="unit '2' is not supported"):
        call_command("fetchcandles", "--unit", "2", "--from", "2025-01-01", "--to", "2025-01-02", "--api-base", sandbox.base_url)
    sandbox.fail_next("/v1/candles/minutes/1", method="GET", status=418, name="", message="banned for 60 s", count=100)
    with pytest.raises(CommandError, match="run the same command again to resume"):
        call_command("fetchcandles", "--from", "2025-01-01", "--to", "2025-01-02", "--api-base", sandbox.base_url)
