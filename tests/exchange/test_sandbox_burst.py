"""The sandbox under a burst: 500 requests from 8 threads, quotation and exchange calls mixed.

The rate limiter's clock is frozen inside one window, so the outcome is exact whatever the machine's
speed: each group lets exactly its quota through and answers the rest 429, every answer carries a
well-formed Remaining-Req, nothing is double-counted across threads, nothing deadlocks, and the
account afterwards matches the orders that were let through.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlencode

import jwt
import pytest
import requests

from exchange.sandbox.ratelimit import GROUP_LIMITS, RateLimiter

REMAINING_REQ = re.compile(r"^group=(?P<group>[a-z\-]+); min=(?P<min>[0-9]+); sec=(?P<sec>[0-9]+)$")
THREADS = 8
TOTAL = 500

# (group, method, path, params or body, signed)
CALLS: list[tuple[str, str, str, dict[str, Any] | None, bool]] = [
    ("ticker", "GET", "/v1/ticker", {"markets": "KRW-BTC"}, False),
    ("orderbook", "GET", "/v1/orderbook", {"markets": "KRW-BTC"}, False),
    ("candle", "GET", "/v1/candles/minutes/1", {"market": "KRW-BTC", "count": "5"}, False),
    ("trade", "GET", "/v1/trades/ticks", {"market": "KRW-BTC", "count": "3"}, False),
    ("market", "GET", "/v1/market/all", None, False),
    ("default", "GET", "/v1/accounts", None, True),
    ("default", "GET", "/v1/orders/chance", {"market": "KRW-BTC"}, True),
    ("default", "GET", "/v1/orders/open", {"market": "KRW-BTC"}, True),
    ("default", "GET", "/v1/order", {"uuid": "00000000-0000-0000-0000-000000000000"}, True),
    ("order", "POST", "/v1/orders", {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "10000"}, True),
    ("order-test", "POST", "/v1/orders/test", {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "10000"}, True),
    ("order-cancel-all", "DELETE", "/v1/orders/open", {"cancel_side": "all"}, True),
]


def _signed_headers(sandbox, hashed: str) -> dict[str, str]:
    payload: dict[str, str] = {"access_key": sandbox.access_key, "nonce": str(uuid.uuid4())}
    if hashed:
        payload["query_hash"] = hashlib.sha512(hashed.encode("utf-8")).hexdigest()
        payload["query_hash_alg"] = "SHA512"
    return {"Authorization": f"Bearer {jwt.encode(payload, sandbox.secret_key, algorithm='HS256')}"}


def _send(session: requests.Session, sandbox, call) -> dict[str, Any]:
    group, method, path, data, signed = call
    url = sandbox.base_url + path
    if method == "POST":
        headers = _signed_headers(sandbox, "&".join(f"{k}={v}" for k, v in data.items()))
        response = session.post(url, json=data, headers=headers, timeout=10)
    else:
        headers = _signed_headers(sandbox, unquote(urlencode(data)) if data else "") if signed else {}
        response = session.request(method, url, params=data, headers=headers, timeout=10)
    return {
        "group": group,
        "path": path,
        "status": response.status_code,
        "remaining": response.headers.get("Remaining-Req"),
        "type": response.headers.get("Content-Type", ""),
        "text": response.text,
    }


def _burst(sandbox) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    plan = [CALLS[n % len(CALLS)] for n in range(TOTAL)]

    def worker(index: int) -> None:
        session = requests.Session()
        try:
            for call in plan[index::THREADS]:
                answer = _send(session, sandbox, call)
                with lock:
                    results.append(answer)
        except BaseException as error:  # noqa: BLE001 - collected and asserted by the test
            failures.append(error)
        finally:
            session.close()

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "the burst did not finish: a request hung"
    assert failures == []
    assert len(results) == TOTAL
    return results


@pytest.fixture
def frozen(sandbox):
    """A sandbox whose rate-limit clock stands still until `frozen.tick()` moves it one window on."""
    moment = [1000.25]
    sandbox.server.limiter = RateLimiter(monotonic=lambda: moment[0])
    sandbox.set_price("100000000")  # the control endpoint is not rate limited

    def tick(seconds: float = 2.0) -> None:
        moment[0] += seconds

    sandbox.tick = tick
    return sandbox


def test_500_mixed_requests_from_8_threads_get_exactly_each_quota_and_clean_429s(frozen):
    results = _burst(frozen)

    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for answer in results:
        by_group[answer["group"]].append(answer)
    assert not [a for a in results if a["status"] >= 500]
    for group, answers in by_group.items():
        limit = int(GROUP_LIMITS[group]) if GROUP_LIMITS[group] >= 1 else 1
        served = [a for a in answers if a["status"] != 429]
        refused = [a for a in answers if a["status"] == 429]
        assert len(served) == min(limit, len(answers)), group
        # Each admitted call saw its own place in the window: no two threads were counted as one.
        assert sorted(int(REMAINING_REQ.match(a["remaining"])["sec"]) for a in served) == list(range(limit))[: len(served)]
        for answer in answers:
            header = REMAINING_REQ.match(answer["remaining"] or "")
            assert header is not None, answer
            assert header["group"] == group
        for answer in refused:
            assert answer["text"] == "Too many API requests."
            assert answer["type"].startswith("text/plain")
            assert REMAINING_REQ.match(answer["remaining"])["sec"] == "0"

    statuses = Counter((a["path"], a["status"]) for a in results if a["status"] != 429)
    assert statuses[("/v1/orders", 201)] == GROUP_LIMITS["order"]
    assert statuses[("/v1/orders/test", 201)] == GROUP_LIMITS["order-test"]
    assert statuses[("/v1/orders/open", 200)] >= 1
    assert sum(count for (path, status), count in statuses.items() if status >= 400) == statuses[("/v1/order", 404)]


def test_after_the_burst_the_account_matches_the_orders_let_through_and_quotas_refill(frozen):
    results = _burst(frozen)
    placed = [json.loads(a["text"]) for a in results if a["path"] == "/v1/orders" and a["status"] == 201]

    state = frozen.state()
    orders = {order["uuid"]: order for order in state["orders"]}
    spent = sum(Decimal(order["executed_funds"]) + Decimal(order["paid_fee"]) for order in orders.values())
    bought = sum(Decimal(order["executed_volume"]) for order in orders.values())
    assert sorted(orders) == sorted(order["uuid"] for order in placed)
    assert all(order["state"] == "cancel" and Decimal(order["executed_volume"]) > 0 for order in orders.values())
    assert Decimal(state["balances"]["KRW"]["balance"]) == Decimal("1000000") - spent
    assert Decimal(state["balances"]["KRW"]["locked"]) == 0
    assert Decimal(state["balances"]["BTC"]["balance"]) == bought

    frozen.tick()
    session = requests.Session()
    again = [_send(session, frozen, call) for call in CALLS]
    assert [a["status"] for a in again] == [200, 200, 200, 200, 200, 200, 200, 200, 404, 201, 201, 200]
