"""The whole product in a real Chromium: live Django server, a `runengine` subprocess, the sandbox exchange over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.browser.conftest import login, screenshot
from trading.models import EngineEvent, EngineState, Order, StrategyConfig

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    host, port = config.get("HOST") or "127.0.0.1", config.get("PORT") or 5432
    return f"postgres://{config.get('USER') or 'postgres'}@{host}:{port}/{config['NAME']}"


class Engine:
    """`python manage.py runengine` as its own process, on the test database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runengine"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def output(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out or ""


@pytest.fixture
def engine_env(sandbox, transactional_db, settings) -> dict[str, str]:
    # A strategy that never finishes warming up (it needs more candles than the engine will read), so every
    # order here is one a person asked for.
    StrategyConfig.objects.update_or_create(strategy="macd", defaults={"params": {"fast": 12, "slow": 2000, "signal": 1000}})
    EngineState.load()
    sandbox.set_price("100000000")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPBIT_", "PAPER_", "TELEGRAM_", "NOTIFY_"))}
    env.update(
        DATABASE_URL=database_url(),
        PAPER_MODE="true",
        UPBIT_API_BASE=sandbox.base_url,
        UPBIT_READ_TIMEOUT_SEC="2",
        UPBIT_CONNECT_TIMEOUT_SEC="1",
        TRADING_MARKET="KRW-BTC",
        STRATEGY="macd",
        LOOP_INTERVAL_SEC="1",
        ORDER_COOLDOWN_SEC="0",
        MAX_ORDER_KRW="10000",
        LOG_LEVEL="INFO",
    )
    settings.UPBIT_API_BASE = sandbox.base_url
    return env


@pytest.fixture
def engine(engine_env) -> Iterator[Engine]:
    process = Engine(engine_env)
    yield process
    process.output()


def wait_online(page, engine: Engine) -> None:
    try:
        page.wait_for_selector('#panel-engine .process[data-online="true"]', timeout=30_000)
    except Exception as error:
        raise AssertionError(f"the engine never came online:\n{engine.output()}") from error


def starts_to_running() -> int:
    return EngineEvent.objects.filter(kind="state_changed", meta__to="RUNNING").count()


def test_start_trade_stop_with_a_real_engine(page, engine):
    login(page)
    wait_online(page, engine)
    assert page.is_enabled(".btn-start")
    screenshot(page, "10-idle-engine-online")

    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    started = time.monotonic()
    page.dblclick(".btn-start")  # a double click is one request and one transition
    page.wait_for_selector('.state-badge[data-state="RUNNING"]', timeout=3_000)
    assert time.monotonic() - started < 3
    page.wait_for_timeout(1_000)
    assert [url for url in posts if url.endswith("/engine/start")] == [f"{page.base_url}/engine/start"]
    assert starts_to_running() == 1
    assert EngineEvent.objects.get(kind="state_changed", meta__to="RUNNING").actor == "user:operator"
    screenshot(page, "11-running")

    page.on("dialog", lambda dialog: dialog.accept())
    page.select_option("select[name=kind]", "buy")
    page.fill("input[name=krw]", "10000")
    page.click("#panel-manual-form button[type=submit]")
    try:
        page.wait_for_selector("#panel-orders tr.order .status-DONE", timeout=20_000)
    except Exception as error:
        raise AssertionError(f"no filled order appeared:\n{engine.output()}") from error
    order = Order.objects.get()
    assert order.side == "buy"
    assert order.status == "DONE"
    assert order.mode == "paper"
    page.wait_for_selector(f'#panel-orders tr.order[data-identifier="{order.identifier}"]')
    page.wait_for_selector("#panel-orders tr.fill", timeout=5_000)
    page.wait_for_selector("#panel-log .kind >> text=fill", timeout=10_000)
    screenshot(page, "12-trade")

    page.click(".btn-stop")
    page.wait_for_selector('.state-badge[data-state="IDLE"]', timeout=10_000)  # STOPPING, then the engine finishes
    assert EngineState.load().state == "IDLE"
    moves = list(EngineEvent.objects.filter(kind="state_changed").order_by("id").values_list("meta__to", "actor"))
    assert moves[-2:] == [("STOPPING", "user:operator"), ("IDLE", "engine")]
    screenshot(page, "13-stopped")


def test_an_exchange_failure_turns_the_page_red_and_reset_recovers(page, engine_env, sandbox, settings):
    engine_env.update(PAPER_MODE="false", UPBIT_ACCESS_KEY=sandbox.access_key, UPBIT_SECRET_KEY=sandbox.secret_key)
    settings.PAPER_MODE = False
    settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY = sandbox.access_key, sandbox.secret_key
    process = Engine(engine_env)
    try:
        login(page)
        wait_online(page, process)
        # Live mode against the sandbox on 127.0.0.1: labelled SANDBOX, and Start asks no real-money question.
        assert page.inner_text(".mode-badge") == "SANDBOX"
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        page.click(".btn-start")
        page.wait_for_selector('.state-badge[data-state="RUNNING"]', timeout=3_000)
        assert dialogs == []

        sandbox.reject_keys(True)  # Upbit now answers every signed call with 401 invalid_access_key
        try:
            page.wait_for_selector('.state-badge[data-state="ERROR"]', timeout=20_000)
        except Exception as error:
            raise AssertionError(f"the engine never reached ERROR:\n{process.output()}") from error
        colour = page.eval_on_selector(".state-badge", "el => getComputedStyle(el).backgroundColor")
        assert colour == "rgb(200, 30, 30)"
        assert page.inner_text(".last-error").strip()
        assert page.is_visible(".error-box")
        screenshot(page, "14-error-from-the-exchange")

        sandbox.reject_keys(False)
        page.click(".btn-reset")
        page.wait_for_selector('.state-badge[data-state="IDLE"]', timeout=3_000)
        assert EngineState.load().state == "IDLE"
        screenshot(page, "15-reset")
    finally:
        out = process.output()
    assert sandbox.secret_key not in out
