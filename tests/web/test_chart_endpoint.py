"""GET /chart/candles: who may read it, what bad parameters get, and what the page's script receives."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.chart_data import epoch, price_path, store
from tests.factories import UserFactory
from trading.chart_selectors import chart_cache_clear

pytestmark = pytest.mark.django_db
URL = "/chart/candles"


@pytest.fixture(autouse=True)
def _chart_settings(settings):
    settings.TRADING_MARKET = "KRW-BTC"
    settings.STRATEGY = "macd"
    settings.UPBIT_API_BASE = "https://api.upbit.com"
    chart_cache_clear()


def test_a_viewer_reads_the_newest_page_as_json():
    candles = price_path(1200)
    store(candles)
    client = Client()
    client.force_login(UserFactory(groups=["Viewers"]))

    response = client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["candles"]["time"][-1] == epoch(candles[-1].start)
    assert len(body["candles"]["time"]) == 1000
    assert body["has_more"] is True


def test_paging_with_before_and_limit(session_client):
    candles = price_path(300)
    store(candles)
    body = session_client.get(URL, {"before": epoch(candles[100].start), "limit": "50"}).json()
    assert body["candles"]["time"] == [epoch(c.start) for c in candles[50:100]]


def test_staff_without_the_permission_is_refused():
    client = Client()
    client.force_login(UserFactory(groups=[]))
    response = client.get(URL)
    assert response.status_code == 403
    assert response["X-Missing-Permission"] == "trading.view_dashboard"


def test_anonymous_is_sent_to_log_in():
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"before": "yesterday"}, "before", "whole number"),
        ({"before": "-5"}, "before", "whole number"),
        ({"after": "1.5"}, "after", "whole number"),
        ({"limit": "0"}, "limit", "between 1 and 1000"),
        ({"limit": "5000"}, "limit", "between 1 and 1000"),
        ({"before": "99999999999999"}, "before", "between 0 and"),
        ({"before": "100", "after": "50"}, "after", "not both"),
        ({"unit": "7"}, "unit", "unknown parameter 'unit'; accepted: before, after, limit"),
        ({"market": "KRW-ETH"}, "market", "unknown parameter 'market'"),
    ],
)
def test_bad_parameters_get_400_naming_the_parameter(session_client, query, field, words):
    response = session_client.get(URL, query)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert words in body["error"]


def test_bad_parameter_message_in_korean(session_client):
    response = session_client.get(URL, {"limit": "0"}, headers={"Accept-Language": "ko"})
    assert response.status_code == 400
    assert response.json()["error"] == "limit 값은 1 이상 1000 이하여야 합니다 (받은 값: 0)"


def test_only_reads_are_allowed(session_client):
    assert session_client.post(URL).status_code == 405
