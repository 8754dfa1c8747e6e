"""The market stream's settings: on by default for live trading and the sandbox, off for paper on Upbit's prices."""

from __future__ import annotations

import pytest

from tests.autocoin.test_settings import load_settings, refused


@pytest.fixture(autouse=True)
def _unset(monkeypatch):
    for name in ("MARKET_STREAM", "UPBIT_WS_URL", "STREAM_STALE_SEC", "PAPER_MODE", "UPBIT_API_BASE"):
        monkeypatch.delenv(name, raising=False)


def test_paper_on_upbit_polls_rest_by_default(monkeypatch):
    loaded = load_settings(monkeypatch, PAPER_MODE="true")
    assert loaded["MARKET_STREAM"] == "off"
    assert loaded["STREAM_STALE_SEC"] == 5
    assert loaded["UPBIT_WS_URL"] == ""  # beside UPBIT_API_BASE


def test_live_and_the_sandbox_stream_by_default(monkeypatch):
    assert load_settings(monkeypatch, PAPER_MODE="false")["MARKET_STREAM"] == "on"
    assert load_settings(monkeypatch, PAPER_MODE="true", UPBIT_API_BASE="http://127.0.0.1:8123")["MARKET_STREAM"] == "on"


def test_the_stream_can_be_turned_off_or_on_and_pointed_elsewhere(monkeypatch):
    assert load_settings(monkeypatch, PAPER_MODE="false", MARKET_STREAM="off")["MARKET_STREAM"] == "off"
    assert load_settings(monkeypatch, PAPER_MODE="true", MARKET_STREAM="on")["MARKET_STREAM"] == "on"
    loaded = load_settings(monkeypatch, UPBIT_WS_URL="wss://sg-api.upbit.com/websocket/v1/")
    assert loaded["UPBIT_WS_URL"] == "wss://sg-api.upbit.com/websocket/v1"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MARKET_STREAM", "yes", "MARKET_STREAM='yes' is not allowed; use one of: on, off"),
        (
            "UPBIT_WS_URL",
            "https://api.upbit.com",
            "UPBIT_WS_URL='https://api.upbit.com' is not a URL; use ws://host or wss://host",
        ),
        ("STREAM_STALE_SEC", "0", "STREAM_STALE_SEC='0' is out of range; use an integer from 1 to 300"),
    ],
)
def test_bad_stream_settings_are_refused_with_one_line(monkeypatch, capsys, name, value, expected):
    assert expected in refused(monkeypatch, capsys, **{name: value})
