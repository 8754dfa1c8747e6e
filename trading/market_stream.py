"""What the engine publishes about its market stream (EngineState.metrics["stream"], written with each heartbeat,
about every 0.5 s), read for the dashboard's live quote and for /metrics.

The engine writes it (trading/engine/stream.py `MarketFeed.snapshot`); the web only reads this one JSON field, so
the dashboard's 1-second poll costs one indexed row read and never reaches the exchange."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime

from trading.models import EngineState

STATES = ("connected", "stale", "disconnected", "off")
LIVE_POLL_SEC = 1
AGE_SHOWN_AFTER_SEC = 2.0


@dataclass(frozen=True)
class LiveQuote:
    state: str
    """connected, stale, disconnected or off (no engine, or MARKET_STREAM=off)."""
    price: Decimal | None
    price_at: datetime | None
    ask_price: Decimal | None
    ask_size: Decimal | None
    bid_price: Decimal | None
    bid_size: Decimal | None
    spread: Decimal | None
    age_sec: float | None
    """Seconds since the engine's last frame, as of its last heartbeat plus the heartbeat's own age."""
    fills: int = 0
    """Fills the engine process recorded: a change tells the page to refresh its panels now."""

    @property
    def shows_age(self) -> bool:
        """A fresh stream speaks for itself; the age is shown (and re-rendered each second) once it lags."""
        return self.age_sec is not None and (self.state != "connected" or self.age_sec >= AGE_SHOWN_AFTER_SEC)

    @property
    def version(self) -> str:
        """Changes whenever what the live quote shows changes (the ETag of its partial)."""
        age = int(self.age_sec) if self.age_sec is not None and self.shows_age else None
        return "|".join(
            str(value)
            for value in (
                self.fills,
                self.state,
                self.price,
                self.price_at,
                self.ask_price,
                self.bid_price,
                self.ask_size,
                self.bid_size,
                age,
            )
        )


def _decimal(raw: Any) -> Decimal | None:
    try:
        return None if raw is None else Decimal(str(raw))
    except InvalidOperation:
        return None


def _moment(raw: Any) -> datetime | None:
    return parse_datetime(raw) if isinstance(raw, str) else None


def _object(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def stream_of(metrics: Any) -> dict[str, Any]:
    return _object(_object(metrics).get("stream"))


def live_quote_get() -> LiveQuote:
    """The live price and top of book as the engine last published them (one row, two columns)."""
    row = EngineState.objects.filter(pk=EngineState.SINGLETON_PK).values_list("metrics", "heartbeat_at", "owner").first()
    metrics, heartbeat_at, owner = row if row is not None else ({}, None, "")
    stream = stream_of(metrics) if owner else {}
    price, book = _object(stream.get("price")), _object(stream.get("book"))
    age = stream.get("last_message_age_seconds")
    if isinstance(age, int | float) and heartbeat_at is not None:
        age = float(age) + max(0.0, (timezone.now() - heartbeat_at).total_seconds())
    else:
        age = None
    state = str(stream.get("state") or "off")
    return LiveQuote(
        state=state if state in STATES else "off",
        price=_decimal(price.get("value")),
        price_at=_moment(price.get("at")),
        ask_price=_decimal(book.get("ask_price")),
        ask_size=_decimal(book.get("ask_size")),
        bid_price=_decimal(book.get("bid_price")),
        bid_size=_decimal(book.get("bid_size")),
        spread=_decimal(book.get("spread")),
        age_sec=age,
        fills=int(metrics.get("fills_total") or 0) if isinstance(metrics, dict) and owner else 0,
    )


def live_quote_context() -> dict[str, Any]:
    """The live quote partial's context: the quote, its poll and its ETag (the page's first render and each poll)."""
    quote = live_quote_get()
    raw = f"live|{translation.get_language()}|{quote.version}".encode()
    etag = '"' + hashlib.blake2s(raw, digest_size=10).hexdigest() + '"'
    return {"quote": quote, "poll_sec": LIVE_POLL_SEC, "etag": etag}


def stream_metric_samples(metrics: Any) -> list[tuple[str, str, str, list[tuple[str, object]]]]:
    """/metrics lines for the stream: (name, type, help, [(labels, value)])."""
    stream = stream_of(metrics)
    state = str(stream.get("state") or "off")
    return [
        (
            "market_stream_state",
            "gauge",
            "1 for the market stream's current state (connected, stale, disconnected, off), 0 for the others.",
            [(f'{{state="{choice}"}}', int(state == choice)) for choice in STATES],
        ),
        (
            "market_stream_reconnects_total",
            "counter",
            "Reconnections of the market streams since the engine started.",
            [("", stream.get("reconnects", 0))],
        ),
        (
            "market_stream_messages_total",
            "counter",
            "Frames received on the market streams since the engine started.",
            [("", stream.get("messages", 0))],
        ),
        (
            "market_stream_messages_per_second",
            "gauge",
            "Public stream frames per second over the last 10 s.",
            [("", stream.get("messages_per_sec", 0))],
        ),
        (
            "market_stream_last_message_age_seconds",
            "gauge",
            "Seconds since the public stream's last frame, as of the engine's last heartbeat.",
            [("", stream.get("last_message_age_seconds"))],
        ),
    ]
