from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.waiting import wait_until
from trading.engine.notify import Notifier
from trading.models import EngineEvent

TOKEN = "123456:very-secret-bot-token"


class Receiver:
    """A real local HTTP server that records what it receives (port 0)."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.held = threading.Event()
        self.held.set()
        """Cleared: every request waits, unanswered, until it is set again (at most 10 s)."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.held.wait(10)
                if delay:
                    time.sleep(delay)
                outer.requests.append((self.path, json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        wait_until(lambda: len(self.requests) >= count, timeout=timeout, message=f"{count} request(s) never arrived")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def dead_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    return f"http://127.0.0.1:{port}"


@pytest.mark.django_db(transaction=True)
def test_webhook_and_telegram_receive_the_text(settings, receiver):
    settings.NOTIFY_WEBHOOK_URL = receiver.url + "/hook"
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_CHAT_ID = "42"
    settings.TELEGRAM_API_BASE = receiver.url
    notifier = Notifier()
    assert [channel.name for channel in notifier.channels] == ["webhook", "telegram"]

    notifier.send("autocoin fill: buy 0.0001 KRW-BTC")
    receiver.wait_for(2)
    notifier.close()

    assert receiver.requests[0] == ("/hook", {"text": "autocoin fill: buy 0.0001 KRW-BTC"})
    assert receiver.requests[1] == (f"/bot{TOKEN}/sendMessage", {"text": "autocoin fill: buy 0.0001 KRW-BTC", "chat_id": "42"})


@pytest.mark.django_db(transaction=True)
def test_a_dead_notifier_never_blocks_and_its_failure_event_hides_the_token(settings, receiver):
    settings.NOTIFY_WEBHOOK_URL = receiver.url  # a webhook that does not answer until the test lets it
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_CHAT_ID = "42"
    settings.TELEGRAM_API_BASE = dead_url()
    notifier = Notifier()

    receiver.held.clear()
    for number in range(5):
        assert notifier.send(f"message {number}")
    assert receiver.requests == []  # sending only queues: all five returned while the first is still unanswered
    receiver.held.set()

    notifier.close(timeout=10)
    failures = EngineEvent.objects.filter(kind=EngineEvent.Kind.NOTIFICATION, level="WARNING")
    assert failures.count() == 5
    for event in failures:
        assert TOKEN not in event.message
        assert "very-secret" not in json.dumps(event.meta)
        assert "telegram" in event.message


@pytest.mark.django_db(transaction=True)
def test_a_full_queue_drops_messages_instead_of_waiting(settings):
    slow = Receiver(delay=0.5)
    try:
        settings.NOTIFY_WEBHOOK_URL = slow.url
        notifier = Notifier(record_failures=False)
        slow.held.clear()  # the sender is stuck on the first message while all 150 are sent: a send that
        results = [notifier.send(f"m{n}") for n in range(150)]  # waited for room would never return
        assert results.count(False) >= 49
        assert notifier.dropped == results.count(False)
        slow.held.set()
        slow.wait_for(1)  # the sender is busy with the first message: close() drops the rest of the queue
        notifier.close(timeout=5, drain=False)
        assert 1 <= len(slow.requests) <= 2
    finally:
        slow.close()


def test_nothing_is_configured_by_default(settings):
    settings.NOTIFY_WEBHOOK_URL = ""
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_CHAT_ID = ""
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.send("ignored") is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("holding_strategy")
def test_fills_are_announced_and_a_dead_notifier_does_not_slow_trading(live, sandbox, engine_settings, receiver):
    from decimal import Decimal

    from tests.factories import ManualOrderRequestFactory
    from trading.engine.cycle import TradingEngine
    from trading.models import EngineState, Order

    sandbox.set_price("100000000")
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")

    engine_settings.NOTIFY_WEBHOOK_URL = receiver.url
    announced = Notifier()
    ManualOrderRequestFactory(kind="buy", krw=Decimal("10000"))
    assert TradingEngine(live, notifier=announced).run_cycle().ok
    receiver.wait_for(1)
    announced.close()
    assert receiver.requests
    assert "autocoin fill (live): buy" in receiver.requests[0][1]["text"]

    # Now the webhook holds every message unanswered and Telegram is gone.
    engine_settings.TELEGRAM_BOT_TOKEN = TOKEN
    engine_settings.TELEGRAM_CHAT_ID = "42"
    engine_settings.TELEGRAM_API_BASE = dead_url()
    dead = Notifier()
    ManualOrderRequestFactory(kind="close", krw=None)
    receiver.held.clear()
    assert TradingEngine(live, notifier=dead).run_cycle().ok
    assert len(receiver.requests) == 1  # the cycle finished while its fill's message was still unanswered
    receiver.held.set()
    dead.close(timeout=10)
    assert "autocoin fill (live): sell" in receiver.requests[1][1]["text"]
    assert Order.objects.filter(status="DONE").count() == 2
    assert EngineEvent.objects.filter(kind="notification", level="WARNING").exists()
    assert not EngineEvent.objects.filter(message__contains=TOKEN).exists()
