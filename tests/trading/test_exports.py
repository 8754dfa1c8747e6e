"""Streamed CSV/JSON exports: exact content, every table, the selection, everything matching the filters."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from bench.seed import SeedSizes, seed_database
from tests.factories import (
    BacktestRunFactory,
    BalanceSnapshotFactory,
    CandleFactory,
    EngineEventFactory,
    FillFactory,
    ManualOrderRequestFactory,
    OrderFactory,
    PnlDailyFactory,
    SignalFactory,
    StrategyConfigFactory,
)
from trading import exports
from trading.models import (
    BacktestRun,
    BalanceSnapshot,
    Candle,
    EngineEvent,
    EngineState,
    Fill,
    ManualOrderRequest,
    Order,
    PnlDaily,
    Signal,
    StrategyConfig,
)

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 11, 21, 4, 5, 6, 123456, tzinfo=UTC)
T2 = datetime(2026, 11, 21, 4, 5, 7, tzinfo=UTC)


def _export_url(model: type, fmt: str) -> str:
    return reverse(f"admin:trading_{model._meta.model_name}_export", args=[fmt])


def _body(response) -> str:
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def _snapshots() -> tuple[BalanceSnapshot, BalanceSnapshot]:
    older = BalanceSnapshotFactory(
        ts=T1,
        mode="paper",
        account="paper",
        krw=Decimal("1234567.12345678"),
        coin_symbol="BTC",
        coin_volume=Decimal("0.00000001"),
        avg_buy_price=Decimal("99950000"),
        price=Decimal("100000000.5"),
        total_krw=Decimal("0"),
    )
    newer = BalanceSnapshotFactory(
        ts=T2,
        mode="live",
        account="live:127.0.0.1:8765:3fa9c1d2e4b5",
        krw=Decimal("990000"),
        coin_symbol="BTC",
        coin_volume=Decimal("0.0001"),
        avg_buy_price=Decimal("0"),
        price=Decimal("0.00009073"),
        total_krw=Decimal("1000000.00000001"),
    )
    return older, newer


# ---------------------------------------------------------------------------------------------------
# Exact content
# ---------------------------------------------------------------------------------------------------
def test_csv_export_exact_content(admin_client):
    older, newer = _snapshots()

    response = admin_client.get(_export_url(BalanceSnapshot, "csv"))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert _body(response) == (
        "id,ts,mode,account,krw,coin_symbol,coin_volume,avg_buy_price,price,total_krw\r\n"
        f"{newer.pk},2026-11-21T04:05:07+00:00,live,live:127.0.0.1:8765:3fa9c1d2e4b5,990000.00000000,BTC,0.00010000,0.00000000,0.00009073,1000000.00000001\r\n"
        f"{older.pk},2026-11-21T04:05:06.123456+00:00,paper,paper,1234567.12345678,BTC,0.00000001,99950000.00000000,"
        "100000000.50000000,0.00000000\r\n"
    )


def test_json_export_exact_content(admin_client):
    older, newer = _snapshots()

    response = admin_client.get(_export_url(BalanceSnapshot, "json"))

    assert response["Content-Type"] == "application/json"
    assert _body(response) == (
        "[\n"
        f'{{"id":{newer.pk},"ts":"2026-11-21T04:05:07+00:00","mode":"live","account":"live:127.0.0.1:8765:3fa9c1d2e4b5",'
        '"krw":"990000.00000000","coin_symbol":"BTC",'
        '"coin_volume":"0.00010000","avg_buy_price":"0.00000000","price":"0.00009073","total_krw":"1000000.00000001"},\n'
        f'{{"id":{older.pk},"ts":"2026-11-21T04:05:06.123456+00:00","mode":"paper","account":"paper",'
        '"krw":"1234567.12345678",'
        '"coin_symbol":"BTC","coin_volume":"0.00000001","avg_buy_price":"99950000.00000000","price":"100000000.50000000",'
        '"total_krw":"0.00000000"}\n'
        "]\n"
    )


def test_fill_export_carries_its_order_exactly(admin_client):
    order = OrderFactory(identifier="ac-1", market="KRW-BTC", side="sell", mode="live", account="live:api.upbit.com:3fa9c1d2e4b5")
    fill = FillFactory(
        order=order,
        ts=T1,
        price=Decimal("99950000"),
        volume=Decimal("0.0001"),
        funds=Decimal("9995"),
        fee=Decimal("4.9975"),
        trade_id="t-1",
        raw={"uuid": "t-1"},
    )

    body = _body(admin_client.get(_export_url(Fill, "csv")))

    assert body == (
        "id,ts,order_id,price,volume,funds,fee,trade_id,raw,order_identifier,order_market,order_side,order_mode,order_account\r\n"
        f"{fill.pk},2026-11-21T04:05:06.123456+00:00,{order.pk},99950000.00000000,0.00010000,9995.00000000,4.99750000,t-1,"
        '"{""uuid"": ""t-1""}",ac-1,KRW-BTC,sell,live,live:api.upbit.com:3fa9c1d2e4b5\r\n'
    )
    rows = json.loads(_body(admin_client.get(_export_url(Fill, "json"))))
    assert rows == [
        {
            "id": fill.pk,
            "ts": "2026-11-21T04:05:06.123456+00:00",
            "order_id": order.pk,
            "price": "99950000.00000000",
            "volume": "0.00010000",
            "funds": "9995.00000000",
            "fee": "4.99750000",
            "trade_id": "t-1",
            "raw": {"uuid": "t-1"},
            "order_identifier": "ac-1",
            "order_market": "KRW-BTC",
            "order_side": "sell",
            "order_mode": "live",
            "order_account": "live:api.upbit.com:3fa9c1d2e4b5",
        }
    ]


def test_order_export_values(admin_client):
    order = OrderFactory(
        ts=T1,
        side="buy",
        ord_type="price",
        price=Decimal("10000"),
        volume=None,
        status="DONE",
        identifier="ac-1",
        exchange_uuid="uuid-1",
        exchange_state="done",
        executed_volume=Decimal("0.0001"),
        executed_funds=Decimal("9995"),
        paid_fee=Decimal("4.9975"),
        reason="strategy BUY",
        raw={"uuid": "uuid-1"},
    )
    Order.objects.filter(pk=order.pk).update(updated_at=T2)

    (row,) = list(csv.DictReader(io.StringIO(_body(admin_client.get(_export_url(Order, "csv"))))))
    (item,) = json.loads(_body(admin_client.get(_export_url(Order, "json"))))

    expected_text = {
        "id": str(order.pk),
        "ts": "2026-11-21T04:05:06.123456+00:00",
        "updated_at": "2026-11-21T04:05:07+00:00",
        "market": "KRW-BTC",
        "side": "buy",
        "ord_type": "price",
        "price": "10000.00000000",
        "volume": "",
        "status": "DONE",
        "mode": "paper",
        "identifier": "ac-1",
        "exchange_uuid": "uuid-1",
        "executed_volume": "0.00010000",
        "executed_funds": "9995.00000000",
        "paid_fee": "4.99750000",
        "lookup_attempts": "0",
        "signal_id": "",
        "raw": '{"uuid": "uuid-1"}',
        "cancel_requested_at": "",
    }
    assert {key: row[key] for key in expected_text} == expected_text
    assert item["id"] == order.pk
    assert item["lookup_attempts"] == 0
    assert item["volume"] is None
    assert item["signal_id"] is None
    assert item["cancel_requested_at"] is None
    assert item["price"] == "10000.00000000"
    assert item["raw"] == {"uuid": "uuid-1"}
    assert item["ts"] == "2026-11-21T04:05:06.123456+00:00"


def test_export_file_names_say_table_and_utc_time(admin_client):
    OrderFactory()

    for model, basename in ((Order, "orders"), (EngineEvent, "events"), (BalanceSnapshot, "balance-snapshots")):
        for fmt in ("csv", "json"):
            disposition = admin_client.get(_export_url(model, fmt))["Content-Disposition"]
            assert re.fullmatch(rf'attachment; filename="{basename}-\d{{8}}T\d{{6}}Z\.{fmt}"', disposition), disposition


def test_file_name_format():
    assert exports.file_name("orders", "csv", now=datetime(2026, 11, 21, 13, 5, tzinfo=UTC)) == "orders-20261121T130500Z.csv"


def test_unknown_format_is_refused(admin_client):
    response = admin_client.get(_export_url(Order, "xml"))

    assert response.status_code == 400
    assert "use csv or json" in response.content.decode()


def test_export_needs_a_staff_login(client):
    response = client.get(_export_url(Order, "csv"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# ---------------------------------------------------------------------------------------------------
# Every table, the selection, and everything matching the filters
# ---------------------------------------------------------------------------------------------------
FACTORIES = {
    EngineEvent: EngineEventFactory,
    Signal: SignalFactory,
    Order: OrderFactory,
    Fill: FillFactory,
    BalanceSnapshot: BalanceSnapshotFactory,
    PnlDaily: PnlDailyFactory,
    ManualOrderRequest: ManualOrderRequestFactory,
    Candle: CandleFactory,
    BacktestRun: BacktestRunFactory,
    StrategyConfig: StrategyConfigFactory,
}


@pytest.mark.parametrize("model", [*FACTORIES, EngineState], ids=lambda m: m.__name__)
def test_every_table_exports_all_rows_as_csv_and_json(admin_client, model):
    if model in FACTORIES:
        FACTORIES[model].create_batch(3) if model is not StrategyConfig else [FACTORIES[model](strategy=s) for s in "abc"]
    expected = model.objects.count()

    rows = list(csv.reader(io.StringIO(_body(admin_client.get(_export_url(model, "csv"))))))
    items = json.loads(_body(admin_client.get(_export_url(model, "json"))))

    assert rows[0][0] == "id"
    assert len(rows) - 1 == expected == len(items)
    assert sorted(item["id"] for item in items) == sorted(model.objects.values_list("pk", flat=True))


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_selected_action_exports_only_the_selection(admin_client, fmt):
    picked = OrderFactory(identifier="ac-picked")
    OrderFactory(identifier="ac-left-out")

    response = admin_client.post(
        reverse("admin:trading_order_changelist"), {"action": f"export_selected_{fmt}", "_selected_action": [picked.pk]}
    )

    body = _body(response)
    assert "ac-picked" in body
    assert "ac-left-out" not in body
    assert f".{fmt}" in response["Content-Disposition"]


@pytest.mark.parametrize("model", list(FACTORIES), ids=lambda m: m.__name__)
def test_every_changelist_offers_the_export_actions(admin_client, model):
    page = admin_client.get(reverse(f"admin:trading_{model._meta.model_name}_changelist")).content.decode()

    assert 'value="export_selected_csv"' in page
    assert 'value="export_selected_json"' in page


def test_export_all_matching_respects_the_filters(admin_client):
    OrderFactory(identifier="ac-wait", status=Order.Status.WAIT, ts=datetime(2026, 6, 1, 3, tzinfo=UTC))
    OrderFactory(identifier="ac-done", status=Order.Status.DONE, ts=datetime(2026, 6, 1, 3, tzinfo=UTC))
    OrderFactory(identifier="ac-old-wait", status=Order.Status.WAIT, ts=datetime(2026, 1, 1, 3, tzinfo=UTC))

    by_status = _body(admin_client.get(_export_url(Order, "csv") + "?status__exact=WAIT"))
    by_status_and_date = json.loads(_body(admin_client.get(_export_url(Order, "json") + "?status__exact=WAIT&from=2026-05-01")))

    assert "ac-wait" in by_status
    assert "ac-old-wait" in by_status
    assert "ac-done" not in by_status
    assert [item["identifier"] for item in by_status_and_date] == ["ac-wait"]


def test_export_all_matching_follows_search_and_ordering(admin_client):
    OrderFactory(identifier="ac-a", ts=datetime(2026, 6, 1, tzinfo=UTC))
    OrderFactory(identifier="ac-b", ts=datetime(2026, 6, 2, tzinfo=UTC))

    newest_first = json.loads(_body(admin_client.get(_export_url(Order, "json"))))
    oldest_first = json.loads(_body(admin_client.get(_export_url(Order, "json") + "?o=1")))
    searched = json.loads(_body(admin_client.get(_export_url(Order, "json") + "?q=ac-b")))

    assert [item["identifier"] for item in newest_first] == ["ac-b", "ac-a"]
    assert [item["identifier"] for item in oldest_first] == ["ac-a", "ac-b"]
    assert [item["identifier"] for item in searched] == ["ac-b"]


def test_changelist_export_links_carry_the_current_filters(admin_client):
    page = admin_client.get(reverse("admin:trading_order_changelist") + "?status__exact=WAIT&from=2026-05-01").content.decode()

    assert _export_url(Order, "csv") + "?from=2026-05-01&amp;status__exact=WAIT" in page
    assert _export_url(Order, "json") + "?from=2026-05-01&amp;status__exact=WAIT" in page


def test_export_refuses_a_bad_date_rather_than_exporting_everything(admin_client):
    OrderFactory()

    response = admin_client.get(_export_url(Order, "csv") + "?from=yesterday")

    assert response.status_code == 400
    assert "from='yesterday' is not a date" in response.content.decode()


def test_export_of_unicode_and_quotes(admin_client):
    event = EngineEventFactory(message='매수 "신호", 줄바꿈\n다음 줄', meta={"note": "원화"})

    (_, row) = list(csv.reader(io.StringIO(_body(admin_client.get(_export_url(EngineEvent, "csv"))))))
    (item,) = json.loads(_body(admin_client.get(_export_url(EngineEvent, "json"))))

    assert row[6] == event.message
    assert item["message"] == event.message
    assert item["meta"] == {"note": "원화"}


# ---------------------------------------------------------------------------------------------------
# Decimal formatting: exact whatever way the database returns the value
# ---------------------------------------------------------------------------------------------------
def test_decimal_formatter_never_uses_exponents_and_keeps_the_scale():
    fmt = exports._decimal_formatter(8)

    assert fmt(Decimal("0E-8")) == "0.00000000"
    assert fmt(Decimal("1E-8")) == "0.00000001"
    assert fmt(5) == "5.00000000"
    assert fmt(-1200) == "-1200.00000000"
    assert fmt(9.073e-05) == "0.00009073"
    assert fmt(1e-08) == "0.00000001"
    assert fmt(123456789.12345) == "123456789.12345000"
    assert fmt("99950000.12345678") == "99950000.12345678"
    assert fmt("1E-8") == "0.00000001"


def test_decimal_formatter_recovers_every_decimal_sqlite_keeps_as_a_double():
    # SQLite turns a decimal text of at most 15 significant digits into a double; the export gives back
    # exactly the decimal that was stored.
    fmt = exports._decimal_formatter(8)
    rng = random.Random(7)
    for _ in range(20000):
        digits = rng.randint(1, 15)
        units = rng.randrange(10 ** (digits - 1), 10**digits) * rng.choice((1, -1))
        places = rng.randint(0, min(8, digits))
        original = Decimal(units).scaleb(-places)
        assert fmt(float(str(original))) == f"{original.quantize(Decimal('1e-8')):f}", original


# ---------------------------------------------------------------------------------------------------
# Constant memory
# ---------------------------------------------------------------------------------------------------
def test_export_streams_in_constant_memory(admin_client):
    seed_database(sizes=SeedSizes(events=30_000, orders=0, fills=0, snapshots=0, signals=0, pnl_days=0))

    def peak_mb(url: str) -> tuple[float, int]:
        tracemalloc.start()
        response = admin_client.get(url)
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        return peak, lines

    third = (timezone.localdate() - timedelta(days=121)).isoformat()
    part_peak, part_lines = peak_mb(_export_url(EngineEvent, "csv") + f"?from={third}")
    full_peak, full_lines = peak_mb(_export_url(EngineEvent, "csv"))

    assert full_lines == 30_001
    assert 8_000 < part_lines < 12_000
    # Three times the rows, about the same peak: one chunk of 2,000 rows is held at a time, not the export.
    assert full_peak < 1.5 * part_peak
    assert full_peak < 10.0
