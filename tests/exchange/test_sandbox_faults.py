"""Injected faults behave as documented: fail, stall, drop after accepting, reject keys, reset; control
calls are refused with a clear message when malformed; `runsandbox` arms faults from flags."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.sandbox_fixtures import runsandbox_process
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
BUY = {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "10000"}


def test_fail_next_answers_the_given_error_then_recovers(sandbox):
    sandbox.fail_next("/v1/accounts", status=503, name="server_busy", message="try later", count=2)

    first = sandbox.call("GET", "/v1/accounts")
    second = sandbox.call("GET", "/v1/accounts")
    third = sandbox.call("GET", "/v1/accounts")

    assert (first.status_code, first.json()) == (503, {"error": {"name": "server_busy", "message": "try later"}})
    assert second.status_code == 503
    assert third.status_code == 200
    assert "Remaining-Req" in first.headers


def test_fail_next_matches_the_method_and_places_nothing(sandbox):
    sandbox.fail_next("/v1/orders", method="POST", status=500)

    listed = sandbox.call("GET", "/v1/orders", params={"market": "KRW-BTC"})
    failed = sandbox.call("POST", "/v1/orders", body=BUY)
    placed = sandbox.call("POST", "/v1/orders", body=BUY)

    assert listed.status_code == 200
    assert failed.status_code == 500
    assert placed.status_code == 201
    assert len(sandbox.state()["orders"]) == 1


def test_fail_with_a_plain_text_body(sandbox):
    sandbox.fail_next("/v1/ticker", status=429, body="Too many API requests.")

    response = sandbox.public("/v1/ticker", markets="KRW-BTC")

    assert response.status_code == 429
    assert response.text == "Too many API requests."


def test_stall_holds_the_answer_past_a_client_timeout(sandbox):
    # Far longer than the client's timeout: only a call that waited out the stall can take this long, however
    # busy the machine is.
    stall = 10
    sandbox.stall("/v1/ticker", seconds=stall)

    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{sandbox.base_url}/v1/ticker", params={"markets": "KRW-BTC"}, timeout=0.5)
    assert time.monotonic() - started < stall  # the client gave up; it did not wait for the answer
    assert sandbox.state()["faults"] == []  # one call took the stall...

    started = time.monotonic()
    assert sandbox.public("/v1/ticker", markets="KRW-BTC").status_code == 200
    assert time.monotonic() - started < stall  # ...and the next is answered without it


def test_stalled_order_is_placed_after_the_client_gave_up(sandbox):
    sandbox.stall("/v1/orders", method="POST", seconds=1.0)

    with pytest.raises(requests.ReadTimeout):
        sandbox.call("POST", "/v1/orders", body={**BUY, "identifier": "slow-1"}, timeout=0.3)

    found = wait_until(
        lambda: (answer := sandbox.call("GET", "/v1/order", params={"identifier": "slow-1"})).status_code == 200 and answer,
        timeout=5,
        message="the stalled order never appeared",
    )
    assert found.json()["identifier"] == "slow-1"


def test_drop_after_accept_places_the_order_but_never_answers(sandbox):
    sandbox.drop_after_accept("/v1/orders")

    with pytest.raises(requests.ConnectionError):
        sandbox.call("POST", "/v1/orders", body={**BUY, "identifier": "dropped-1"})

    found = sandbox.call("GET", "/v1/order", params={"identifier": "dropped-1"})
    assert found.status_code == 200
    assert found.json()["state"] in ("done", "cancel")
    again = sandbox.call("POST", "/v1/orders", body={**BUY, "identifier": "dropped-1"})
    assert again.json()["error"]["name"] == "duplicated_identifier"


def test_reject_keys_until_cleared(sandbox):
    sandbox.reject_keys()
    refused = sandbox.call("GET", "/v1/accounts")
    quotation = sandbox.public("/v1/ticker", markets="KRW-BTC")
    sandbox.reject_keys(False)
    accepted = sandbox.call("GET", "/v1/accounts")

    assert (refused.status_code, refused.json()["error"]["name"]) == (401, "invalid_access_key")
    assert quotation.status_code == 200
    assert accepted.status_code == 200


def test_reset_faults_clears_everything(sandbox):
    sandbox.fail_next("/v1/accounts", count=5)
    sandbox.reject_keys()

    assert len(sandbox.state()["faults"]) == 1
    sandbox.reset_faults()

    assert sandbox.call("GET", "/v1/accounts").status_code == 200
    assert sandbox.state()["faults"] == []


def test_state_shows_balances_orders_and_prices(sandbox):
    sandbox.set_price("120000000")
    sandbox.call("POST", "/v1/orders", body=BUY)

    state = sandbox.state()

    assert state["prices"] == {"KRW-BTC": "120000000"}
    assert state["balances"]["BTC"]["balance"] != "0"
    assert state["orders"][0]["trades"]


@pytest.mark.parametrize(
    ("action", "payload", "message"),
    [
        ("fail", {"path": "v1/orders"}, "must start with /"),
        ("fail", {"path": "/v1/orders", "status": 200}, "error status"),
        ("stall", {"path": "/v1/orders"}, "not a number"),
        ("fail", {"path": "/v1/orders", "method": "FETCH"}, "not an HTTP method"),
        ("price", {"price": "-5"}, "positive"),
        ("price", {"market": "KRW-ETH", "price": "5"}, "not served"),
    ],
)
def test_malformed_control_calls_are_refused_with_a_reason(sandbox, action, payload, message):
    response = requests.post(f"{sandbox.base_url}/_sandbox/{action}", json=payload, timeout=5)

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


JSON = {"Content-Type": "application/json"}

# Raw bodies, so JSON's NaN, Infinity and huge numbers reach the sandbox exactly as a careless script sends them.
BAD_CONTROL_BODIES = [
    ("fail", b"not json", "Expecting value"),
    ("fail", b"[1, 2]", "JSON object"),
    ("fail", b"[" * 100_000, "nested too deeply"),
    ("fail", b'{"path": 5}', "must start with /"),
    ("fail", b'{"path": "/v1/orders", "status": 1e400}', "not a whole number"),
    ("fail", b'{"path": "/v1/orders", "status": NaN}', "not a whole number"),
    ("fail", b'{"path": "/v1/orders", "status": true}', "not a whole number"),
    ("fail", b'{"path": "/v1/orders", "count": 1e400}', "not a whole number"),
    ("fail", b'{"path": "/v1/orders", "count": 1.5}', "not a whole number"),
    ("fail", b'{"path": "/v1/orders", "count": 10000000000000}', "at most 1000000"),
    ("fail", b'{"path": "/v1/orders", "count": 0}', "at least 1"),
    ("fail", b'{"path": "/v1/orders", "name": {"a": 1}}', "must be a string"),
    ("fail", b'{"path": "/v1/orders", "body": [1]}', "must be a string"),
    ("fail", b'{"path": "/v1/orders", "method": 5}', "not an HTTP method"),
    ("stall", b'{"path": "/v1/ticker", "seconds": NaN}', "between 0 and 3600"),
    ("stall", b'{"path": "/v1/ticker", "seconds": 1e400}', "between 0 and 3600"),
    ("stall", b'{"path": "/v1/ticker", "seconds": 1, "after": "yes"}', "true or false"),
    ("reject_keys", b'{"on": "false"}', "true or false"),
    ("price", b'{"price": "abc"}', "not a number"),
    ("price", b'{"price": "NaN"}', "positive"),
    ("price", b'{"price": "1e30"}', "at most"),
    ("price", b'{"price": "1e-30"}', "8 decimal places"),
    ("price", b'{"price": 1e400}', "positive"),
    ("price", b'{"market": ["KRW-BTC"], "price": "1"}', "not served"),
    ("clock", b'{"advance_seconds": NaN}', "at least 0"),
    ("clock", b'{"advance_seconds": 1e12}', "at most"),
    ("clock", b'{"advance_seconds": true}', "must be a number"),
    ("balance", b'{"currency": 5, "balance": "1"}', "currency code"),
    ("balance", b'{"currency": "\xc3\x89", "balance": "1"}', "currency code"),
    ("balance", b'{"currency": "BTC", "balance": "NaN"}', "positive"),
    ("balance", b'{"currency": "BTC", "balance": "1e400"}', "at most"),
    ("balance", b'{"currency": "BTC", "balance": "0.123456789"}', "8 decimal places"),
    ("balance", b'{"currency": "BTC", "balance": "1", "avg_buy_price": "-1"}', "positive"),
]


def test_bad_control_input_is_a_clear_400_and_changes_nothing(sandbox):
    sandbox.set_price("100000000")
    before = sandbox.state()

    answers = [
        (action, requests.post(f"{sandbox.base_url}/_sandbox/{action}", data=body, headers=JSON, timeout=5))
        for action, body, _ in BAD_CONTROL_BODIES
    ]

    for (action, body, message), (_, response) in zip(BAD_CONTROL_BODIES, answers, strict=True):
        assert response.status_code == 400, (action, body[:60], response.text)
        error = response.json()["error"]
        assert error["name"] == "invalid_control"
        assert message in error["message"], (action, body[:60], error["message"])
    after = sandbox.state()
    assert (after["balances"], after["faults"], after["reject_keys"], after["prices"]) == (
        before["balances"],
        before["faults"],
        before["reject_keys"],
        before["prices"],
    )
    assert sandbox.public("/v1/ticker", markets="KRW-BTC").status_code == 200
    assert sandbox.call("GET", "/v1/accounts").status_code == 200


def test_control_endpoint_answers_only_on_loopback(sandbox_factory):
    from exchange.sandbox.server import Request

    sandbox = sandbox_factory()
    answer = sandbox.server.handle(Request("GET", "/_sandbox/state", "", b"", {}, "192.168.0.10"))

    assert answer.status == 403


@pytest.mark.slow
def test_runsandbox_serves_and_arms_faults_from_flags():
    with runsandbox_process("--krw", "250000", "--fail", "GET:/v1/ticker:503:server_busy:1", "--no-rate-limit") as (
        base,
        process,
    ):
        first = requests.get(f"{base}/v1/ticker", params={"markets": "KRW-BTC"}, timeout=5)
        second = requests.get(f"{base}/v1/ticker", params={"markets": "KRW-BTC"}, timeout=5)
        state = requests.get(f"{base}/_sandbox/state", timeout=5).json()

        assert (first.status_code, first.json()["error"]["name"]) == (503, "server_busy")
        assert second.status_code == 200
        assert state["balances"]["KRW"]["balance"] == "250000"
    assert process.returncode == 0
    assert "stopped" in process.stdout_text


@pytest.mark.slow
def test_runsandbox_refuses_a_bad_fault_flag():
    result = subprocess.run(
        [sys.executable, "manage.py", "runsandbox", "--stall", "/v1/ticker"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "--stall '/v1/ticker'" in result.stderr
