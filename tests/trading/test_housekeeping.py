"""Housekeeping: pruning keeps the trading record; the paper account starts over only while nothing trades."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from exchange.models import PaperBalance
from tests.chart_data import price_path, store
from tests.factories import BalanceSnapshotFactory, EngineEventFactory, FillFactory, OrderFactory, SignalFactory
from trading import housekeeping, services
from trading.chart_candles import engine_candles_store
from trading.chart_models import EngineCandle
from trading.models import BalanceSnapshot, Candle, EngineEvent, EngineState, Fill, Order, Signal

State = EngineState.State
pytestmark = pytest.mark.django_db


def test_pruning_deletes_old_events_hold_signals_and_snapshots_but_keeps_the_trading_record():
    old = timezone.now() - timedelta(days=40)
    EngineEventFactory(ts=old)
    recent_event = EngineEventFactory()
    SignalFactory(ts=old, action=Signal.Action.HOLD)
    buy = SignalFactory(ts=old, action=Signal.Action.BUY)
    FillFactory(order=OrderFactory(ts=old), ts=old)
    BalanceSnapshotFactory(ts=old - timedelta(days=1))
    newest_snapshot = BalanceSnapshotFactory(ts=old)

    counts = housekeeping.history_prune(days=30)

    assert counts == {"events": 1, "hold_signals": 1, "snapshots": 1, "engine_candles": 0}
    assert list(Signal.objects.all()) == [buy]
    assert list(BalanceSnapshot.objects.all()) == [newest_snapshot]  # the newest is always kept
    assert (Order.objects.count(), Fill.objects.count()) == (1, 1)
    event = EngineEvent.objects.exclude(pk=recent_event.pk).get()
    assert event.message.startswith("History older than 30 days pruned: 1 events, 1 HOLD signals, 1 balance snapshots")


def _engine_candles(count: int, *, newest: datetime, source: str = "127.0.0.1:8765", unit: int = 1) -> None:
    """`count` stored engine candles of `unit` minutes, the newest starting at `newest`."""
    first = newest - timedelta(minutes=unit * (count - 1))
    engine_candles_store(source=source, market="KRW-BTC", unit=unit, candles=price_path(count, unit=unit, start=first))


def test_pruning_deletes_old_engine_candles_but_keeps_what_the_chart_needs_and_the_market_history(monkeypatch):
    monkeypatch.setattr(housekeeping, "ENGINE_CANDLES_KEPT", 100)
    now = timezone.now().replace(second=0, microsecond=0)
    # A sandbox's minute candles: 200 recent ones and 300 from before the engine's last long pause, 31 days ago.
    _engine_candles(200, newest=now - timedelta(minutes=1))
    _engine_candles(300, newest=now - timedelta(days=31))
    # Another series whose candles are all old: its newest 100 stay (the chart's page and warm-up).
    _engine_candles(150, newest=now - timedelta(days=60), unit=60, source="127.0.0.1:9000")
    # Upbit's candles are the market history: never pruned, however old.
    store(price_path(50, start=now - timedelta(days=90)))

    counts = housekeeping.history_prune(days=30)

    assert counts["engine_candles"] == 300 + 50
    minute = EngineCandle.objects.filter(unit=1)
    assert minute.count() == 200
    assert minute.order_by("ts").first().ts == now - timedelta(minutes=200)
    assert EngineCandle.objects.filter(unit=60).count() == 100
    assert EngineCandle.objects.filter(unit=60).order_by("-ts").first().ts == now - timedelta(days=60)
    assert Candle.objects.count() == 50
    assert EngineEvent.objects.get().meta["engine_candles"] == 350
    assert housekeeping.history_prune(days=30)["engine_candles"] == 0  # nothing more to prune


def test_the_prune_command_says_how_many_engine_candles_went(monkeypatch):
    monkeypatch.setattr(housekeeping, "ENGINE_CANDLES_KEPT", 10)
    _engine_candles(30, newest=timezone.now() - timedelta(days=10))
    out = io.StringIO()
    call_command("prune", "--days", "5", stdout=out)
    assert "20 engine candles" in out.getvalue()
    assert EngineCandle.objects.count() == 10


def test_pruning_needs_at_least_a_day():
    with pytest.raises(services.InvalidInput) as refusal:
        housekeeping.history_prune(days=0)
    assert (refusal.value.field, refusal.value.code, refusal.value.message) == ("days", "days_too_small", "0 must be at least 1")
    with pytest.raises(CommandError, match="--days 0 must be at least 1"):
        call_command("prune", "--days", "0")


def test_the_paper_account_reset_is_refused_while_the_engine_trades():
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=State.STOPPING)
    PaperBalance.objects.create(currency="KRW", balance=Decimal("12345"))
    with pytest.raises(services.TransitionNotAllowed) as refusal:
        housekeeping.paper_account_reset(actor="admin:root")
    assert (refusal.value.code, refusal.value.current) == ("paper_reset_while_trading", State.STOPPING)
    assert refusal.value.message == "Paper account reset is refused while the engine is STOPPING; stop it first"
    assert PaperBalance.objects.get().balance == Decimal("12345")
    assert not EngineEvent.objects.exists()


def test_the_paper_account_starts_over_with_the_amount_asked_for():
    PaperBalance.objects.create(currency="BTC", balance=Decimal("0.5"))
    result = housekeeping.paper_account_reset(actor="admin:root", initial_krw=Decimal("2000000"))
    assert result.initial_krw == Decimal("2000000")
    assert {row.currency: row.balance for row in PaperBalance.objects.all()} == {"KRW": Decimal("2000000")}
    assert EngineEvent.objects.get(kind=EngineEvent.Kind.PAPER_RESET).actor == "admin:root"


def test_a_negative_paper_amount_is_refused_with_the_reason():
    with pytest.raises(services.InvalidInput) as refusal:
        housekeeping.paper_account_reset(actor="admin:root", initial_krw=Decimal("-1"))
    assert (refusal.value.field, refusal.value.code) == ("initial_krw", "invalid_amount")
    assert refusal.value.message
