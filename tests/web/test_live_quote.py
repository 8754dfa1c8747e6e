"""The dashboard's live quote (the engine's streamed price and top of book) and the stream's /metrics lines."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from tests.web.conftest import engine_heartbeat
from tests.web.test_metrics_health import ENGINE_METRICS, metrics_lines

pytestmark = pytest.mark.django_db

STREAM = {
    "state": "connected",
    "source": "stream",
    "reconnects": 2,
    "messages": 1234,
    "messages_per_sec": 12.5,
    "last_message_age_seconds": 0.125,
    "price": {"value": "100250000", "at": "2026-12-05T09:00:00+00:00"},
    "book": {
        "ask_price": "100260000",
        "ask_size": "0.5",
        "bid_price": "100240000",
        "bid_size": "1.25",
        "spread": "20000",
        "at": "2026-12-05T09:00:00+00:00",
    },
}


def test_the_live_quote_shows_the_streamed_price_and_top_of_book(session_client):
    engine_heartbeat(state="RUNNING", metrics={**ENGINE_METRICS, "stream": STREAM})
    response = session_client.get("/panels/live-quote", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "100,250,000" in html
    assert 'data-ask="100260000"' in html
    assert 'data-bid="100240000"' in html
    assert 'data-spread="20000"' in html
    assert "1.25" in html
    assert 'hx-trigger="every 1s, tabVisible from:body"' in html


def test_an_unchanged_quote_is_answered_with_204_and_a_new_price_is_shown(session_client):
    engine_heartbeat(state="RUNNING", metrics={**ENGINE_METRICS, "stream": STREAM})
    first = session_client.get("/panels/live-quote", headers={"HX-Request": "true"})
    again = session_client.get("/panels/live-quote", headers={"HX-Request": "true", "If-None-Match": first["ETag"]})
    assert again.status_code == 204
    engine_heartbeat(
        state="RUNNING", metrics={**ENGINE_METRICS, "stream": {**STREAM, "price": {"value": "99000000", "at": None}}}
    )
    changed = session_client.get("/panels/live-quote", headers={"HX-Request": "true", "If-None-Match": first["ETag"]})
    assert changed.status_code == 200
    assert "99,000,000" in changed.content.decode()


def test_without_a_stream_the_quote_says_so_in_korean(session_client):
    engine_heartbeat(state="RUNNING", metrics=ENGINE_METRICS)
    with translation.override("ko"):
        response = session_client.get("/panels/live-quote", headers={"HX-Request": "true", "Accept-Language": "ko"})
    assert response.status_code == 200
    assert "스트림" in response.content.decode()


def test_the_live_quote_needs_a_login():
    response = Client().get("/panels/live-quote")
    assert response.status_code == 302


def test_metrics_show_the_stream_state_reconnects_rate_and_age():
    engine_heartbeat(state="RUNNING", metrics={**ENGINE_METRICS, "stream": {**STREAM, "state": "stale"}})
    lines = metrics_lines(Client().get("/metrics"))
    assert 'autocoin_market_stream_state{state="stale"} 1' in lines
    assert 'autocoin_market_stream_state{state="connected"} 0' in lines
    assert "autocoin_market_stream_reconnects_total 2" in lines
    assert "autocoin_market_stream_messages_total 1234" in lines
    assert "autocoin_market_stream_messages_per_second 12.5" in lines
    assert "autocoin_market_stream_last_message_age_seconds 0.125" in lines


def test_metrics_say_off_without_a_stream():
    engine_heartbeat(state="RUNNING", metrics=ENGINE_METRICS)
    lines = metrics_lines(Client().get("/metrics"))
    assert 'autocoin_market_stream_state{state="off"} 1' in lines
    assert not [line for line in lines if line.startswith("autocoin_market_stream_last_message_age_seconds ")]


def test_a_new_fill_makes_every_panel_refresh_at_once(session_client):
    engine_heartbeat(state="RUNNING", metrics={**ENGINE_METRICS, "stream": STREAM, "fills_total": 3})
    first = session_client.get("/panels/live-quote", {"fills": "2"}, headers={"HX-Request": "true"})
    assert first.status_code == 200
    assert "engineChanged" in first.get("HX-Trigger", "")
    assert "&quot;fills&quot;: &quot;3&quot;" in first.content.decode() or '"fills": "3"' in first.content.decode()
    same = session_client.get("/panels/live-quote", {"fills": "3"}, headers={"HX-Request": "true"})
    assert "HX-Trigger" not in same
