"""Quotation endpoints of the sandbox: shapes, candles and paging, the price model, replay, quotas."""

from __future__ import annotations

import csv
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from exchange.rules import is_on_tick

FIXED = datetime(2026, 3, 10, 5, 30, 20, tzinfo=UTC)
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
REMAINING_REQ = re.compile(r"^group=([a-z\-]+); min=([0-9]+); sec=([0-9]+)$")


@pytest.fixture
def fixed(sandbox_factory):
    return sandbox_factory(clock=lambda: FIXED)


def _json(response: requests.Response):
    return json.loads(response.text, parse_float=Decimal)


def _candles(sandbox, path: str, **params):
    response = sandbox.public(path, **params)
    assert response.status_code == 200, response.text
    return _json(response)


# --- Remaining-Req and quotas --------------------------------------------------------------------------


def test_every_response_carries_remaining_req_with_its_group(sandbox):
    responses = {
        "market": sandbox.public("/v1/market/all"),
        "ticker": sandbox.public("/v1/ticker", markets="KRW-BTC"),
        "candle": sandbox.public("/v1/candles/minutes/1", market="KRW-BTC"),
        "orderbook": sandbox.public("/v1/orderbook", markets="KRW-BTC"),
        "trade": sandbox.public("/v1/trades/ticks", market="KRW-BTC"),
        "default": sandbox.call("GET", "/v1/accounts"),
        "order": sandbox.call("POST", "/v1/orders", body={"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "1"}),
    }
    errors = [
        sandbox.public("/v1/ticker", markets="KRW-NOPE"),  # 404
        sandbox.public("/v1/no/such/path"),  # 404
        requests.get(f"{sandbox.base_url}/v1/accounts", timeout=5),  # 401
        requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=5),  # control
    ]

    for group, response in responses.items():
        match = REMAINING_REQ.match(response.headers["Remaining-Req"])
        assert match, response.headers
        assert match.group(1) == group
    for response in errors:
        assert REMAINING_REQ.match(response.headers["Remaining-Req"]), (response.status_code, response.headers)
    assert responses["order"].status_code == 400


def test_quotation_group_past_10_per_second_gets_429_in_plain_text(sandbox):
    sandbox.hold_quota_clock()
    statuses: list[int] = []
    last = None
    for _ in range(40):
        last = sandbox.public("/v1/ticker", markets="KRW-BTC")
        statuses.append(last.status_code)
        if last.status_code == 429:
            break

    assert last is not None
    assert last.status_code == 429
    assert statuses.count(200) == 10  # one fixed one-second window's worth
    assert last.text == "Too many API requests."
    assert last.headers["Remaining-Req"].endswith("sec=0")
    assert last.headers["Content-Type"].startswith("text/plain")


def test_order_group_allows_8_per_second(sandbox):
    sandbox.hold_quota_clock()
    body = {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "1"}
    statuses: list[int] = []
    for _ in range(30):
        statuses.append(sandbox.call("POST", "/v1/orders", body=body).status_code)
        if statuses[-1] == 429:
            break

    assert statuses[-1] == 429
    assert statuses.count(400) == 8


def test_remaining_req_counts_down_within_a_second(sandbox):
    seconds = [int(REMAINING_REQ.match(sandbox.call("GET", "/v1/accounts").headers["Remaining-Req"]).group(3)) for _ in range(3)]

    # 30 per second for the default group; a window boundary may reset the count once.
    assert all(0 <= s <= 29 for s in seconds)
    assert seconds[0] > seconds[1] or seconds[1] > seconds[2]


def test_repeated_429s_earn_a_418_ban_when_enabled(sandbox_factory):
    sandbox = sandbox_factory(ban_after=2, ban_seconds=30)
    sandbox.hold_quota_clock()
    statuses = [sandbox.public("/v1/market/all").status_code for _ in range(40)]

    assert 429 in statuses
    assert 418 in statuses
    banned = sandbox.public("/v1/market/all")
    assert banned.status_code == 418
    assert "Blocked for" in banned.text


def test_no_ban_by_default(sandbox):
    sandbox.hold_quota_clock()
    statuses = [sandbox.public("/v1/market/all").status_code for _ in range(60)]

    assert 429 in statuses
    assert 418 not in statuses


# --- market list, ticker, order book ---------------------------------------------------------------------


def test_market_all_with_details_in_both_spellings(sandbox_factory):
    sandbox = sandbox_factory(markets=("KRW-BTC", "KRW-ETH"))

    plain = _candles(sandbox, "/v1/market/all")
    snake = _candles(sandbox, "/v1/market/all", is_details="true")
    camel = _candles(sandbox, "/v1/market/all", isDetails="true")

    assert [m["market"] for m in plain] == ["KRW-BTC", "KRW-ETH"]
    assert "market_event" not in plain[0]
    assert snake == camel
    assert snake[0]["market_event"]["warning"] is False
    assert plain[0]["english_name"] == "Bitcoin"


def test_ticker_numbers_are_json_numbers_and_follow_the_pinned_price(sandbox):
    sandbox.set_price("123456000")

    ticker = sandbox.public("/v1/ticker", markets="KRW-BTC").json()[0]

    assert ticker["trade_price"] == 123456000
    assert isinstance(ticker["trade_price"], float)
    assert isinstance(ticker["acc_trade_volume_24h"], float)
    assert ticker["acc_trade_volume_24h"] > 0
    assert ticker["low_price"] <= ticker["trade_price"] <= ticker["high_price"]
    assert ticker["change"] in ("RISE", "FALL", "EVEN")


def test_unknown_market_is_404_code_not_found_with_integer_name(sandbox):
    response = sandbox.public("/v1/ticker", markets="KRW-NOPE")

    assert response.status_code == 404
    assert response.json() == {"error": {"name": 404, "message": "Code not found"}}


def test_missing_parameter_is_400_with_integer_name(sandbox):
    response = sandbox.public("/v1/candles/minutes/1")

    assert response.status_code == 400
    assert response.json()["error"]["name"] == 400


def test_unknown_path_is_404_json(sandbox):
    response = sandbox.public("/v1/nothing/here")

    assert response.status_code == 404
    assert "error" in response.json()


def test_orderbook_has_30_levels_best_first_on_the_tick_grid(sandbox):
    sandbox.set_price("100000000")

    book = _json(sandbox.public("/v1/orderbook", markets="KRW-BTC"))[0]
    units = book["orderbook_units"]

    assert len(units) == 30
    asks = [u["ask_price"] for u in units]
    bids = [u["bid_price"] for u in units]
    assert asks == sorted(asks)
    assert bids == sorted(bids, reverse=True)
    assert bids[0] == Decimal("100000000")
    assert asks[0] == Decimal("100001000")
    assert all(is_on_tick(p) for p in asks + bids)
    assert all(u["ask_size"] > 0 and u["bid_size"] > 0 for u in units)
    assert book["total_ask_size"] == sum(u["ask_size"] for u in units)


def test_trades_ticks_are_newest_first(sandbox):
    ticks = _json(sandbox.public("/v1/trades/ticks", market="KRW-BTC", count=5))

    assert len(ticks) == 5
    assert [t["timestamp"] for t in ticks] == sorted((t["timestamp"] for t in ticks), reverse=True)
    assert {t["ask_bid"] for t in ticks} <= {"ASK", "BID"}


# --- candles -----------------------------------------------------------------------------------------------


def test_minute_candles_are_newest_first_and_realistic(fixed):
    candles = _candles(fixed, "/v1/candles/minutes/1", market="KRW-BTC", count=200)

    assert len(candles) == 200
    starts = [c["candle_date_time_utc"] for c in candles]
    assert starts == sorted(starts, reverse=True)
    assert starts[0] == "2026-03-10T05:30:00"  # the minute in progress
    assert candles[0]["candle_date_time_kst"] == "2026-03-10T14:30:00"
    for candle in candles:
        assert Decimal("100000000") <= candle["low_price"] <= candle["high_price"] <= Decimal("160000000")
        assert candle["low_price"] <= min(candle["opening_price"], candle["trade_price"])
        assert candle["high_price"] >= max(candle["opening_price"], candle["trade_price"])
        assert all(is_on_tick(candle[k]) for k in ("opening_price", "high_price", "low_price", "trade_price"))
        assert candle["candle_acc_trade_volume"] > 0
    # Minute moves of a real BTC market: small, but not flat.
    moves = [abs(a["trade_price"] / b["trade_price"] - 1) for a, b in itertools.pairwise(candles)]
    assert max(moves) < Decimal("0.02")
    assert sum(moves) / len(moves) > Decimal("0.0001")


def test_count_above_200_is_refused(fixed):
    response = fixed.public("/v1/candles/minutes/1", market="KRW-BTC", count=201)

    assert response.status_code == 400


@pytest.mark.parametrize(
    "to", ["2026-03-10T05:00:00Z", "2026-03-10 05:00:00", "2026-03-10T14:00:00+09:00", "2026-03-10T05:00:00"]
)
def test_to_is_exclusive_in_every_accepted_format(fixed, to):
    candles = _candles(fixed, "/v1/candles/minutes/5", market="KRW-BTC", count=3, to=to)

    assert [c["candle_date_time_utc"] for c in candles] == ["2026-03-10T04:55:00", "2026-03-10T04:50:00", "2026-03-10T04:45:00"]


def test_paging_with_to_continues_without_overlap_or_hole(fixed):
    first = _candles(fixed, "/v1/candles/minutes/1", market="KRW-BTC", count=200)
    second = _candles(fixed, "/v1/candles/minutes/1", market="KRW-BTC", count=200, to=first[-1]["candle_date_time_utc"])
    both = _candles(fixed, "/v1/candles/minutes/3", market="KRW-BTC", count=2)

    starts = [datetime.fromisoformat(c["candle_date_time_utc"]) for c in first + second]
    assert all(a - b == timedelta(minutes=1) for a, b in itertools.pairwise(starts))
    assert len(both) == 2


def test_hour_candle_is_the_sum_of_its_minutes(fixed):
    hour = _candles(fixed, "/v1/candles/minutes/60", market="KRW-BTC", count=1, to="2026-03-10T05:00:00Z")[0]
    minutes = _candles(fixed, "/v1/candles/minutes/1", market="KRW-BTC", count=60, to="2026-03-10T05:00:00Z")

    assert hour["candle_date_time_utc"] == "2026-03-10T04:00:00"
    assert hour["opening_price"] == minutes[-1]["opening_price"]
    assert hour["trade_price"] == minutes[0]["trade_price"]
    assert hour["high_price"] == max(m["high_price"] for m in minutes)
    assert hour["low_price"] == min(m["low_price"] for m in minutes)
    assert hour["candle_acc_trade_volume"] == sum(m["candle_acc_trade_volume"] for m in minutes)


def test_day_candles_chain_their_closes(fixed):
    days = _candles(fixed, "/v1/candles/days", market="KRW-BTC", count=200)

    assert len(days) == 200
    assert days[0]["candle_date_time_utc"] == "2026-03-10T00:00:00"
    assert days[0]["candle_date_time_kst"] == "2026-03-10T09:00:00"
    for newer, older in itertools.pairwise(days):
        assert newer["prev_closing_price"] == older["trade_price"]
        assert newer["change_price"] == newer["trade_price"] - older["trade_price"]
    assert "unit" not in days[0]


@pytest.mark.parametrize(
    ("path", "starts"),
    [
        ("/v1/candles/weeks", ["2026-03-09", "2026-03-02", "2026-02-23"]),  # Mondays; FIXED is a Tuesday
        ("/v1/candles/months", ["2026-03-01", "2026-02-01", "2026-01-01"]),
        ("/v1/candles/years", ["2026-01-01", "2025-01-01", "2024-01-01"]),
    ],
)
def test_week_month_and_year_candles_add_up_their_days(fixed, path, starts):
    periods = _candles(fixed, path, market="KRW-BTC", count=3)
    days = _candles(fixed, "/v1/candles/days", market="KRW-BTC", count=200)
    days += _candles(fixed, "/v1/candles/days", market="KRW-BTC", count=200, to=days[-1]["candle_date_time_utc"])
    days += _candles(fixed, "/v1/candles/days", market="KRW-BTC", count=200, to=days[-1]["candle_date_time_utc"])

    assert [p["first_day_of_period"] for p in periods] == starts
    assert [p["candle_date_time_utc"] for p in periods] == [f"{start}T00:00:00" for start in starts]
    assert periods[0]["candle_date_time_kst"] == f"{starts[0]}T09:00:00"
    assert "unit" not in periods[0]
    for position, period in enumerate(periods[:2]):
        end = starts[position - 1] if position else "9999"
        inside = [d for d in days if starts[position] <= d["candle_date_time_utc"][:10] < end]
        assert period["opening_price"] == inside[-1]["opening_price"]  # days are newest first
        assert period["trade_price"] == inside[0]["trade_price"]
        assert period["high_price"] == max(d["high_price"] for d in inside)
        assert period["low_price"] == min(d["low_price"] for d in inside)
        assert period["candle_acc_trade_volume"] == sum(d["candle_acc_trade_volume"] for d in inside)
    assert periods[1]["trade_price"] == periods[0]["opening_price"]


def test_period_candles_honour_to_and_stop_at_the_first_data(fixed):
    weeks = _candles(fixed, "/v1/candles/weeks", market="KRW-BTC", count=2, to="2026-03-02T00:00:00+09:00")
    years = _candles(fixed, "/v1/candles/years", market="KRW-BTC", count=200)

    # 2026-03-02 09:00 KST is Monday 00:00 UTC: that week is excluded, the two before it remain.
    assert [w["first_day_of_period"] for w in weeks] == ["2026-02-23", "2026-02-16"]
    assert [y["first_day_of_period"] for y in years] == [
        "2026-01-01",
        "2025-01-01",
        "2024-01-01",
        "2023-01-01",
        "2022-01-01",
        "2021-01-01",
        "2020-01-01",
    ]


def test_same_seed_same_market_different_seed_different_market(sandbox_factory):
    one = sandbox_factory(clock=lambda: FIXED, seed=7)
    two = sandbox_factory(clock=lambda: FIXED, seed=7)
    other = sandbox_factory(clock=lambda: FIXED, seed=8)

    def path(box):
        return _candles(box, "/v1/candles/minutes/1", market="KRW-BTC", count=30)

    assert path(one) == path(two)
    assert path(one) != path(other)


def test_advancing_the_clock_adds_candles(fixed):
    before = _candles(fixed, "/v1/candles/minutes/1", market="KRW-BTC", count=1)[0]
    fixed.advance(180)
    after = _candles(fixed, "/v1/candles/minutes/1", market="KRW-BTC", count=1)[0]

    assert before["candle_date_time_utc"] == "2026-03-10T05:30:00"
    assert after["candle_date_time_utc"] == "2026-03-10T05:33:00"


def test_pinned_price_shows_in_the_current_candle_and_walk_resumes_from_it(fixed):
    fixed.set_price("150000000")
    candle = _candles(fixed, "/v1/candles/minutes/1", market="KRW-BTC", count=1)[0]
    fixed.resume_price()
    fixed.advance(120)

    assert candle["trade_price"] == Decimal("150000000")
    assert fixed.price() != Decimal("150000000")
    assert abs(fixed.price() / Decimal("150000000") - 1) < Decimal("0.01")


# --- replay from CSV ----------------------------------------------------------------------------------------


def test_replay_of_upbit_candle_columns_serves_the_file_rows(sandbox_factory):
    rows = list(csv.DictReader((DATA / "upbit-krw-btc-1m-2018.csv").open()))
    now = datetime(2026, 3, 10, 5, 30, 0, tzinfo=UTC)
    sandbox = sandbox_factory(prices=str(DATA / "upbit-krw-btc-1m-2018.csv"), csv_history=300, clock=lambda: now)

    candles = _candles(sandbox, "/v1/candles/minutes/1", market="KRW-BTC", count=3, to="2026-03-10T05:30:00Z")

    # Row 300 plays "now"; the three candles before it are rows 299, 298, 297 of the file.
    for candle, row in zip(candles, (rows[299], rows[298], rows[297]), strict=True):
        assert candle["opening_price"] == Decimal(row["opening_price"])
        assert candle["high_price"] == Decimal(row["high_price"])
        assert candle["low_price"] == Decimal(row["low_price"])
        assert candle["trade_price"] == Decimal(row["trade_price"])
        assert candle["candle_acc_trade_volume"] == Decimal(row["candle_acc_trade_volume"])
        assert candle["candle_acc_trade_price"] == Decimal(row["candle_acc_trade_price"])
    assert sandbox.price() == Decimal(rows[300]["opening_price"])


def test_replay_of_pyupbit_layout_keeps_hours_and_splits_them_into_minutes(sandbox_factory):
    rows = list(csv.reader((DATA / "upbit-krw-btc-60m.csv").open()))[1:]
    now = datetime(2026, 3, 10, 5, 0, 0, tzinfo=UTC)
    sandbox = sandbox_factory(prices=str(DATA / "upbit-krw-btc-60m.csv"), csv_history=500, clock=lambda: now)

    hour = _candles(sandbox, "/v1/candles/minutes/60", market="KRW-BTC", count=1, to="2026-03-10T05:00:00Z")[0]
    minutes = _candles(sandbox, "/v1/candles/minutes/1", market="KRW-BTC", count=60, to="2026-03-10T05:00:00Z")
    row = rows[499]

    assert hour["opening_price"] == Decimal(row[1])
    assert hour["high_price"] == Decimal(row[2])
    assert hour["low_price"] == Decimal(row[3])
    assert hour["trade_price"] == Decimal(row[4])
    assert hour["candle_acc_trade_volume"] == Decimal(row[5])
    assert minutes[-1]["opening_price"] == hour["opening_price"]
    assert minutes[0]["trade_price"] == hour["trade_price"]
    assert max(m["high_price"] for m in minutes) == hour["high_price"]
    assert min(m["low_price"] for m in minutes) == hour["low_price"]
    assert sum(m["candle_acc_trade_volume"] for m in minutes) == hour["candle_acc_trade_volume"]


def test_replay_keeps_gaps_and_drops_duplicates(sandbox_factory, tmp_path):
    header = "market,candle_date_time_utc,candle_date_time_kst,opening_price,high_price,low_price,trade_price,"
    header += "timestamp,candle_acc_trade_price,candle_acc_trade_volume,unit\n"
    lines = [header]
    for minute in (0, 1, 1, 2, 4, 5, 6):  # minute 1 twice, minute 3 missing
        start = datetime(2018, 1, 1, 0, minute)
        price = 10_000_000 + minute * 1000
        lines.append(
            f"KRW-BTC,{start:%Y-%m-%dT%H:%M:%S},{start + timedelta(hours=9):%Y-%m-%dT%H:%M:%S},"
            f"{price},{price + 1000},{price - 1000},{price},0,{price},1.0,1\n"
        )
    path = tmp_path / "gappy.csv"
    path.write_text("".join(lines))
    now = datetime(2026, 3, 10, 5, 30, 0, tzinfo=UTC)
    sandbox = sandbox_factory(prices=str(path), csv_history=5, clock=lambda: now)

    candles = _candles(sandbox, "/v1/candles/minutes/1", market="KRW-BTC", count=10, to="2026-03-10T05:30:00Z")

    # The file's sixth distinct minute plays 05:30; its missing minute 3 stays missing at 05:27.
    assert [c["candle_date_time_utc"][-8:] for c in candles] == ["05:29:00", "05:28:00", "05:26:00", "05:25:00", "05:24:00"]
    assert [c["candle_acc_trade_volume"] for c in candles] == [Decimal("1.0")] * 5


def test_unreadable_csv_is_refused_with_the_reason(tmp_path):
    from exchange.sandbox.prices import CsvSourceError
    from exchange.sandbox.server import SandboxServer

    path = tmp_path / "bad.csv"
    path.write_text("time,price\n2024-01-01,1\n")

    with pytest.raises(CsvSourceError, match="missing column"):
        SandboxServer(prices=str(path))
