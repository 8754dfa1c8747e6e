"""Engine test fixtures: the sandbox exchange over real HTTP, in live mode (UpbitClient) and paper mode."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exchange.paper import PaperExchange
from exchange.upbit import UpbitClient
from trading.models import StrategyConfig


@pytest.fixture
def frozen_sandbox(sandbox_factory):
    """The sandbox on a clock that moves only when the test advances it, so no candle closes while the test runs
    (a real clock crossing a minute shifts which candle is the newest closed one). It starts in the middle of the
    current minute: the engine's own bookkeeping (order and fill ages) still reads the wall clock."""
    frozen = datetime.now(UTC).replace(second=30, microsecond=0)
    return sandbox_factory(clock=lambda: frozen)


@pytest.fixture
def engine_settings(settings, tmp_path):
    settings.TRADING_MARKET = "KRW-BTC"
    settings.LOOP_INTERVAL_SEC = 1
    settings.STRATEGY = "sma_cross"
    settings.MAX_ORDER_KRW = Decimal("10000")
    settings.MAX_DAILY_LOSS_KRW = Decimal("50000")
    settings.MAX_POSITION_RATIO = Decimal("0.3")
    settings.ORDER_COOLDOWN_SEC = 0
    settings.MAX_CONSECUTIVE_FAILURES = 3
    settings.HOLD_SIGNAL_INTERVAL_SEC = 300
    settings.NOTIFY_WEBHOOK_URL = ""
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_CHAT_ID = ""
    return settings


HOLDING_STRATEGY = "macd"
HOLDING_PARAMS = {"fast": 12, "slow": 2000, "signal": 1000}
"""MACD needing 5 × (2000 + 1000) candles, more than the engine ever reads (MAX_CANDLES): it always holds
(warm-up), so only manual requests and crafted conditions make orders."""


@pytest.fixture
def holding_strategy(db, engine_settings):
    engine_settings.STRATEGY = HOLDING_STRATEGY
    StrategyConfig.objects.update_or_create(strategy=HOLDING_STRATEGY, defaults={"params": HOLDING_PARAMS})


def live_client(sandbox, *, read_timeout: float = 2.0) -> UpbitClient:
    return UpbitClient(
        sandbox.base_url, sandbox.access_key, sandbox.secret_key, read_timeout=read_timeout, connect_timeout=1, max_retries=1
    )


@pytest.fixture
def live(sandbox, engine_settings):
    engine_settings.PAPER_MODE = False
    engine_settings.UPBIT_API_BASE = sandbox.base_url
    engine_settings.UPBIT_ACCESS_KEY = sandbox.access_key
    engine_settings.UPBIT_SECRET_KEY = sandbox.secret_key
    client = live_client(sandbox)
    yield client
    client.close()


@pytest.fixture
def paper(sandbox, engine_settings, db):
    engine_settings.PAPER_MODE = True
    engine_settings.UPBIT_API_BASE = sandbox.base_url
    client = UpbitClient(sandbox.base_url, read_timeout=2, connect_timeout=1, max_retries=1)
    yield PaperExchange(client, initial_krw=Decimal("1000000"))
    client.close()
