"""Each exchange account keeps its own ledger: a sandbox rehearsal never becomes a position, a loss or a trailing
peak of another account, and switching back finds the rehearsal's ledger as it was.

Two sandboxes over real HTTP stand for two accounts (another base URL and another key); the engine trades
through each in turn, the settings naming the account the dashboard shows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.core import serializers
from django.utils import timezone

from trading import selectors, services
from trading.engine.cycle import TradingEngine
from trading.engine.pnl import local_day
from trading.models import BalanceSnapshot, DecisionState, EngineState, Order, PnlDaily, StrategyConfig

from .conftest import live_client

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)
START = datetime(2026, 11, 30, 3, 0, 30, tzinfo=UTC)
OTHER_ACCESS_KEY = "other-access-key-3fa9c1d2e4b5f60718293a4b"
OTHER_SECRET_KEY = "other-secret-key-0000000000000000000000000"


@pytest.fixture
def sandbox(sandbox_factory):
    """The sandbox's time moves only when the test says (sandbox.advance)."""
    return sandbox_factory(clock=lambda: START)


@pytest.fixture
def other(sandbox_factory):
    """A second live account: another API (port) and another key."""
    return sandbox_factory(clock=lambda: START, access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def point_settings_at(settings, sandbox) -> None:
    settings.UPBIT_API_BASE = sandbox.base_url
    settings.UPBIT_ACCESS_KEY = sandbox.access_key
    settings.UPBIT_SECRET_KEY = sandbox.secret_key


@pytest.fixture
def rehearsal(live, sandbox, engine_settings) -> TradingEngine:
    """The engine after a rehearsal on the sandbox: sma_cross(1, 2) bought on a crafted cross, the price rose to a
    peak, then fell into the daily loss limit (the kill-switch tripped)."""
    engine_settings.MAX_DAILY_LOSS_KRW = D("50")
    StrategyConfig.objects.update_or_create(
        strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2, "trailing_stop_pct": "5"}}
    )
    running()
    engine = TradingEngine(live, clock=sandbox.server.now)
    for price in ("100000000", "99000000", "101000000"):
        sandbox.set_price(price)
        sandbox.advance(60)
    assert str(engine.run_cycle().decision.action) == "BUY"
    sandbox.set_price("103000000")
    sandbox.advance(5)
    assert engine.run_cycle().ok
    sandbox.set_price("100000000")  # 2.9 % under the peak: no trailing exit, but about -110 KRW today
    sandbox.advance(5)
    assert engine.run_cycle().stopped
    return engine


def test_a_sandbox_rehearsal_leaves_another_account_flat_and_is_found_again_on_switching_back(
    rehearsal, sandbox, other, engine_settings, monkeypatch
):
    today = local_day(sandbox.server.now())
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: today)  # the dashboard's day is the sandbox's
    assert rehearsal.orders.loss_limit_day() == today
    assert selectors.pnl_today().total < 0

    # Another account: its own API and key. The kill-switch is reset; nothing of the rehearsal counts here.
    services.engine_reset(actor="test")
    running()
    point_settings_at(engine_settings, other)
    other.set_price("100000000")
    other.advance(180)  # flat closed candles: the strategy holds
    client = live_client(other)
    switched = TradingEngine(client, clock=other.server.now)
    outcome = switched.run_cycle()

    assert outcome.ok, outcome.error
    assert switched.account != rehearsal.account
    assert switched.orders.loss_limit_day() is None  # the daily loss limit is not inherited
    assert switched._pnl_tracker().book.volume == 0  # no phantom position for the risk gate or the PnL
    assert DecisionState.objects.get(account=switched.account).peak_price is None  # no trailing peak
    assert DecisionState.objects.get(account=rehearsal.account).peak_price == D("103000000")
    pnl = selectors.pnl_today()
    assert (pnl.account, pnl.realized, pnl.unrealized) == (switched.account, 0, 0)
    balance = selectors.balance_current()
    assert (balance.account, balance.coin_volume) == (switched.account, 0)
    assert selectors.daily_loss(pnl) == 0
    assert not Order.objects.filter(account=switched.account).exists()

    # Switching back finds the rehearsal's ledger as it was.
    point_settings_at(engine_settings, sandbox)
    back_client = live_client(sandbox)
    back = TradingEngine(back_client, clock=sandbox.server.now)
    assert back.account == rehearsal.account
    assert back.orders.loss_limit_day() == today
    assert back._pnl_tracker().book.volume > 0
    assert back.decisions.state.peak_price == D("103000000")
    pnl = selectors.pnl_today()
    assert pnl.account == rehearsal.account
    assert pnl.total < 0
    assert selectors.balance_current().coin_volume > 0
    client.close()
    back_client.close()


def test_the_access_key_never_reaches_the_database_or_the_dashboard(rehearsal, live, sandbox, admin_client):
    assert Order.objects.exists()
    assert BalanceSnapshot.objects.exists()
    assert PnlDaily.objects.exists()

    for model in (*apps.get_app_config("trading").get_models(), *apps.get_app_config("exchange").get_models()):
        dumped = json.dumps(json.loads(serializers.serialize("json", model.objects.all())))
        assert sandbox.access_key not in dumped, model.__name__
        assert sandbox.secret_key not in dumped, model.__name__

    page = admin_client.get("/").content.decode()
    port = sandbox.base_url.rsplit(":", 1)[1]
    assert f"live · sandbox 127.0.0.1:{port} · key {live.account[-12:][:6]}…" in page
    assert sandbox.access_key not in page
