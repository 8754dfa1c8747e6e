"""The API under hostile input: every answer is the envelope with a clear 4xx, never a 500."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from tests.web.conftest import API_TOKEN
from tests.web.test_api import envelope
from trading.models import EngineEvent, EngineState, ManualOrderRequest

pytestmark = pytest.mark.django_db

MANUAL = "/api/orders/manual"


def post_raw(client: Client, path: str, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", path, body, content_type=content_type)


# ---------------------------------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/engine/status", "/api/orders/recent", "/api/pnl/daily"])
def test_head_is_answered_like_get(token_client, path):
    response = token_client.head(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/api/engine/status", ["GET", "HEAD", "OPTIONS"]), ("/api/orders/manual", ["POST", "OPTIONS"])],
)
def test_options_names_the_methods(token_client, path, allow):
    response = token_client.options(path)
    assert response.status_code == 200
    assert response["Allow"] == ", ".join(allow)
    assert envelope(response)["data"] == {"allow": allow}


def test_options_still_needs_authentication(client):
    response = client.options("/api/engine/status")
    assert response.status_code == 401
    assert envelope(response)["error"]["code"] == "not_authenticated"


# ---------------------------------------------------------------------------------------------------
# Query strings
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["%2B5", "1_0", "%D9%A1%D9%A2", "%EF%BC%95", "5.0", "0x10", "9" * 5000])
def test_limit_takes_only_plain_digits(token_client, raw):
    response = token_client.get(f"/api/orders/recent?limit={raw}")
    assert response.status_code == 400
    error = envelope(response)["error"]
    assert (error["code"], error["field"]) == ("invalid_parameter", "limit")
    assert len(error["message"]) < 120


def test_limit_with_surrounding_spaces_is_read(token_client):
    response = token_client.get("/api/orders/recent?limit=%205%20")
    assert response.status_code == 200


def test_too_many_query_parameters_is_400_not_500(token_client):
    query = "&".join(f"p{i}=1" for i in range(1200))
    response = token_client.get(f"/api/orders/recent?{query}")
    assert response.status_code == 400
    assert envelope(response)["error"]["code"] == "invalid_parameter"


def test_a_huge_unknown_parameter_is_not_echoed_whole(token_client):
    response = token_client.get("/api/logs/recent?" + "a" * 60000)
    assert response.status_code == 400
    error = envelope(response)["error"]
    assert error["code"] == "unknown_parameter"
    assert len(response.content) < 1000


# ---------------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[1, 2]", "not a list"),
        (b'"buy"', "not a string"),
        (b"5", "not a number"),
        (b"null", "not null"),
        (b"true", "not a boolean"),
        (b'{"side": "buy",', "not valid JSON"),
        (b'{"side": "buy", "krw": NaN}', "NaN is not a number"),
        (b'{"side": "buy", "krw": Infinity}', "Infinity is not a number"),
        (b'{"side": "buy\xff"}', "not valid JSON"),
        (b'{"side": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"side": "buy", "side": "sell", "volume": "1"}', "'side' appears twice"),
    ],
)
def test_a_body_that_is_not_one_json_object_is_refused(token_client, body, says):
    response = post_raw(token_client, MANUAL, body)
    assert response.status_code == 400, response.content
    error = envelope(response)["error"]
    assert error["code"] == "malformed_json"
    assert says in error["message"]
    assert not ManualOrderRequest.objects.exists()


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_form_body_is_415_with_the_fix(token_client, content_type):
    response = post_raw(token_client, MANUAL, b"side=buy&krw=10000", content_type)
    assert response.status_code == 415
    error = envelope(response)["error"]
    assert error["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in error["message"]
    assert not ManualOrderRequest.objects.exists()


def test_a_form_content_type_without_a_body_is_fine_for_control(token_client, engine_online):
    response = post_raw(token_client, "/api/engine/start", b"", "application/x-www-form-urlencoded")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ('{"side": "buy", "krw": 1' + "0" * 400 + "}", "krw", "too long"),
        ('{"side": "buy", "krw": 1e400}', "krw", "'1E+400' is too large"),
        ('{"side": "buy", "krw": "1e400"}', "krw", "digits 0-9"),
        ('{"side": "buy", "krw": "NaN"}', "krw", "digits 0-9"),
        ('{"side": "buy", "krw": "-Infinity"}', "krw", "digits 0-9"),
        ('{"side": "buy", "krw": -5000}', "krw", "positive number"),
        ('{"side": "buy", "krw": "0"}', "krw", "positive number"),
        ('{"side": "buy", "krw": "10000.123456789"}', "krw", "more than 8 decimal places"),
        ('{"side": "buy", "krw": "\\u0661\\u0660\\u0660\\u0660\\u0660"}', "krw", "digits 0-9"),
        ('{"side": "buy", "krw": "10_000"}', "krw", "digits 0-9"),
        ('{"side": "buy", "krw": "10000\\u0000"}', "krw", "digits 0-9"),
        ('{"side": "buy", "krw": {}}', "krw", "not an object"),
        ('{"side": "buy", "krw": [10000]}', "krw", "not a list"),
        ('{"side": "sell", "volume": 1e-9}', "volume", "more than 8 decimal places"),
        ('{"side": "' + "a" * 500_000 + '"}', "side", "is not allowed"),
        ('{"side": "\\ud800"}', "side", "is not allowed"),
        ('{"side": 5}', "side", "side=5 is not allowed"),
    ],
)
def test_bad_amounts_and_sides_name_the_field(token_client, payload, field, says):
    response = post_raw(token_client, MANUAL, payload.encode())
    assert response.status_code == 400, response.content
    error = envelope(response)["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert says in error["message"]
    assert len(error["message"]) < 200
    assert not ManualOrderRequest.objects.exists()


@pytest.mark.parametrize(
    ("payload", "krw", "volume"),
    [
        ('{"side": "buy", "krw": 1e4}', "10000", None),
        ('{"side": "buy", "krw": 5000.00000001}', "5000.00000001", None),
        ('{"side": "buy", "krw": "10,000"}', "10000", None),
        ('{"side": "sell", "volume": 1e-5}', None, "0.00001"),
        ('{"side": "sell", "volume": 0.1}', None, "0.1"),
    ],
)
def test_json_numbers_are_read_exactly(engine_running, token_client, payload, krw, volume):
    response = post_raw(token_client, MANUAL, payload.encode())
    assert response.status_code == 202, response.content
    data = envelope(response)["data"]
    assert (data["krw"], data["volume"]) == (krw, volume)
    queued = ManualOrderRequest.objects.get()
    assert queued.krw == (None if krw is None else Decimal(krw))
    assert queued.volume == (None if volume is None else Decimal(volume))


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("\ud800", "invalid Unicode"),
        ("a\u0000b", "control characters"),
        ("x" * 501, "501 characters"),
        (5, "must be a string"),
    ],
)
def test_a_reason_that_cannot_be_stored_is_refused(token_client, engine_online, reason, says):
    body = json.dumps({"reason": reason}).encode()
    response = post_raw(token_client, "/api/engine/start", body)
    assert response.status_code == 400, response.content
    error = envelope(response)["error"]
    assert (error["code"], error["field"]) == ("invalid_field", "reason")
    assert says in error["message"]
    assert EngineState.load().state == "IDLE"


def test_a_unicode_reason_is_kept(token_client, engine_online):
    response = post_raw(token_client, "/api/engine/start", json.dumps({"reason": "시험 운행 ✓\n두 번째 줄"}).encode())
    assert response.status_code == 200
    assert EngineState.load().state_reason == "시험 운행 ✓\n두 번째 줄"
    assert EngineEvent.objects.filter(kind="state_changed", message__contains="시험 운행").exists()


# ---------------------------------------------------------------------------------------------------
# Health and metrics for monitors
# ---------------------------------------------------------------------------------------------------
def test_healthz_answers_head_and_refuses_post_with_405(client):
    assert client.head("/healthz").status_code == 200
    response = Client(enforce_csrf_checks=True).post("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_healthz_timestamp_is_utc_with_z(client):
    body = client.get("/healthz").json()
    assert body["ts"].endswith("Z")
    assert response_has_no_cache(client.get("/healthz"))


def test_metrics_answers_head_and_refuses_post_with_405(api_user):
    caller = Client(headers={"Authorization": f"Bearer {API_TOKEN}"}, enforce_csrf_checks=True)
    assert caller.head("/metrics").status_code == 200
    assert caller.post("/metrics").status_code == 405


def response_has_no_cache(response) -> bool:
    return "no-store" in response["Cache-Control"]


def test_a_host_header_the_server_does_not_answer_to_is_an_enveloped_400(token_client):
    response = token_client.get("/api/engine/status", headers={"Host": "evil.example"})
    assert response.status_code == 400
    error = envelope(response)["error"]
    assert error["code"] == "bad_request"
    assert "DJANGO_ALLOWED_HOSTS" in error["message"]
    page = Client().get("/", headers={"Host": "evil.example"})
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
