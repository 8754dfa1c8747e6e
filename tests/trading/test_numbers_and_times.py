"""Numbers and times read the same on every page and in every language: KRW with separators and no trailing zeros,
coin volumes with all 8 decimals, 24-hour Seoul times with seconds; CSV exports for Excel on request."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import formats, timezone, translation

from tests.factories import FillFactory, OrderFactory, PnlDailyFactory
from trading import exports
from trading.admin.console import money
from trading.formatting import krw_text, local_time_text, number_text, price_text, volume_text
from trading.models import Fill, Order, PnlDaily

pytestmark = pytest.mark.django_db

EVENING_UTC = datetime(2026, 11, 21, 12, 5, 6, tzinfo=UTC)  # 21:05:06 in Seoul: a 12-hour clock would say 9:05 p.m.
EVENING_SEOUL = "2026-11-21 21:05:06"


@pytest.fixture(autouse=True)
def _seoul(settings):
    settings.TIME_ZONE = "Asia/Seoul"


def _page(client, url: str, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _rows() -> tuple[Order, Fill, PnlDaily]:
    order = OrderFactory(
        ts=EVENING_UTC,
        price=Decimal("10000.00000000"),
        executed_volume=Decimal("0.00100000"),
        executed_funds=Decimal("10000.00000000"),
        paid_fee=Decimal("5.00000000"),
    )
    fill = FillFactory(
        order=order, ts=EVENING_UTC, price=Decimal("10000000.00000000"), volume=Decimal("0.001"), funds=Decimal("10000")
    )
    pnl = PnlDailyFactory(realized=Decimal("-9.49493827"), unrealized=Decimal("1234567.50000000"), fees=Decimal("5.0025"))
    return order, fill, pnl


# ---------------------------------------------------------------------------------------------------
# The formatting rules
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("10000.00000000"), "10,000"),
        (Decimal("-9.49493827"), "-9.49"),
        (Decimal("-9.495"), "-9.5"),  # half-up, as people round
        (Decimal("1234567.50000000"), "1,234,567.5"),
        (Decimal("-0.001"), "0"),  # never "-0"
        (Decimal("0E-8"), "0"),
        ("12345", "12,345"),
        (None, "—"),
        ("not a number", "—"),
    ],
)
def test_krw_amounts_have_separators_at_most_two_decimals_and_no_trailing_zeros(value, shown):
    assert krw_text(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(Decimal("0.001"), "0.00100000"), (Decimal("1.5"), "1.50000000"), (Decimal("1234.000000004"), "1,234.00000000")],
)
def test_coin_volumes_keep_all_eight_decimals(value, shown):
    assert volume_text(value) == shown


def test_prices_and_fees_keep_their_digits_without_trailing_zeros():
    assert price_text(Decimal("150000000.00000000")) == "150,000,000"
    assert price_text(Decimal("0.01230000")) == "0.0123"
    assert number_text("paid_fee", Decimal("5.00250000")) == "5.0025"
    assert number_text("order__price", Decimal("10000.00000000")) == "10,000"
    assert number_text("coin_volume", Decimal("0.001")) == "0.00100000"
    assert number_text("realized", Decimal("-9.49493827")) == "-9.49"
    assert money(Decimal("0.00000001")) == "0.00000001"


def test_times_are_24_hour_seoul_with_seconds():
    assert local_time_text(EVENING_UTC) == EVENING_SEOUL
    assert local_time_text(None) == "—"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_django_formats_give_24_hour_times_with_seconds_in_both_languages(language):
    with translation.override(language):
        shown = formats.date_format(timezone.localtime(EVENING_UTC), "DATETIME_FORMAT")
        short = formats.date_format(timezone.localtime(EVENING_UTC), "SHORT_DATETIME_FORMAT")

    assert shown == short == EVENING_SEOUL


# ---------------------------------------------------------------------------------------------------
# The admin: lists and read-only row pages
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["en", "ko"])
def test_order_fill_and_pnl_lists_show_formatted_money_volumes_and_seoul_times(admin_client, language):
    _rows()

    orders = _page(admin_client, reverse("admin:trading_order_changelist"), language)
    fills = _page(admin_client, reverse("admin:trading_fill_changelist"), language)
    pnl = _page(admin_client, reverse("admin:trading_pnldaily_changelist"), language)

    for page in (orders, fills, pnl):
        assert "10000.00000000" not in page
        assert "9.49493827" not in page
    assert ">10,000<" in orders
    assert ">0.00100000<" in orders  # executed volume
    assert ">5<" in orders  # the fee, exact
    assert EVENING_SEOUL in orders
    assert ">10,000,000<" in fills
    assert ">0.00100000<" in fills
    assert EVENING_SEOUL in fills
    assert ">-9.49<" in pnl
    assert ">1,234,567.5<" in pnl
    assert ">5.0025<" in pnl  # fees keep their digits


@pytest.mark.parametrize("language", ["en", "ko"])
def test_read_only_row_pages_show_formatted_money_volumes_and_seoul_times(admin_client, language):
    order, fill, pnl = _rows()

    order_page = _page(admin_client, reverse("admin:trading_order_change", args=[order.pk]), language)
    fill_page = _page(admin_client, reverse("admin:trading_fill_change", args=[fill.pk]), language)
    pnl_page = _page(admin_client, reverse("admin:trading_pnldaily_change", args=[pnl.pk]), language)

    for page in (order_page, fill_page, pnl_page):
        assert "00000000<" not in page  # no stored scale shown raw
        assert "p.m." not in page
        assert "오후" not in page
    assert ">10,000<" in order_page
    assert ">0.00100000<" in order_page
    assert EVENING_SEOUL in order_page
    assert ">10,000,000<" in fill_page
    assert EVENING_SEOUL in fill_page
    assert ">-9.49<" in pnl_page


def test_paper_ledger_lists_are_formatted_too(admin_client):
    from exchange.models import PaperOrder

    PaperOrder.objects.create(
        uuid="u-1", market="KRW-BTC", side="buy", ord_type="price", price=Decimal("10000"), created_at=EVENING_UTC
    )

    page = _page(admin_client, reverse("admin:exchange_paperorder_changelist"), "ko")

    assert ">10,000<" in page
    assert EVENING_SEOUL in page
    assert "10000.00000000" not in page


# ---------------------------------------------------------------------------------------------------
# CSV exports for Excel
# ---------------------------------------------------------------------------------------------------
def _export(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode("utf-8")


def test_the_default_csv_is_unchanged_no_bom_utc_iso_times_and_stored_decimals(admin_client):
    _rows()

    body = _export(admin_client, reverse("admin:trading_order_export", args=["csv"]))

    assert not body.startswith("\ufeff")
    row = next(csv.DictReader(io.StringIO(body)))
    assert row["ts"] == "2026-11-21T12:05:06+00:00"
    assert row["executed_funds"] == "10000.00000000"


def test_the_excel_csv_has_a_bom_seoul_times_and_numbers_as_shown(admin_client):
    _rows()

    body = _export(admin_client, reverse("admin:trading_order_export", args=["csv"]) + "?bom=1&tz=local&numbers=display")

    assert body.startswith("\ufeff")
    row = next(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert row["ts (Asia/Seoul)"] == EVENING_SEOUL
    assert row["executed_funds"] == "10,000"
    assert row["executed_volume"] == "0.00100000"
    assert row["paid_fee"] == "5"


def test_each_csv_option_works_alone_and_is_not_taken_for_a_filter(admin_client):
    _rows()
    url = reverse("admin:trading_pnldaily_export", args=["csv"])

    bom_only = _export(admin_client, url + "?bom=1")
    numbers_only = _export(admin_client, url + "?numbers=display")

    assert bom_only.startswith("\ufeff")
    assert "-9.49493827" in bom_only  # numbers as stored
    assert not numbers_only.startswith("\ufeff")
    assert "-9.49" in numbers_only
    assert "-9.49493827" not in numbers_only


def test_the_excel_options_keep_the_lists_filters(admin_client):
    _rows()
    OrderFactory(ts=EVENING_UTC, side="sell", ord_type=Order.OrdType.MARKET, price=None, volume=Decimal("0.001"))
    url = reverse("admin:trading_order_export", args=["csv"]) + "?side__exact=sell&bom=1&tz=local"

    rows = list(csv.DictReader(io.StringIO(_export(admin_client, url).removeprefix("\ufeff"))))

    assert [row["side"] for row in rows] == ["sell"]


def test_the_excel_action_exports_the_selection_with_a_bom_and_seoul_times(admin_client):
    order, _, _ = _rows()

    response = admin_client.post(
        reverse("admin:trading_order_changelist"), {"action": "export_selected_excel", "_selected_action": [order.pk]}
    )
    body = b"".join(response.streaming_content).decode("utf-8")

    assert body.startswith("\ufeff")
    assert EVENING_SEOUL in body
    assert "10,000" in body


def test_the_list_offers_the_excel_export_with_its_filters(admin_client):
    page = _page(admin_client, reverse("admin:trading_order_changelist") + "?side__exact=buy", "ko")

    assert "bom=1&amp;tz=local&amp;numbers=display" in page
    assert "Excel용 CSV" in page


def test_csv_options_from_a_query():
    assert exports.CsvOptions.from_query({}) == exports.MACHINE
    assert exports.CsvOptions.from_query({"bom": "1", "tz": "local", "numbers": "display"}) == exports.EXCEL
    assert exports.CsvOptions.from_query({"bom": "0", "tz": "utc", "numbers": "raw"}) == exports.MACHINE
