"""The live client against the sandbox: every error name Upbit documents maps to exactly one exception."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from exchange.exceptions import (
    InvalidRequest,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RetryLater,
    StopTrading,
)
from exchange.upbit import UpbitClient
from tests.exchange.test_upbit_client import limit_buy, sandbox_orders

MARKET = "KRW-BTC"


@pytest.fixture
def live_client(sandbox) -> Iterator[UpbitClient]:
    sandbox.set_price("100000000")
    client = UpbitClient(sandbox.base_url, sandbox.access_key, sandbox.secret_key, backoff_base_sec=0.05)
    yield client
    client.close()


# --- every injected error name maps to one exception ----------------------------------------------

AUTH_NAMES = [
    ("jwt_verification", 401),
    ("invalid_access_key", 401),
    ("expired_access_key", 401),
    ("no_authorization_ip", 401),
    ("out_of_scope", 403),
    ("no_authorization_token", 401),
    ("invalid_query_payload", 401),
    ("thirdparty_agreement_required", 403),
    ("open_api_withdraw_locked", 403),
    ("a_key_problem_upbit_adds_later", 401),
]
ORDER_NAMES = [
    "insufficient_funds_bid",
    "insufficient_funds_ask",
    "under_min_total_bid",
    "under_min_total_ask",
    "invalid_price_bid",
    "invalid_price_ask",
    "over_krw_funds_bid",
    "over_krw_funds_ask",
    "duplicated_identifier",
    "validation_error",
    "create_bid_error",
    "create_ask_error",
    "invalid_parameter",
    "invalid_time_in_force",
    "invalid_post_only",
    "notfoundmarket",
    "bad_request",
    "QUERY_PARAMETER_NOT_SUPPORTED",
    "currency_not_found",
    "a_name_upbit_adds_later",
]


@pytest.mark.parametrize(("name", "status"), AUTH_NAMES)
def test_account_problems_stop_trading_with_an_explanation(sandbox, live_client, name, status):
    sandbox.fail_next("/v1/accounts", status=status, name=name, message="upbit says no", count=1)

    with pytest.raises(StopTrading) as caught:
        live_client.get_accounts()

    assert caught.value.name == name
    assert caught.value.status == status
    assert "upbit says no" in str(caught.value)
    assert len(str(caught.value)) > len("upbit says no") + 40  # carries an explanation, not just Upbit's words


@pytest.mark.parametrize("name", ORDER_NAMES)
def test_order_errors_reject_the_order_and_are_invalid_requests_on_reads(sandbox, live_client, name):
    sandbox.fail_next("/v1/orders", method="POST", status=400, name=name, count=1)
    sandbox.fail_next("/v1/order", method="GET", status=400, name=name, count=1)

    with pytest.raises(OrderRejected) as placing:
        live_client.place_order(limit_buy())
    with pytest.raises(InvalidRequest) as reading:
        live_client.get_order(identifier="whatever")

    assert placing.value.name == reading.value.name == name
    assert sandbox_orders(sandbox) == []


def test_order_not_found_nonce_used_and_maintenance(sandbox, live_client):
    sandbox.fail_next("/v1/order", method="GET", status=404, name="order_not_found", count=1)
    sandbox.fail_next("/v1/accounts", status=401, name="nonce_used", count=1)
    sandbox.fail_next("/v1/orders", method="POST", status=403, name="market_offline", count=1)

    with pytest.raises(OrderNotFound):
        live_client.get_order(uuid=str(uuid.uuid4()))
    with pytest.raises(RetryLater) as nonce:
        live_client.get_accounts()
    with pytest.raises(RetryLater) as offline:
        live_client.place_order(limit_buy())

    assert nonce.value.name == "nonce_used"
    assert not isinstance(nonce.value, OutcomeUnknown)
    assert offline.value.name == "market_offline"
    assert not isinstance(offline.value, OutcomeUnknown)


def test_quotation_errors_with_integer_names(sandbox, live_client):
    body = '{"error":{"name":400,"message":"Invalid parameter. Check the given value!"}}'
    sandbox.fail_next("/v1/ticker", status=400, body=body, count=1)

    with pytest.raises(InvalidRequest) as caught:
        live_client.get_ticker(MARKET)

    assert caught.value.name == "400"
    assert "Invalid parameter" in str(caught.value)


def test_errors_are_counted_by_class(sandbox, live_client):
    sandbox.fail_next("/v1/accounts", status=500, count=2)
    for _ in range(2):
        with pytest.raises(RetryLater):
            live_client.get_accounts()
    with pytest.raises(OrderNotFound):
        live_client.get_order(uuid=str(uuid.uuid4()))

    assert live_client.stats["errors"] == {"RetryLater": 2, "OrderNotFound": 1}
    assert live_client.stats_snapshot() == live_client.stats


def test_logs_name_the_call_but_never_the_token_or_keys(sandbox, live_client, caplog):
    caplog.set_level(logging.DEBUG, logger="autocoin.exchange")
    sandbox.fail_next("/v1/orders", method="POST", status=500, count=1)

    live_client.get_accounts()
    with pytest.raises(OutcomeUnknown):
        live_client.place_order(limit_buy())

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /v1/accounts 200" in text
    assert "POST /v1/orders 500" in text
    assert "Bearer" not in text
    assert "eyJ" not in text
    assert sandbox.access_key not in text
    assert sandbox.secret_key not in text
