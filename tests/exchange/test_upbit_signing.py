"""JWT signing as Upbit specifies it (upbit-api.md §1), checked by decoding with PyJWT and re-hashing."""

from __future__ import annotations

import hashlib
import socket
import uuid
from decimal import Decimal

import jwt
import pytest

from exchange.exceptions import RetryLater, StopTrading
from exchange.types import OrderRequest
from exchange.upbit import UpbitClient, encode_query, make_token, query_hash_source

ACCESS = "test-access-key-0123456789"
SECRET = "test-secret-key-abcdefghijklmnopqrstuvwxyz"


def decode(token: str, secret: str = SECRET) -> dict:
    return jwt.decode(token, secret, algorithms=["HS512"])


def sha512(text: str) -> str:
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_token_without_parameters_has_key_and_fresh_nonce_only():
    first = decode(make_token(ACCESS, SECRET))
    second = decode(make_token(ACCESS, SECRET))

    assert set(first) == {"access_key", "nonce"}
    assert first["access_key"] == ACCESS
    assert uuid.UUID(first["nonce"]).version == 4
    assert first["nonce"] != second["nonce"]


def test_token_is_hs512_and_fails_with_another_secret():
    token = make_token(ACCESS, SECRET, "market=KRW-BTC")

    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, secret="some-other-secret-of-enough-length-1234567890")


def test_get_query_hash_matches_upbit_worked_example():
    # The docs' example: GET /v1/orders/open?market=KRW-BTC&states[]=wait&states[]=watch
    params = [("market", "KRW-BTC"), ("states[]", "wait"), ("states[]", "watch")]

    source = query_hash_source(params)
    payload = decode(make_token(ACCESS, SECRET, source))

    assert source == "market=KRW-BTC&states[]=wait&states[]=watch"
    assert payload["query_hash"] == sha512("market=KRW-BTC&states[]=wait&states[]=watch")
    assert payload["query_hash_alg"] == "SHA512"


def test_query_is_hashed_in_the_order_sent_not_sorted():
    forward = query_hash_source([("uuid", "b"), ("market", "a")])
    backward = query_hash_source([("market", "a"), ("uuid", "b")])

    assert forward == "uuid=b&market=a"
    assert sha512(forward) != sha512(backward)


def test_wire_query_is_percent_encoded_but_hash_uses_the_decoded_text():
    params = [("market", "KRW-BTC"), ("to", "2025-06-24T04:56:53+09:00"), ("identifiers[]", "a b")]

    wire = encode_query(params)

    assert "%3A" in wire
    assert "%2B" in wire
    assert "identifiers[]=" in wire  # array brackets stay literal, as Upbit's docs ask
    # What the server reconstructs by percent-decoding the raw query is what the client hashed.
    from urllib.parse import unquote

    assert unquote(wire) == query_hash_source(params)


def test_post_body_hash_is_key_value_pairs_in_body_order():
    body = {"market": "KRW-BTC", "side": "bid", "volume": "0.01", "price": "100.0", "ord_type": "limit"}

    payload = decode(make_token(ACCESS, SECRET, query_hash_source(body=body)))

    assert payload["query_hash"] == sha512("market=KRW-BTC&side=bid&volume=0.01&price=100.0&ord_type=limit")


def test_client_authorization_header_is_bearer_with_verifiable_token():
    client = UpbitClient("http://127.0.0.1:9", ACCESS, SECRET)
    body = client.order_body(
        OrderRequest(
            market="KRW-BTC", side="buy", ord_type="limit", identifier="id-1", price=Decimal("100000000"), volume=Decimal("0.001")
        )
    )

    header = client._auth_headers(query_hash_source(body=body))["Authorization"]

    scheme, token = header.split(" ", 1)
    assert scheme == "Bearer"
    payload = decode(token)
    assert payload["query_hash"] == sha512("&".join(f"{key}={value}" for key, value in body.items()))
    assert all(isinstance(value, str) for value in body.values())


def test_exchange_call_without_keys_stops_trading_before_sending_anything():
    client = UpbitClient(f"http://127.0.0.1:{unused_port()}")

    with pytest.raises(StopTrading) as caught:
        client.get_accounts()

    assert "UPBIT_ACCESS_KEY" in str(caught.value)
    assert "UPBIT_SECRET_KEY" in str(caught.value)
    assert client.stats["calls"] == 0
    assert client.stats["errors"] == {"StopTrading": 1}


def test_secrets_never_appear_in_repr_or_errors():
    client = UpbitClient(f"http://127.0.0.1:{unused_port()}", ACCESS, SECRET)

    assert ACCESS not in repr(client)
    assert SECRET not in repr(client)
    with pytest.raises(RetryLater, match="could not connect to Upbit") as caught:
        client.get_accounts()
    assert ACCESS not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_from_settings_reads_base_url_keys_and_decimal_timeouts(settings):
    settings.UPBIT_API_BASE = "http://127.0.0.1:1/v1/"
    settings.UPBIT_ACCESS_KEY = ACCESS
    settings.UPBIT_SECRET_KEY = SECRET
    settings.UPBIT_CONNECT_TIMEOUT_SEC = Decimal("1.5")
    settings.UPBIT_READ_TIMEOUT_SEC = Decimal("7")

    client = UpbitClient.from_settings()
    quotation_only = UpbitClient.from_settings(with_keys=False)

    assert client.base_url == "http://127.0.0.1:1"
    assert client._timeout == (1.5, 7.0)
    assert all(type(value) is float for value in client._timeout)
    assert client.has_keys
    assert not quotation_only.has_keys
    assert client.is_paper is False
