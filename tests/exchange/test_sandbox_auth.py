"""The sandbox checks JWTs the way Upbit does: any HS* algorithm, single-use nonces, query_hash rules."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from urllib.parse import urlencode

import jwt
import pytest
import requests


def _error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["name"]


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_tokens_signed_with_any_hs_algorithm_are_accepted(sandbox, algorithm):
    response = sandbox.call("GET", "/v1/accounts", algorithm=algorithm)

    assert response.status_code == 200
    assert response.json()[0]["currency"] == "KRW"


def test_missing_authorization_header_is_no_authorization_token(sandbox):
    response = requests.get(f"{sandbox.base_url}/v1/accounts", timeout=5)

    assert _error(response) == (401, "no_authorization_token")


def test_unknown_access_key_is_invalid_access_key(sandbox):
    response = sandbox.call("GET", "/v1/accounts", access_key="someone-else")

    assert _error(response) == (401, "invalid_access_key")


def test_wrong_secret_is_jwt_verification(sandbox):
    response = sandbox.call("GET", "/v1/accounts", secret_key="not-the-secret-" + "x" * 60)

    assert _error(response) == (401, "jwt_verification")


def test_base64_decoded_secret_is_refused(sandbox_factory):
    # Upbit signs with the raw secret bytes; a client that base64-decodes a secret that looks like
    # base64 (as real Upbit secrets do) must fail.
    secret = base64.b64encode(b"upbit-secret-bytes-0123456789abcdef").decode()
    sandbox = sandbox_factory(access_key="a-key", secret_key=secret)
    payload = {"access_key": "a-key", "nonce": str(uuid.uuid4())}
    decoded = jwt.encode(payload, base64.b64decode(secret), algorithm="HS256")
    raw = jwt.encode({**payload, "nonce": str(uuid.uuid4())}, secret, algorithm="HS256")

    refused = requests.get(f"{sandbox.base_url}/v1/accounts", headers={"Authorization": f"Bearer {decoded}"}, timeout=5)
    accepted = requests.get(f"{sandbox.base_url}/v1/accounts", headers={"Authorization": f"Bearer {raw}"}, timeout=5)

    assert _error(refused) == (401, "jwt_verification")
    assert accepted.status_code == 200


def test_unsigned_token_is_refused(sandbox):
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"access_key": sandbox.access_key, "nonce": "n1"}).encode()).rstrip(b"=").decode()

    response = requests.get(f"{sandbox.base_url}/v1/accounts", headers={"Authorization": f"Bearer {header}.{body}."}, timeout=5)

    assert _error(response) == (401, "jwt_verification")


def test_reused_nonce_is_nonce_used(sandbox):
    first = sandbox.call("GET", "/v1/accounts", nonce="same-nonce")
    second = sandbox.call("GET", "/v1/accounts", nonce="same-nonce")

    assert first.status_code == 200
    assert _error(second) == (401, "nonce_used")


def test_query_hash_over_other_parameters_is_invalid_query_payload(sandbox):
    headers = sandbox.token("market=KRW-ETH")

    response = requests.get(f"{sandbox.base_url}/v1/orders/chance", params={"market": "KRW-BTC"}, headers=headers, timeout=5)

    assert _error(response) == (401, "invalid_query_payload")


def test_parameters_without_query_hash_are_invalid_query_payload(sandbox):
    headers = sandbox.token(None)

    response = requests.get(f"{sandbox.base_url}/v1/orders/chance", params={"market": "KRW-BTC"}, headers=headers, timeout=5)

    assert _error(response) == (401, "invalid_query_payload")


def test_query_hash_of_reordered_parameters_is_refused(sandbox):
    # Upbit hashes the query string in the order it was sent; sorting breaks the hash.
    headers = sandbox.token("limit=10&market=KRW-BTC")

    response = requests.get(f"{sandbox.base_url}/v1/orders/open?market=KRW-BTC&limit=10", headers=headers, timeout=5)

    assert _error(response) == (401, "invalid_query_payload")


def test_array_parameters_hash_in_upbit_documented_form(sandbox):
    # The docs' worked example: states[] repeated, hashed unencoded, in order.
    hashed = "market=KRW-BTC&states[]=wait&states[]=watch"
    headers = sandbox.token(hashed)

    response = requests.get(
        f"{sandbox.base_url}/v1/orders/open",
        params=[("market", "KRW-BTC"), ("states[]", "wait"), ("states[]", "watch")],
        headers=headers,
        timeout=5,
    )

    assert response.status_code == 200
    assert response.json() == []


def test_pyupbit_hash_form_and_form_body_on_get_are_accepted(sandbox):
    # pyupbit: urlencode with only "[]" decoded, parameters sent as a form body on GET.
    data = {"market": "KRW-BTC"}
    payload = {
        "access_key": sandbox.access_key,
        "nonce": str(uuid.uuid4()),
        "query_hash": hashlib.sha512(urlencode(data, doseq=True).replace("%5B%5D=", "[]=").encode()).hexdigest(),
        "query_hash_alg": "SHA512",
    }
    headers = {"Authorization": f"Bearer {jwt.encode(payload, sandbox.secret_key, algorithm='HS256')}"}

    response = requests.get(f"{sandbox.base_url}/v1/orders/chance", headers=headers, data=data, timeout=5)

    assert response.status_code == 200
    assert response.json()["market"]["id"] == "KRW-BTC"


def test_post_hash_is_over_json_body_in_document_order(sandbox):
    body = {"market": "KRW-BTC", "side": "bid", "price": "5000", "ord_type": "price"}
    reordered = "&".join(f"{k}={body[k]}" for k in ("side", "market", "price", "ord_type"))

    wrong = requests.post(f"{sandbox.base_url}/v1/orders", json=body, headers=sandbox.token(reordered), timeout=5)
    right = sandbox.call("POST", "/v1/orders", body=body)

    assert _error(wrong) == (401, "invalid_query_payload")
    assert right.status_code == 201


def test_quotation_needs_no_token(sandbox):
    response = requests.get(f"{sandbox.base_url}/v1/ticker", params={"markets": "KRW-BTC"}, timeout=5)

    assert response.status_code == 200
