"""The console's backtest pages: the form and its refusals, progress, results, the CSV, comparing, applying, permissions."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import StrategyConfigFactory, UserFactory
from tests.trading.backtest_console_helpers import load_hourly, request_data
from trading import backtest_jobs
from trading.backtest.worker import run_job
from trading.backtest_job_models import BacktestJob
from trading.backtest_selectors import TRADES_PER_PAGE
from trading.models import EngineEvent, StrategyConfig

pytestmark = pytest.mark.django_db


def client_in(*groups: str, perms: tuple[str, ...] = ()) -> Client:
    from django.contrib.auth.models import Permission

    user = UserFactory(username="-".join(groups) or "staff-only", groups=list(groups))
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="trading"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def launched(monkeypatch) -> list[int]:
    """The jobs a page queued; their worker is not started (the worker's own tests start real ones)."""
    started: list[int] = []
    monkeypatch.setattr(backtest_jobs, "backtest_job_launch", lambda *, job: started.append(job.pk) or 4242)
    return started


def form_data(**changes: Any) -> dict[str, Any]:
    data = {
        "strategy": "sma_cross",
        "params_for": "sma_cross",
        "market": "KRW-BTC",
        "unit": "60",
        "date_from": "2024-12-01",
        "date_to": "2025-03-31",
        "initial_krw": "1,000,000",
        "fees": "on",
        "limits": "on",
        "max_order_krw": "10,000",
        "max_daily_loss_krw": "50,000",
        "max_position_ratio": "0.3",
        "cooldown_sec": "30",
        "param_fast": "5",
        "param_slow": "20",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def done_job(**changes: Any) -> BacktestJob:
    job = backtest_jobs.backtest_job_create(request=request_data(**changes), actor="user:alice", launch=False)
    return run_job(job.pk)


def test_the_form_shows_each_parameter_with_its_current_value_default_and_range():
    StrategyConfigFactory(strategy="macd", params={"fast": 10, "slow": 30, "signal": 9})
    page = client_in("Operators").get(reverse("backtests"), {"strategy": "macd"}).content.decode()
    assert 'name="param_fast"' in page
    assert 'value="10"' in page  # current, prefilled
    assert "≥ 1 and ≤ 1000" in page  # fast's range
    assert "the fast EMA period, in candles" in page
    assert 'name="param_candle_unit"' not in page  # the candle unit is the form's own field
    swapped = client_in("Operators").get(reverse("backtest_params"), {"strategy": "volatility_breakout"}).content.decode()
    assert 'name="params_for" value="volatility_breakout"' in swapped
    assert 'name="param_k"' in swapped


def test_a_valid_form_queues_a_run_and_starts_its_worker(launched):
    load_hourly()
    response = client_in("Operators").post(reverse("backtest_new"), form_data())
    job = BacktestJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backtest_detail", args=[job.pk])
    assert launched == [job.pk]
    assert job.requested_by == "user:Operators"
    asked = job.request
    assert (asked["strategy"], asked["unit"], asked["params"]["fast"], asked["params"]["candle_unit"]) == (
        "sma_cross",
        60,
        "5",
        "60",
    )
    assert asked["start"] == "2024-12-01T00:00:00+09:00"
    assert asked["end"] == "2025-04-01T00:00:00+09:00"  # the last day is included
    assert asked["limit_overrides"] == {
        "max_order_krw": "10000",
        "max_daily_loss_krw": "50000",
        "max_position_ratio": "0.3",
        "cooldown_sec": 30,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"date_from": "2025-03-31", "date_to": "2025-03-01"}, "The end date is before the start date."),
        ({"date_from": "2023-01-01", "date_to": "2023-01-31"}, "No KRW-BTC 60m candles in this period. 2,900 are stored"),
        ({"market": "KRW-ETH"}, "No KRW-ETH 60m candles are stored."),
        ({"param_fast": "30", "param_slow": "20"}, "sma_cross: parameter fast=30 must be less than slow=20"),
        ({"param_fast": "abc"}, "parameter fast=&#x27;abc&#x27; is not a whole number"),
        ({"param_stop_loss_pct": "150"}, "parameter stop_loss_pct=&#x27;150&#x27; is out of range"),
        ({"initial_krw": "100"}, "Enter an amount of KRW between 5,000 and 100,000,000,000."),
        ({"max_position_ratio": "1.5"}, "Enter a number above 0 and at most 1."),
        ({"date_from": "not a date"}, "Enter a valid date."),
        ({"params_for": "macd"}, "These are the parameters of the strategy you chose"),
    ],
)
def test_bad_input_is_refused_with_a_sentence_and_nothing_is_queued(launched, changes, message):
    load_hourly()
    response = client_in("Operators").post(reverse("backtest_new"), form_data(**changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not BacktestJob.objects.exists()
    assert launched == []


def test_the_progress_bar_polls_while_running_and_the_page_reloads_when_done():
    job = BacktestJob.objects.create(request=request_data(), status="running", progress=42, worker="elsewhere:1")
    client = client_in("Viewers")
    page = client.get(reverse("backtest_detail", args=[job.pk])).content.decode()
    assert 'value="42"' in page
    assert "Running: 42%" in page
    assert f'hx-get="{reverse("backtest_progress", args=[job.pk])}"' in page
    BacktestJob.objects.filter(pk=job.pk).update(status="done", progress=100)
    reload = client.get(reverse("backtest_progress", args=[job.pk]), headers={"HX-Request": "true"})
    assert reload["HX-Refresh"] == "true"


def test_a_failed_run_shows_the_reason():
    job = BacktestJob.objects.create(request=request_data(), status="failed", error="no KRW-ETH 60m candles between …")
    page = client_in("Viewers").get(reverse("backtest_detail", args=[job.pk])).content.decode()
    assert "The backtest failed:" in page
    assert "no KRW-ETH 60m candles between" in page
    assert "hx-trigger" not in page


def test_the_results_page_shows_formatted_metrics_the_chart_data_and_the_trades():
    load_hourly()
    job = done_job()
    page = client_in("Operators").get(reverse("backtest_detail", args=[job.pk])).content.decode()
    run = job.run
    assert f"{round(run.final_equity):,} KRW" in page  # separators, whole won
    total = run.metrics["total_return"] * 100
    assert f"{total:+.2f}%".replace("+-", "-") in page  # two decimals
    assert '"metrics":' not in page
    assert "0.00000000" not in page
    assert 'id="backtest-chart-data" type="application/json"' in page
    assert 'data-backtest-chart="price"' in page
    assert "lightweight-charts.standalone.production.js" in page
    assert f"{run.metrics['orders']} trades" in page
    assert page.count("<tr>") >= min(run.metrics["orders"], TRADES_PER_PAGE)
    assert reverse("backtest_trades_csv", args=[job.pk]) in page
    assert reverse("backtest_apply", args=[job.pk]) in page


def table_of(page: str) -> str:
    return page.split('id="backtest-trades"')[1].split("</table>")[0]


def synthetic_trades(count: int, *, bar: int = 1_735_689_600, per_bar: int = 1) -> list[dict[str, Any]]:
    """Trades as a finished run's chart keeps them: `per_bar` buys on each bar, an hour apart."""
    return [
        {
            "t": bar + (number // per_bar) * 3600,
            "ts": f"2025-01-01T{(number // per_bar) % 24:02d}:00:00+00:00",
            "side": "buy",
            "reason": f"entry {number}",
            "price": "140000000",
            "volume": "0.0001",
            "funds": "14000",
            "fee": "7",
            "pnl": "0",
            "equity": "1000000.00",
        }
        for number in range(count)
    ]


def test_a_long_runs_trades_come_a_page_at_a_time_with_the_chart_marking_each_bar_once():
    load_hourly()
    job = done_job()
    chart = {**job.chart, "trades": synthetic_trades(250, per_bar=5)}
    BacktestJob.objects.filter(pk=job.pk).update(chart=chart)
    client = client_in("Viewers")
    url = reverse("backtest_detail", args=[job.pk])

    first = client.get(url).content.decode()
    assert "250 trades" in first
    assert "Trades 1–100 of 250 (page 1 of 3)" in first
    assert table_of(first).count("entry ") == TRADES_PER_PAGE
    assert 'href="?page=2#trades" rel="next"' in first
    assert 'rel="prev"' not in first
    data = json.loads(first.split('id="backtest-chart-data" type="application/json">')[1].split("</script>")[0])
    assert len(data["markers"]) == 50  # 250 buys on 50 bars
    assert {marker["count"] for marker in data["markers"]} == {5}
    assert data["trades"] == 250

    last = client.get(url, {"page": "3"}).content.decode()
    assert "Trades 201–250 of 250 (page 3 of 3)" in last
    assert "entry 249" in table_of(last)
    assert "entry 199" not in table_of(last)
    assert 'rel="next"' not in last
    # Past the end, or not a number: the nearest page there is.
    assert "Trades 201–250 of 250 (page 3 of 3)" in client.get(url, {"page": "99"}).content.decode()
    assert "Trades 1–100 of 250 (page 1 of 3)" in client.get(url, {"page": "two"}).content.decode()

    client.cookies["django_language"] = "ko"
    korean = client.get(url, {"page": "2"}).content.decode()
    assert "거래 250건 중 101–200 (3쪽 중 2쪽)" in korean


def test_a_short_runs_trades_fit_one_page_with_no_page_links():
    load_hourly()
    job = done_job()
    BacktestJob.objects.filter(pk=job.pk).update(chart={**job.chart, "trades": synthetic_trades(3)})
    page = client_in("Viewers").get(reverse("backtest_detail", args=[job.pk])).content.decode()
    assert "3 trades" in page
    assert "bt-trade-pages" not in page
    assert table_of(page).count("entry ") == 3


def test_the_trades_download_as_csv_in_seoul_time():
    load_hourly()
    job = done_job()
    response = client_in("Operators").get(reverse("backtest_trades_csv", args=[job.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="backtest-{job.pk}-trades.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "time (Asia/Seoul)"
    assert len(rows) - 1 == job.run.metrics["orders"]
    first = job.chart["trades"][0]
    assert rows[1][1:4] == [first["side"], first["reason"], first["price"]]
    assert rows[1][0].startswith("2024-12") or rows[1][0].startswith("2025-")
    assert len(rows[1][0]) == len("2024-12-01 09:00:00")


def test_two_runs_compare_side_by_side():
    load_hourly()
    left = done_job()
    right = done_job(params={"fast": "8", "slow": "40", "candle_unit": "60"})
    client = client_in("Viewers")
    page = client.get(reverse("backtest_compare"), {"run": [left.pk, right.pk]}).content.decode()
    assert f"#{left.pk}" in page
    assert f"#{right.pk}" in page
    assert "fast=5" in page
    assert "fast=8" in page
    assert 'id="compare-left"' in page
    assert 'id="compare-right"' in page
    assert page.count("Round trips") == 1
    refused = client.get(reverse("backtest_compare"), {"run": [left.pk]}, follow=True)
    assert "Choose two different finished backtests to compare." in refused.content.decode()
    running = BacktestJob.objects.create(request=request_data(), status="running", worker="elsewhere:1")
    refused = client.get(reverse("backtest_compare"), {"run": [left.pk, running.pk]}, follow=True)
    assert "Only finished backtests can be compared." in refused.content.decode()


def test_use_these_parameters_asks_first_then_applies_and_records_the_change():
    load_hourly()
    StrategyConfigFactory(strategy="sma_cross", params={"fast": 3, "slow": 30})
    job = done_job()
    client = client_in("Operators")
    confirm = client.get(reverse("backtest_apply", args=[job.pk])).content.decode()
    assert "Yes, use these parameters" in confirm
    assert StrategyConfig.objects.get(strategy="sma_cross").params == {"fast": 3, "slow": 30}  # nothing yet
    response = client.post(reverse("backtest_apply", args=[job.pk]), follow=True)
    assert "now drive sma_cross" in response.content.decode()
    assert StrategyConfig.objects.get(strategy="sma_cross").params["fast"] == 5
    event = EngineEvent.objects.get(meta__backtest_job=job.pk)
    assert event.actor == "user:Operators"
    assert "fast 3 → 5" in event.message


def test_staff_without_the_permissions_cannot_start_backtests_or_apply_parameters(launched):
    load_hourly()
    job = done_job()
    viewer = client_in("Viewers")
    assert viewer.post(reverse("backtest_new"), form_data()).status_code == 403
    assert viewer.get(reverse("backtest_params"), {"strategy": "macd"}).status_code == 403
    assert viewer.post(reverse("backtest_apply", args=[job.pk])).status_code == 403
    assert viewer.get(reverse("backtest_apply", args=[job.pk])).status_code == 403
    assert viewer.get(reverse("backtest_trades_csv", args=[job.pk])).status_code == 403
    assert BacktestJob.objects.count() == 1
    assert launched == []
    assert not EngineEvent.objects.filter(meta__backtest_job=job.pk).exists()
    page = viewer.get(reverse("backtests")).content.decode()
    assert "New backtest" not in page  # no form for a person who may not run one
    assert "Use these parameters" not in viewer.get(reverse("backtest_detail", args=[job.pk])).content.decode()
    # The permission to run backtests alone does not apply parameters.
    runner = client_in(perms=("view_dashboard", "run_backtest"))
    assert runner.post(reverse("backtest_new"), form_data()).status_code == 302
    assert runner.post(reverse("backtest_apply", args=[job.pk])).status_code == 403


def test_the_dashboard_links_to_the_backtests():
    page = client_in("Viewers").get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("backtests")}"' in page


def test_a_stranger_is_sent_to_log_in():
    response = Client().get(reverse("backtests"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
