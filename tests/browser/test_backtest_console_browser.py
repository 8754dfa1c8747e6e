"""Backtests from the console and the strategy parameter form in a real Chromium, in English and Korean, at desktop
and phone width: a backtest submitted, its progress bar followed to the end by a real worker process, the chart
drawn (canvas, trade markers), the metrics formatted; bad input refused; the parameter form of a strategy."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, screenshot
from tests.trading.backtest_console_helpers import load_hourly, request_data
from trading import backtest_jobs
from trading.backtest.worker import run_job
from trading.backtest_job_models import BacktestJob
from trading.backtest_selectors import TRADES_PER_PAGE

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORDS = {
    "en": {
        "results": "Results",
        "final": "Final equity",
        "error": "The end date is before the start date.",
        "swap": "Parameters of macd",
    },
    "ko": {"results": "결과", "final": "최종 평가금액", "error": "종료일이 시작일보다 앞섭니다.", "swap": "macd 파라미터"},
}
NO_OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


def _console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _open_in(page, language: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    login(page)
    if language == "ko":
        page.click("button[lang=ko]")
        page.wait_for_selector("html[lang=ko]")
        page.wait_for_load_state("load")  # htmx has bound the controls


# English on a desktop and Korean on a phone: both languages and both widths, each with its screenshot.
@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("ko", 375)])
def test_a_backtest_runs_from_the_form_to_its_chart_and_metrics(page, language, width):
    load_hourly()
    errors = _console_errors(page)
    _open_in(page, language, width)
    words = WORDS[language]
    page.goto(f"{page.base_url}/backtests/?strategy=sma_cross")
    # Changing the strategy swaps its parameter fields in place; back to sma_cross for the run.
    page.select_option("select[name=strategy]", "macd")
    page.wait_for_selector("#backtest-params input[name=param_signal]")
    assert words["swap"] in page.inner_text("#backtest-params legend")
    page.select_option("select[name=strategy]", "sma_cross")
    page.wait_for_selector("#backtest-params input[name=params_for][value=sma_cross]", state="attached")
    page.fill("input[name=param_fast]", "5")
    page.fill("input[name=param_slow]", "20")
    page.select_option("select[name=unit]", "60")
    page.fill("input[name=date_from]", "2025-03-31")
    page.fill("input[name=date_to]", "2024-12-01")
    page.click("#run-backtest")
    page.wait_for_selector(".field-error")
    assert words["error"] in page.inner_text("#new-backtest")
    assert not BacktestJob.objects.exists()
    assert page.evaluate(NO_OVERFLOW) <= 1, "the form is wider than the screen"
    screenshot(page, f"backtest-form-error-{language}-{width}")

    errors.clear()  # the refused form came back as 400, which Chromium reports as a failed load
    page.fill("input[name=date_from]", "2024-12-01")
    page.fill("input[name=date_to]", "2025-03-31")
    polls: list[str] = []
    page.on("response", lambda response: polls.append(response.url) if response.url.endswith("/progress") else None)
    page.click("#run-backtest")
    page.wait_for_url("**/backtests/*")
    first_status = page.get_attribute("#backtest-progress", "data-status")
    assert first_status in ("queued", "running", "done")
    page.wait_for_selector("#backtest-metrics, .bt-failed", timeout=60_000)
    job = BacktestJob.objects.get()
    assert job.status == BacktestJob.Status.DONE, job.error
    assert page.get_attribute("#backtest-progress", "data-status") == "done"
    assert page.get_attribute("#backtest-progress-bar", "value") == "100"
    if first_status != "done":
        assert polls, "the progress bar was never polled"
    page.wait_for_selector("[data-backtest-chart=price][data-ready=true] canvas")
    # One marker per bar and side (trades sharing a bar of the chart share its marker).
    marked = {(trade["t"], trade["side"]) for trade in job.chart["trades"]}
    assert int(page.get_attribute("[data-backtest-chart=price]", "data-markers")) == len(marked) > 0
    assert page.locator("[data-backtest-chart=equity] canvas").count() > 0
    assert page.locator("[data-backtest-chart=drawdown] canvas").count() > 0
    metrics = page.inner_text("#backtest-metrics")
    assert words["final"] in metrics
    assert f"{round(job.run.final_equity):,} KRW" in metrics
    assert "%" in metrics
    assert "0.00000000" not in metrics
    assert page.locator("#backtest-trades tbody tr").count() == min(len(job.chart["trades"]), TRADES_PER_PAGE)
    assert page.evaluate(NO_OVERFLOW) <= 1, "the results are wider than the screen"
    screenshot(page, f"backtest-results-{language}-{width}")

    # A second run (made in this process), then both side by side.
    second = run_job(
        backtest_jobs.backtest_job_create(
            request=request_data(params={"fast": "8", "slow": "40", "candle_unit": "60"}), actor="user:operator", launch=False
        ).pk
    )
    page.goto(f"{page.base_url}/backtests/compare?run={job.pk}&run={second.pk}")
    page.wait_for_selector("[data-backtest-chart=compare][data-ready=true] canvas")
    compared = page.inner_text("#backtest-compare")
    runs = page.inner_text("#backtest-compare-runs")
    assert "fast=5" in runs
    assert "fast=8" in runs
    assert f"{round(second.run.final_equity):,} KRW" in compared
    assert page.evaluate(NO_OVERFLOW) <= 1, "the comparison is wider than the screen"
    screenshot(page, f"backtest-compare-{language}-{width}")
    assert errors == [], "\n".join(errors)


# English on a desktop and Korean on a phone: both languages and both widths, each with its screenshot.
@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("ko", 375)])
def test_the_strategy_parameter_form_shows_every_parameter_and_refuses_bad_values(page, language, width):
    errors = _console_errors(page)
    _open_in(page, language, width)
    page.goto(f"{page.base_url}/admin/trading/strategyconfig/")
    page.wait_for_selector("#unconfigured-strategies")
    page.click("#unconfigured-strategies a[href$='strategy=macd']")
    page.wait_for_selector("input[name=param_fast]")
    assert page.input_value("input[name=param_fast]") == "12"
    page.fill("input[name=param_fast]", "30")
    page.fill("input[name=param_slow]", "20")
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    refusal = {
        "en": "macd: parameter fast=30 must be less than slow=20",
        "ko": "macd: 파라미터 fast=30은(는) slow=20보다 작아야 합니다",
    }[language]
    assert refusal in page.inner_text("#strategyconfig_form")
    screenshot(page, f"strategy-params-{language}-{width}")
    page.fill("input[name=param_fast]", "10")
    page.fill("input[name=param_slow]", "30")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    listing = page.inner_text("#result_list")
    assert "fast=10, slow=30" in listing
    assert errors == [], "\n".join(errors)
