"""The dashboard's live quote in a real browser: the streamed price and top of book follow the engine within a
second, and a fill makes the orders panel refresh without waiting for its own poll."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from tests.browser.conftest import login
from tests.factories import OrderFactory
from trading.models import EngineState

pytestmark = pytest.mark.django_db(transaction=True)


def publish(price: str, *, fills: int = 0, bid_size: str = "1.25") -> None:
    """What the engine's control loop writes with each heartbeat (every 0.5 s)."""
    stream = {
        "state": "connected",
        "price": {"value": price, "at": timezone.now().isoformat()},
        "book": {"ask_price": "100260000", "ask_size": "0.5", "bid_price": "100240000", "bid_size": bid_size, "spread": "20000"},
        "last_message_age_seconds": 0.1,
    }
    EngineState.load()
    EngineState.objects.filter(pk=1).update(
        owner="browser:1", heartbeat_at=timezone.now(), state="RUNNING", metrics={"stream": stream, "fills_total": fills}
    )


def test_the_live_quote_follows_the_stream_within_a_second_and_a_fill_refreshes_the_orders(page, settings):
    settings.DASHBOARD_POLL_SEC = 30  # the panels' own polls are far off: what changes below comes from the live quote
    publish("100250000")
    login(page)
    assert page.inner_text("#live-quote .price") == "100,250,000"
    assert "1.25" in page.inner_text("#live-quote .book")

    publish("99870000", bid_size="2.5")
    moved = time.monotonic()
    page.wait_for_selector("#live-quote .price >> text=99,870,000", timeout=1_500)
    assert time.monotonic() - moved < 1.5  # one poll a second, plus the page's own work
    assert "2.5" in page.inner_text("#live-quote .book")

    order = OrderFactory(identifier="ac-browser-fill")
    publish("99870000", fills=1)
    page.wait_for_selector(f"#panel-orders [data-identifier='{order.identifier}']", timeout=1_500)
