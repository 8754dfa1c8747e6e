from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.web.conftest import API_TOKEN, engine_heartbeat

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
REMOTE = "203.0.113.7"
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? -?(\d+(\.\d+)?|\+Inf)$')
ENGINE_METRICS = {
    "cycles_total": 42,
    "cycle_duration_seconds": {"buckets": {"0.1": 30, "0.5": 10, "1": 2}, "sum": "3.75", "count": 42},
    "orders_placed_total": 5,
    "orders_failed_total": 1,
    "exchange_errors_total": {"RateLimited": 3, "OutcomeUnknown": 1},
    "rate_limited_total": 3,
    "equity_krw": "1000123.45678901",
    "pnl_today_krw": "-1234.5",
}


def metrics_lines(response) -> list[str]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = response.content.decode().splitlines()
    for line in lines:
        assert line.startswith(("# HELP ", "# TYPE ")) or SAMPLE.match(line), line
    return lines


def test_metrics_for_a_loopback_caller_show_the_engine_counters():
    engine_heartbeat(state="RUNNING", metrics=ENGINE_METRICS, kill_switch=False)
    lines = metrics_lines(Client().get("/metrics"))
    assert 'autocoin_engine_state{state="RUNNING"} 1' in lines
    assert 'autocoin_engine_state{state="IDLE"} 0' in lines
    assert "autocoin_engine_online 1" in lines
    assert "autocoin_cycles_total 42" in lines
    assert "autocoin_orders_placed_total 5" in lines
    assert "autocoin_orders_failed_total 1" in lines
    assert 'autocoin_exchange_errors_total{kind="RateLimited"} 3' in lines
    assert "autocoin_rate_limited_total 3" in lines
    assert "autocoin_equity_krw 1000123.45678901" in lines
    assert "autocoin_pnl_today_krw -1234.5" in lines


@pytest.mark.parametrize(
    "buckets",
    [
        {"0.1": 30, "0.5": 10, "1": 2},  # per bucket
        {"0.1": 30, "0.5": 40, "1": 42, "+Inf": 42},  # already cumulative
        [["0.1", 30], ["0.5", 10], ["1", 2]],
    ],
)
def test_cycle_duration_is_a_cumulative_histogram(buckets):
    engine_heartbeat(metrics={**ENGINE_METRICS, "cycle_duration_seconds": {"buckets": buckets, "sum": "3.75", "count": 42}})
    lines = metrics_lines(Client().get("/metrics"))
    assert [line for line in lines if line.startswith("autocoin_cycle_duration_seconds")] == [
        'autocoin_cycle_duration_seconds_bucket{le="0.1"} 30',
        'autocoin_cycle_duration_seconds_bucket{le="0.5"} 40',
        'autocoin_cycle_duration_seconds_bucket{le="1"} 42',
        'autocoin_cycle_duration_seconds_bucket{le="+Inf"} 42',
        "autocoin_cycle_duration_seconds_sum 3.75",
        "autocoin_cycle_duration_seconds_count 42",
    ]


def test_metrics_before_the_engine_ever_ran_are_valid_and_zero():
    lines = metrics_lines(Client().get("/metrics"))
    assert "autocoin_cycles_total 0" in lines
    assert "autocoin_engine_online 0" in lines
    assert not any(line.startswith("autocoin_equity_krw ") for line in lines)


def test_remote_caller_without_token_is_forbidden():
    response = Client(REMOTE_ADDR=REMOTE).get("/metrics")
    assert response.status_code == 403
    assert "Bearer" in response.content.decode()


def test_remote_caller_with_the_token_is_served(api_user):
    metrics_lines(Client(REMOTE_ADDR=REMOTE, headers={"Authorization": f"Bearer {API_TOKEN}"}).get("/metrics"))


def test_wrong_token_is_refused_even_from_loopback():
    assert Client(headers={"Authorization": "Bearer wrong-token-wrong-token"}).get("/metrics").status_code == 401


def test_staff_session_from_a_remote_address_is_not_enough(operator):
    client = Client(REMOTE_ADDR=REMOTE)
    client.force_login(operator)
    assert client.get("/metrics").status_code == 403


def test_healthz_needs_no_login_and_reports_the_engine():
    engine_heartbeat(state="RUNNING")
    response = Client(REMOTE_ADDR=REMOTE).get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["database"] == "ok"
    assert body["state"] == "RUNNING"
    assert body["engine_online"] is True


@pytest.mark.slow
@pytest.mark.parametrize(
    "database_url",
    ["postgres://postgres@127.0.0.1:1/autocoin_nowhere", "sqlite:////nonexistent-autocoin-dir/db.sqlite3"],
)
def test_healthz_is_503_when_the_database_is_unreachable(database_url):
    # A separate process, so the database really is unreachable (not a patched function).
    script = (
        "import django, json; django.setup();"
        "from django.test.utils import setup_test_environment; setup_test_environment();"
        "from django.test import Client; c = Client(raise_request_exception=False); r = c.get('/healthz');"
        "m = c.get('/metrics'); a = c.get('/api/engine/status', headers={'Authorization': 'Bearer ' + 'x' * 20});"
        "print(json.dumps({'status': r.status_code, 'body': r.json(), 'metrics': [m.status_code, m.content.decode()],"
        " 'api': [a.status_code, a.json()]}))"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "autocoin.settings",
        "LOG_LEVEL": "ERROR",
        "AUTOCOIN_API_TOKEN": "x" * 20,
        "AUTOCOIN_API_USER": "api",
        "POSTGRES_POOL_TIMEOUT_SEC": "1",  # each of the three requests gives up after this wait for a connection
    }
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    outcome = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 503
    assert outcome["body"]["ok"] is False
    assert outcome["body"]["database"] == "unreachable"
    assert outcome["metrics"] == [503, "database unreachable\n"]
    api_status, api_body = outcome["api"]
    assert api_status == 503
    assert api_body["error"]["code"] == "database_unavailable"


def test_metrics_render_what_the_engine_process_publishes():
    from exchange.exceptions import RateLimited
    from trading.engine.cycle import Metrics

    counters = Metrics()
    for seconds in (0.01, 0.2, 0.2, 3.0, 30.0):
        counters.observe_cycle(seconds)
    counters.count_error(RateLimited("slow down"))
    counters.add("orders_placed_total")
    engine_heartbeat(state="RUNNING", metrics=counters.snapshot())
    lines = metrics_lines(Client().get("/metrics"))
    assert 'autocoin_cycle_duration_seconds_bucket{le="0.05"} 1' in lines
    assert 'autocoin_cycle_duration_seconds_bucket{le="0.25"} 3' in lines
    assert 'autocoin_cycle_duration_seconds_bucket{le="5"} 4' in lines
    assert 'autocoin_cycle_duration_seconds_bucket{le="+Inf"} 5' in lines
    assert "autocoin_cycle_duration_seconds_count 5" in lines
    assert "autocoin_cycle_duration_seconds_sum 33.41" in lines
    assert 'autocoin_exchange_errors_total{kind="RateLimited"} 1' in lines
    assert "autocoin_rate_limited_total 1" in lines
    assert "autocoin_orders_placed_total 1" in lines
