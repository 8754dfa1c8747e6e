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
