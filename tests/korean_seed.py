"""Rows written the way the engine and the services write them (real event functions, real strategy sentences),
for the tests that read the console in Korean: what a trader sees after a few cycles, an order, a fill and a
blocked entry."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from tests import factories
from trading import events
from trading.models import EngineState, ManualOrderRequest, Order

SEOUL_EVENING = datetime(2026, 11, 21, 12, 5, 6, tzinfo=UTC)  # 21:05:06 in Seoul

# Sentences exactly as trading/strategies writes them (tests/test_translations.py runs the real strategies too).
EXPLANATIONS = (
    "BUY: MACD(12,26,9) line -340,519.65 crossed above its signal -345,223.26 (histogram +4,703.61; previous candle: "
    "line -410,508.51 <= signal -346,399.16)",
    "HOLD: holding 0.001 at an average 136,250,000 (-1.71%); RSI(14) 52.16 is between oversold 30 and overbought 70, no cross",
    "SELL (trailing stop 2%): price 133,525,000 is at or below 133,525,000, 2% under the highest price since entry "
    "136,250,000; average buy price 130,000,000 (+2.71%)",
)

# Words a Korean page may still show: names, codes, units and data, not interface text.
ALLOWED_WORDS = frozenset(
    {
        *("autocoin", "KRW", "BTC", "KRW-BTC", "UUID", "API", "CSV", "JSON", "BOM", "Excel", "HTTP", "GET", "POST", "IP"),
        *("MACD", "SMA", "RSI", "ATR", "KST", "UTC", "Asia/Seoul", "Upbit", "Optuna", "English", "PAPER", "LIVE"),
        *("macd", "sma_cross", "momentum", "volatility_breakout", "manual", "paper", "engine", "admin", "operator"),
        *("python", "manage", "runengine", "make", "run", "host", "pid", "testhost", "sha256", "Axes", "null", "REST"),
        *("MAX_DAILY_LOSS_KRW", "MAX_POSITION_RATIO", "MAX_ORDER_KRW", "ORDER_COOLDOWN_SEC", "TIME_ZONE", "n/a"),
    }
)
WORD = re.compile(r"[A-Za-z][A-Za-z_/-]*[A-Za-z]")


def english_words(text: str, allowed: frozenset[str] = ALLOWED_WORDS) -> set[str]:
    """The ASCII words of `text` that are not names, codes or units (identifiers with digits are data)."""
    return {
        word
        for word in WORD.findall(text)
        if len(word) > 2
        and not {word, word.lower(), word.title()} & allowed  # a stylesheet may upper-case a name ("EXCEL")
        and not re.search(rf"[0-9]{re.escape(word)}|{re.escape(word)}[0-9-]", text)
    }


def seed_console() -> Order:
    """A running engine's traces: signals, an order with its fill, events of several kinds, a manual request."""
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=EngineState.State.RUNNING)
    for explanation in EXPLANATIONS:
        action = explanation.split(" ", 1)[0].rstrip(":")
        factories.SignalFactory(ts=SEOUL_EVENING, action=action, explanation=explanation)
    order = factories.OrderFactory(
        ts=SEOUL_EVENING, executed_funds=Decimal("10000"), paid_fee=Decimal("5"), reason="BUY by macd: entry"
    )
    fill = factories.FillFactory(
        order=order, ts=SEOUL_EVENING, price=Decimal("100000000"), volume=Decimal("0.001"), funds=Decimal("10000")
    )
    factories.BalanceSnapshotFactory(ts=SEOUL_EVENING)
    factories.PnlDailyFactory(realized=Decimal("-9.49493827"), unrealized=Decimal("0"), fees=Decimal("5.0025"))
    factories.ManualOrderRequestFactory(kind=ManualOrderRequest.Kind.BUY, krw=Decimal("10000"))
    events.state_changed(old="IDLE", new="RUNNING", actor="admin:operator", reason="Start pressed in the admin")
    events.engine_claimed(owner="testhost:4242", previous_owner="", takeover=False)
    events.order_intent(order=order, reason="BUY by macd: entry")
    events.order_submitted(order=order)
    events.fill_recorded(fill=fill)
    events.risk_blocked(
        action="buy",
        reasons=[
            "cooldown: the last buy order was 12 s ago; the next buy is allowed in 48 s (ORDER_COOLDOWN_SEC=60)",
            "the coin would be 35.00% of equity (cap 30%)",
        ],
        source="strategy",
    )
    return order


def seed_engine_trouble() -> None:
    """What a trader sees after a bad day, written by the real event functions with the engine's own sentences:
    exchange errors, a database outage, a restart, reconciliation, risk and slippage blocks, the kill-switch,
    manual requests' results, the daily summary, pauses and the price source. The engine ends in ERROR with
    the kill-switch tripped."""
    import requests

    from exchange.exceptions import OrderRejected, RetryLater
    from exchange.upbit import errors as upbit_errors
    from trading import event_texts, services

    order = factories.OrderFactory(ts=SEOUL_EVENING, identifier="ac-20261121-0002", status=Order.Status.DONE)
    unavailable = upbit_errors.server_error(503, upbit_errors.ErrorBody(name="", message=""), [], placing=None)
    rejected = OrderRejected("order needs 10005 KRW (total + fee); 3000 KRW is free", name="insufficient_funds_bid", status=400)
    kill_switch = (
        f"3 exchange calls in a row failed (last: RetryLater: {unavailable}); check the network and Upbit's status, "
        "then press Reset"
    )
    events.engine_restarted(owner="testhost:4243", note="restart 1; the previous one exited with code 1 after 12.3 s")
    events.exchange_error(error=unavailable, step="running a cycle", failures=2, retry_in_sec=4.0)
    events.order_unknown(
        order=order,
        error=upbit_errors.network_error(requests.ReadTimeout(), "POST", "/v1/orders", "ac-20261121-0002"),
    )
    events.order_reconciled(order=order, message=f"Order {order.identifier} updated: WAIT → DONE, 1 new fill(s)")
    events.reconciliation_finished(checked=2, resolved=1, still_unknown=1, fills_recovered=1)
    events.order_rejected(order=order, message=f"Order rejected by the exchange: {events.order_described(order)}: {rejected}")
    events.risk_blocked(
        action="buy",
        reasons=[
            "position cap: the coin would be worth 400,000 KRW, 40.00% of equity 1,000,000 KRW; MAX_POSITION_RATIO=0.3 "
            "allows 300,000 KRW"
        ],
        source="manual",
    )
    events.order_shrunk(
        reason="shrunk from 20,000 to 8,000 KRW: the asks on the book hold only 8,000 KRW; the smaller order averages "
        "100,000,000 (0.000%)",
        meta={},
    )
    events.engine_error(
        message="The database did not answer for 42.5 s (last error: OperationalError: 서버 연결 실패); the engine carried on",
        level=events.Level.WARNING,
    )
    events.day_start_unknown(
        day="2026-11-21", midnight=SEOUL_EVENING, error=str(RetryLater("Upbit is unavailable (HTTP 503)", status=503))
    )
    events.pnl_reported(
        message="autocoin daily summary 2026-11-20 (paper, KRW-BTC): realized -1,200 KRW, unrealized 0 KRW, fees 10 KRW, "
        "4 fill(s), max drawdown 2,500 KRW",
        day="2026-11-20",
        total=Decimal("-1200"),
    )
    events.entries_pause_set(actor="web:operator", reason="paused from the dashboard")
    events.entries_pause_cleared(actor="web:operator", reason="")
    events.market_data_source_changed(source="rest", code="stream_no_ticker", params={}, market="KRW-BTC")
    stale = {"market": "KRW-BTC", "owner": "testhost:4244"}
    events.engine_error(
        message=event_texts.english("claim_lost", **stale), meta={"text": event_texts.meta("claim_lost", **stale)}
    )
    for status, result in (
        (ManualOrderRequest.Status.DONE, "order ac-20261121-0002: DONE"),
        (ManualOrderRequest.Status.REJECTED, f"order ac-20261121-0003: REJECTED ({rejected})"),
        (ManualOrderRequest.Status.REJECTED, "blocked: nothing to sell: the free coin balance is 0"),
        (ManualOrderRequest.Status.EXPIRED, "expired: not carried out within 120 s (waited 131 s); never sent"),
        (ManualOrderRequest.Status.CANCELLED, "cancelled by web:operator"),
    ):
        factories.ManualOrderRequestFactory(kind=ManualOrderRequest.Kind.BUY, krw=Decimal("10000"), status=status, result=result)
    services.engine_kill_switch_trip(reason=kill_switch)
