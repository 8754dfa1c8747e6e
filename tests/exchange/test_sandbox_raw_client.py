"""A client written from Upbit's documentation alone (requests + PyJWT, nothing of ours) against the sandbox.

It signs the way the docs' Python samples do: `unquote(urlencode(params, doseq=True))` hashed with
SHA-512, the JWT signed HS256 (the per-endpoint samples) or HS512 (the auth guide), POST bodies sent
as JSON — here with JSON numbers as well as strings, which a hand-written client easily sends.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlencode

import jwt
import pytest
import requests

KST = timezone(timedelta(hours=9))
FIXED = datetime(2026, 3, 10, 5, 30, 20, tzinfo=UTC)


class DocsClient:
    """Upbit's documented request recipe, spelled out."""

    def __init__(self, base_url: str, access_key: str, secret_key: str, *, algorithm: str = "HS512") -> None:
        self.base_url = base_url
        self.access_key = access_key
        self.secret_key = secret_key
        self.algorithm = algorithm

    def headers(self, params: Any = None) -> dict[str, str]:
        payload = {"access_key": self.access_key, "nonce": str(uuid.uuid4())}
        if params:
            query_string = unquote(urlencode(params, doseq=True)).encode("utf-8")
            payload["query_hash"] = hashlib.sha512(query_string).hexdigest()
            payload["query_hash_alg"] = "SHA512"
        return {"Authorization": f"Bearer {jwt.encode(payload, self.secret_key, algorithm=self.algorithm)}"}

    def get(self, path: str, params: Any = None) -> requests.Response:
        return requests.get(self.base_url + path, params=params, headers=self.headers(params), timeout=10)

    def delete(self, path: str, params: Any) -> requests.Response:
        return requests.delete(self.base_url + path, params=params, headers=self.headers(params), timeout=10)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(self.base_url + path, json=body, headers=self.headers(body), timeout=10)


@pytest.fixture
def box(sandbox):
    sandbox.set_price("100000000")
    return sandbox


def _client(box, algorithm: str = "HS512") -> DocsClient:
    return DocsClient(box.base_url, box.access_key, box.secret_key, algorithm=algorithm)


def _ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["Remaining-Req"].startswith("group=")
    return json.loads(response.text, parse_float=Decimal)


@pytest.mark.parametrize("algorithm", ["HS256", "HS512"])
def test_both_documented_signatures_work_for_reads_and_orders(box, algorithm):
    client = _client(box, algorithm)

    accounts = _ok(client.get("/v1/accounts"))
    chance = _ok(client.get("/v1/orders/chance", {"market": "KRW-BTC"}))
    order = _ok(client.post("/v1/orders", {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "10000"}), 201)

    assert accounts[0] == {
        "currency": "KRW",
        "balance": "1000000",
        "locked": "0",
        "avg_buy_price": "0",
        "avg_buy_price_modified": False,
        "unit_currency": "KRW",
    }
    assert chance["market"]["bid"] == {"currency": "KRW", "min_total": "5000"}
    assert order["ord_type"] == "price"
    assert Decimal(order["executed_volume"]) > 0


def test_json_numbers_in_the_body_are_accepted_however_python_writes_them(box):
    client = _client(box)
    bought = _ok(client.post("/v1/orders", {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": 20000}), 201)
    # str(0.00005) is "5e-05": the client hashes that text and json.dumps writes the same literal.
    sold = _ok(client.post("/v1/orders", {"market": "KRW-BTC", "side": "ask", "ord_type": "market", "volume": 0.00005}), 201)
    limit = _ok(
        client.post(
            "/v1/orders",
            {"market": "KRW-BTC", "side": "bid", "ord_type": "limit", "volume": 0.0001, "price": 90000000.0, "identifier": "d-1"},
        ),
        201,
    )

    assert bought["price"] == "20000"
    assert sold["volume"] == "0.00005"
    assert sold["state"] == "done"
    assert (limit["price"], limit["volume"], limit["state"]) == ("90000000", "0.0001", "wait")


def test_a_body_hash_over_other_values_is_refused(box):
    client = _client(box)
    body = {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": 10000}
    response = requests.post(box.base_url + "/v1/orders", json=body, headers=client.headers({**body, "price": 20000}), timeout=10)

    assert response.status_code == 401
    assert response.json()["error"]["name"] == "invalid_query_payload"
    assert box.state()["orders"] == []


def test_array_parameters_as_pairs_or_as_lists(box):
    client = _client(box)
    for number in (1, 2):
        _ok(
            client.post(
                "/v1/orders",
                {
                    "market": "KRW-BTC",
                    "side": "bid",
                    "ord_type": "limit",
                    "volume": "0.0001",
                    "price": "90000000",
                    "identifier": f"a-{number}",
                },
            ),
            201,
        )
    _ok(client.delete("/v1/order", {"identifier": "a-2"}))

    open_orders = _ok(client.get("/v1/orders/open", [("market", "KRW-BTC"), ("states[]", "wait"), ("states[]", "watch")]))
    closed = _ok(client.get("/v1/orders/closed", {"market": "KRW-BTC", "states[]": ["done", "cancel"]}))
    by_identifier = _ok(client.get("/v1/orders/uuids", {"identifiers[]": ["a-1", "a-2", "never-used"]}))

    assert [o["identifier"] for o in open_orders] == ["a-1"]
    assert [(o["identifier"], o["state"]) for o in closed] == [("a-2", "cancel")]
    assert sorted(o["identifier"] for o in by_identifier) == ["a-1", "a-2"]


def test_closed_orders_window_as_kst_iso_times_or_milliseconds(box):
    client = _client(box)
    _ok(
        client.post(
            "/v1/orders", {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "10000", "identifier": "w-1"}
        ),
        201,
    )
    now = datetime.now(KST)
    hour_ago = now - timedelta(hours=1)

    # requests percent-encodes the "+" of +09:00; the hash is over the decoded text, as the docs say.
    iso = _ok(
        client.get("/v1/orders/closed", {"start_time": hour_ago.isoformat(timespec="seconds"), "end_time": now.isoformat()})
    )
    millis = _ok(client.get("/v1/orders/closed", {"start_time": int(hour_ago.timestamp() * 1000)}))
    earlier = _ok(client.get("/v1/orders/closed", {"end_time": hour_ago.isoformat(timespec="seconds")}))
    too_wide = client.get("/v1/orders/closed", {"start_time": (now - timedelta(days=8)).isoformat(), "end_time": now.isoformat()})

    assert [o["identifier"] for o in iso] == ["w-1"]
    assert [o["identifier"] for o in millis] == ["w-1"]
    assert earlier == []
    assert too_wide.status_code == 400
    assert too_wide.json()["error"]["name"] == "validation_error"


def test_candle_to_in_kst_must_be_url_encoded(sandbox_factory):
    fixed = sandbox_factory(clock=lambda: FIXED)
    to = FIXED.astimezone(KST).replace(minute=0, second=0).isoformat()  # 2026-03-10T14:00:00+09:00

    encoded = _ok(
        requests.get(fixed.base_url + "/v1/candles/minutes/60", params={"market": "KRW-BTC", "count": 2, "to": to}, timeout=10)
    )
    raw = requests.get(f"{fixed.base_url}/v1/candles/minutes/60?market=KRW-BTC&count=2&to={to}", timeout=10)

    assert [c["candle_date_time_kst"] for c in encoded] == ["2026-03-10T13:00:00", "2026-03-10T12:00:00"]
    # Unencoded, "+09:00" arrives as " 09:00": Upbit answers 400 with an integer error name.
    assert raw.status_code == 400
    assert raw.json()["error"]["name"] == 400


def test_cancel_by_identifier_in_the_query_string_answers_the_wait_snapshot(box):
    client = _client(box)
    _ok(
        client.post(
            "/v1/orders",
            {
                "market": "KRW-BTC",
                "side": "bid",
                "ord_type": "limit",
                "volume": "0.0001",
                "price": "90000000",
                "identifier": "c-1",
            },
        ),
        201,
    )

    snapshot = _ok(client.delete("/v1/order", {"identifier": "c-1"}))
    after = _ok(client.get("/v1/order", {"identifier": "c-1"}))
    again = client.delete("/v1/order", {"identifier": "c-1"})

    assert snapshot["state"] == "wait"
    assert after["state"] == "cancel"
    assert after["trades"] == []
    assert again.status_code == 404
    assert again.json()["error"]["name"] == "order_not_found"
    assert _ok(client.get("/v1/accounts"))[0]["balance"] == "1000000"
