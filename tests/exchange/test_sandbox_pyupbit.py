"""The public pyupbit 0.2.34 client, unchanged, works against the sandbox.

pyupbit hard-codes https://api.upbit.com in every function and calls `requests` through its
`pyupbit.request_api` module; the only change here is a stand-in for that module's `requests`
that swaps the host for the sandbox's before calling the real `requests`. Everything else (its JWT,
its query_hash form, GET parameters in a form body, Remaining-Req parsing) is pyupbit's own.
"""

from __future__ import annotations

import importlib.metadata
from datetime import timedelta

import pytest
import requests

pyupbit = pytest.importorskip("pyupbit")
request_api = pytest.importorskip("pyupbit.request_api")

UPBIT = "https://api.upbit.com"


class _Redirect:
    """`requests` with api.upbit.com replaced by the sandbox's address."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def _url(self, url: str) -> str:
        assert url.startswith(UPBIT), url
        return self.base_url + url[len(UPBIT) :]

    def get(self, url, **kwargs):
        return requests.get(self._url(url), timeout=10, **kwargs)

    def post(self, url, **kwargs):
        return requests.post(self._url(url), timeout=10, **kwargs)

    def delete(self, url, **kwargs):
        return requests.delete(self._url(url), timeout=10, **kwargs)


@pytest.fixture
def upbit(sandbox, monkeypatch):
    # The package's own __version__ string still says 0.2.33; the distribution is 0.2.34.
    assert importlib.metadata.version("pyupbit") == "0.2.34"
    monkeypatch.setattr(request_api, "requests", _Redirect(sandbox.base_url))
    sandbox.set_price("100000000")
    return pyupbit.Upbit(sandbox.access_key, sandbox.secret_key)


def test_balances(upbit, sandbox):
    balances = upbit.get_balances()

    assert balances == [
        {
            "currency": "KRW",
            "balance": "1000000",
            "locked": "0",
            "avg_buy_price": "0",
            "avg_buy_price_modified": False,
            "unit_currency": "KRW",
        }
    ]
    assert upbit.get_balance("KRW") == 1000000.0


def test_current_price_and_tickers(upbit):
    assert pyupbit.get_current_price("KRW-BTC") == 100000000.0
    assert pyupbit.get_tickers(fiat="KRW") == ["KRW-BTC"]


def test_ohlcv_pages_back_with_to_and_returns_consecutive_minutes(upbit):
    frame = pyupbit.get_ohlcv("KRW-BTC", interval="minute1", count=350)

    assert frame is not None
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "value"]
    assert len(frame) == 350
    steps = frame.index.to_series().diff().dropna()
    assert (steps == timedelta(minutes=1)).all()
    assert (frame["low"] <= frame["close"]).all()
    assert (frame["close"] <= frame["high"]).all()


def test_daily_ohlcv_is_indexed_at_0900_kst(upbit):
    frame = pyupbit.get_ohlcv("KRW-BTC", interval="day", count=5)

    assert frame is not None
    assert len(frame) == 5
    assert {ts.hour for ts in frame.index} == {9}


def test_market_buy_then_get_order_then_market_sell(upbit, sandbox):
    bought = upbit.buy_market_order("KRW-BTC", 10000)
    assert bought is not None, bought
    assert "uuid" in bought, bought

    order = upbit.get_order(bought["uuid"])
    assert order["state"] == "cancel"  # a market buy leaves dust and ends cancel, like Upbit
    assert order["trades"]
    assert order["trades"][0]["side"] == "bid"

    volume = upbit.get_balance("KRW-BTC")
    assert volume == float(order["executed_volume"])

    sold = upbit.sell_market_order("KRW-BTC", order["executed_volume"])
    assert sold is not None, sold
    assert sold["state"] == "done", sold
    assert upbit.get_balance("KRW-BTC") == 0


def test_limit_order_shows_in_pyupbits_order_list(upbit):
    placed = upbit.buy_limit_order("KRW-BTC", 90000000, 0.001)
    assert placed is not None, placed
    assert placed["state"] == "wait", placed

    listed = upbit.get_order("KRW-BTC")  # the legacy GET /v1/orders

    assert [o["uuid"] for o in listed] == [placed["uuid"]]
    assert upbit.get_balance("KRW") == 1000000.0 - 90045.0
    assert upbit.get_chance("KRW-BTC")["bid_account"]["locked"] == "90045"


def test_pyupbit_cancel_sends_a_body_and_is_refused_like_upbit_documents(upbit):
    placed = upbit.buy_limit_order("KRW-BTC", 90000000, 0.001)

    answer = upbit.cancel_order(placed["uuid"])

    # Upbit's DELETE /v1/order takes query parameters only; pyupbit sends JSON, so nothing is cancelled.
    assert answer["error"]["name"] == "QUERY_PARAMETER_NOT_SUPPORTED"
    assert upbit.get_order(placed["uuid"])["state"] == "wait"
