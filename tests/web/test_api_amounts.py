"""Amounts sent as text follow docs/API.md exactly: ASCII digits, an optional point, optional thousands
commas. Anything Python's Decimal() would also read (signs, exponents, spaces, other digits) is refused
with the envelope and a message saying what is allowed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.web.test_api import envelope
from tests.web.test_api_hostile import MANUAL, post_raw
from trading.forms import amount_text_is_plain
from trading.models import ManualOrderRequest

pytestmark = pytest.mark.django_db

REFUSED = [
    "1E4",
    "1e4",
    "+5000",
    "-5000",
    "0x10",
    " 5000 ",
    "5000 ",
    "5000\n",
    "\t5000",
    "\uff15\uff10\uff10\uff10",  # full-width digits 5000
    "\u0665\u0660\u0660\u0660",  # Arabic-Indic digits 5000
    "5_000",
    "5,00",
    "50,0000",
    ",5000",
    "5000,",
    "5000.",
    ".5",
    "5.000.1",
    "5000.0.0",
    "Infinity",
    "NaN",
    "sNaN",
    "",
    "5 000",
    "5'000",
    "5000원",
]

ACCEPTED = [("5000", "5000"), ("10,000", "10000"), ("1,234,567", "1234567"), ("5000.5", "5000.5"), ("05000", "5000")]


@pytest.mark.parametrize("text", REFUSED)
def test_a_krw_amount_not_written_as_documented_is_refused(token_client, text):
    response = post_raw(token_client, MANUAL, json.dumps({"side": "buy", "krw": text}).encode())

    assert response.status_code == 400, response.content
    error = envelope(response)["error"]
    assert (error["code"], error["field"]) == ("invalid_field", "krw")
    assert "is not an amount; use the digits 0-9 with an optional decimal point and optional thousands commas" in error["message"]
    assert not ManualOrderRequest.objects.exists()


@pytest.mark.parametrize("text", ["1E-4", "+0.1", " 0.1", "\uff10.1", "0,1"])
def test_a_sell_volume_not_written_as_documented_is_refused_and_all_is_named(token_client, text):
    response = post_raw(token_client, MANUAL, json.dumps({"side": "sell", "volume": text}).encode())

    assert response.status_code == 400, response.content
    error = envelope(response)["error"]
    assert error["field"] == "volume"
    assert error["message"].endswith('(or "all" to sell everything)')
    assert not ManualOrderRequest.objects.exists()


@pytest.mark.parametrize(("text", "stored"), ACCEPTED)
def test_documented_amounts_are_queued(engine_running, token_client, settings, text, stored):
    settings.MAX_ORDER_KRW = Decimal("10000000")  # a buy above MAX_ORDER_KRW is refused at the queue
    response = post_raw(token_client, MANUAL, json.dumps({"side": "buy", "krw": text}).encode())

    assert response.status_code == 202, response.content
    assert ManualOrderRequest.objects.get().krw == Decimal(stored)


@pytest.mark.parametrize("text", ["all", "ALL"])
def test_selling_all_is_still_written_all(engine_running, token_client, text):
    response = post_raw(token_client, MANUAL, json.dumps({"side": "sell", "volume": text}).encode())

    assert response.status_code == 202, response.content
    assert ManualOrderRequest.objects.get().kind == ManualOrderRequest.Kind.SELL_ALL


def test_the_syntax_alone():
    assert all(not amount_text_is_plain(text) for text in REFUSED)
    assert all(amount_text_is_plain(text) for text, _ in ACCEPTED)
