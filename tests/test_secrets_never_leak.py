"""No configured secret escapes: each one is injected into every exchange-supplied text and error path, then
every page, API answer, export, log line, notification payload and the raw database file is searched for it.

The secrets carry a per-run suffix, so bytes that an earlier run left in the database file's free pages can
never be mistaken for a leak of this run.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import logging.config
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, reverse

from exchange.redact import MASK
from exchange.upbit import UpbitClient
from tests.conftest import engine_running_online
from tests.trading.engine.test_notify import Receiver, dead_url
from tests.web.test_api import GET_ENDPOINTS
from trading import manual_requests, selectors, services, views
from trading.engine.cycle import TradingEngine
from trading.engine.logs import log_handler
from trading.engine.notify import Notifier
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order, Signal, StrategyConfig

RUN = uuid.uuid4().hex[:10]
UPBIT_ACCESS = f"UpbitAccess{RUN}AAAAAAAAAAAAAAAAAAAA"
UPBIT_SECRET = f"UpbitSecret{RUN}SSSSSSSSSSSSSSSSSSSS"
DJANGO_SECRET = f"DjangoSecret{RUN}-KKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"
API_TOKEN = f"ApiToken{RUN}TTTTTTTT"
TELEGRAM_TOKEN = f"7654321:Telegram{RUN}BotTokenXXXXXXXXXX"
DB_PASSWORD = f"DbPassword{RUN}PPPP"
SLACK_TEAM, SLACK_BOT, SLACK_KEY = f"T{RUN}", f"B{RUN}", f"SlackKey{RUN}WWWWWWWW"
WEBHOOK_PATH = f"/services/{SLACK_TEAM}/{SLACK_BOT}/{SLACK_KEY}"

SECRETS = {
    "UPBIT_ACCESS_KEY": UPBIT_ACCESS,
    "UPBIT_SECRET_KEY": UPBIT_SECRET,
    "DJANGO_SECRET_KEY": DJANGO_SECRET,
    "AUTOCOIN_API_TOKEN": API_TOKEN,
    "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
    "database password": DB_PASSWORD,
    "webhook team id": SLACK_TEAM,
    "webhook bot id": SLACK_BOT,
    "webhook key": SLACK_KEY,
}


def leaks(where: str, text: str | bytes) -> list[str]:
    """`where: name` for each secret found in `text` (or its bytes)."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return [f"{where}: {name}" for name, value in SECRETS.items() if value.encode() in data]


def injected(webhook_url: str) -> str:
    """An exchange's or an exception's text quoting every secret, the webhook URL whole and by its path."""
    return "leak " + " | ".join([*SECRETS.values(), webhook_url, WEBHOOK_PATH])


@pytest.fixture
def captured_logs():
    """The web process's LOGGING (as configured in settings) and the engine's text and JSON handlers, into buffers."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    web, text, json_lines = io.StringIO(), io.StringIO(), io.StringIO()
    config = copy.deepcopy(django_settings.LOGGING)
    for handler in config["handlers"].values():
        handler["stream"] = web
    logging.config.dictConfig(config)
    engine_handlers = [log_handler("text", text), log_handler("json", json_lines)]
    for handler in engine_handlers:
        root.addHandler(handler)
    yield {"web": web, "engine text": text, "engine json": json_lines}
    logging.config.dictConfig(django_settings.LOGGING)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def secret_settings(settings, monkeypatch, sandbox_factory):
    sandbox = sandbox_factory(access_key=UPBIT_ACCESS, secret_key=UPBIT_SECRET)
    settings.SECRET_KEY = DJANGO_SECRET
    settings.AUTOCOIN_API_TOKEN = API_TOKEN
    settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY = UPBIT_ACCESS, UPBIT_SECRET
    settings.UPBIT_API_BASE = sandbox.base_url
    settings.PAPER_MODE = False
    settings.NOTIFY_WEBHOOK_URL = dead_url() + WEBHOOK_PATH
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_CHAT_ID = TELEGRAM_TOKEN, "42"
    settings.TRADING_MARKET, settings.STRATEGY = "KRW-BTC", "macd"
    settings.MAX_ORDER_KRW, settings.ORDER_COOLDOWN_SEC, settings.MAX_CONSECUTIVE_FAILURES = Decimal("10000"), 0, 3
    settings.LOOP_INTERVAL_SEC = 1
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # SQLite has no password: the configured one is set where every process reads it, DATABASES.
    monkeypatch.setitem(django_settings.DATABASES["default"], "PASSWORD", DB_PASSWORD)
    # MACD that never finishes warming up: only the manual requests below make orders.
    StrategyConfig.objects.update_or_create(strategy="macd", defaults={"params": {"fast": 12, "slow": 2000, "signal": 1000}})
    return sandbox


FREE_TEXT_MODELS = (EngineEvent, EngineState, ManualOrderRequest, Order, Signal)


def running() -> None:
    engine_running_online()  # manual orders are accepted only while the engine runs


def drive_every_error_path(sandbox, receiver: Receiver, monkeypatch) -> None:
    """Each exchange-supplied text and error path, carrying every secret."""
    text = injected(django_settings.NOTIFY_WEBHOOK_URL)
    monkeypatch.setattr(django_settings, "TELEGRAM_API_BASE", receiver.url)
    notifier = Notifier()  # the webhook's host is dead (its path shows in the error); Telegram is the receiver
    client = UpbitClient(sandbox.base_url, UPBIT_ACCESS, UPBIT_SECRET, read_timeout=2, connect_timeout=1, max_retries=1)
    engine = TradingEngine(client, notifier=notifier)
    sandbox.set_price("100000000")
    running()

    # 1. The exchange rejects an order: its name and message become Order.error_*, the request's result, events.
    manual_requests.manual_order_request_create(kind="buy", krw="10000", actor="user:admin")
    sandbox.fail_next("/v1/orders", method="POST", status=400, name=API_TOKEN, message=text)
    assert engine.run_cycle().ok
    # 2. The exchange fails while an order is being placed: the order's outcome is unknown.
    manual_requests.manual_order_request_create(kind="buy", krw="10000", actor="user:admin")
    sandbox.fail_next("/v1/orders", method="POST", status=500, name="server_error", message=text)
    engine.run_cycle()
    # 3. Temporary failures in a row trip the kill-switch with the last error as the reason.
    sandbox.fail_next("/v1/ticker", status=500, name="server_error", message=text, count=100)
    for _ in range(3):
        engine.run_cycle()
    sandbox.reset_faults()
    assert EngineState.load().kill_switch
    services.engine_reset(actor="user:admin")
    # 4. The exchange refuses the key: StopTrading, ERROR with the exchange's text.
    running()
    sandbox.fail_next("/v1/accounts", status=401, name="invalid_access_key", message=text, count=100)
    assert engine.run_cycle().stopped
    sandbox.reset_faults()
    services.engine_reset(actor="user:admin")
    # 5. An unexpected exception inside a cycle: logged with its traceback, stored as the last error.
    running()

    def broken(market: str) -> None:
        raise RuntimeError(text)

    monkeypatch.setattr(client, "get_ticker", broken)
    assert engine.run_cycle().stopped
    notifier.close()
    # 6. Telegram fails too: requests quotes its URL, the token in the path.
    monkeypatch.setattr(django_settings, "TELEGRAM_API_BASE", dead_url())
    failing = Notifier()
    failing.send(f"autocoin ERROR: {text}")
    failing.close()
    client.close()


def crawl(client: Client, monkeypatch) -> dict[str, str]:
    """Every dashboard page and panel, API answer, admin changelist, change page and export: url → body."""
    urls = ["/", *[reverse("panel", args=[name]) for name in views.PANELS], "/healthz", "/metrics"]
    urls += GET_ENDPOINTS
    urls.append(reverse("admin:index"))
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        if info[0] not in ("trading", "exchange"):
            continue
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        # Every row of the models that hold free text; the first row of the others.
        rows = model.objects.values_list("pk", flat=True)[: None if model in FREE_TEXT_MODELS else 1]
        urls += [reverse("admin:{}_{}_change".format(*info), args=[pk]) for pk in rows]
        try:
            urls += [reverse("admin:{}_{}_export".format(*info), args=[fmt]) for fmt in ("csv", "json")]
        except NoReverseMatch:
            pass
    bodies: dict[str, str] = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        content = b"".join(response.streaming_content) if response.streaming else response.content
        bodies[url] = content.decode("utf-8", "replace")
    # A failing page: Django logs the error with its traceback (django.request).
    broken = Client(raise_request_exception=False)
    broken.force_login(get_user_model().objects.get(username="admin"))

    def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError(injected(django_settings.NOTIFY_WEBHOOK_URL))

    monkeypatch.setattr(selectors, "events_recent", fails)
    response = broken.get(reverse("panel", args=["log"]))
    assert response.status_code == 500
    bodies["failing page"] = response.content.decode("utf-8", "replace")
    return bodies


def file_bytes(path: Path) -> bytes:
    """The file's bytes, read by another process: closing a descriptor of the database file in this process
    would drop every SQLite lock the process holds on it (POSIX locks are per process), and the next process
    to open the database would then reset the WAL index under this one's feet."""
    reader = "import sys, pathlib; p = pathlib.Path(sys.argv[1]); sys.stdout.buffer.write(p.read_bytes() if p.exists() else b'')"
    return subprocess.run([sys.executable, "-c", reader, str(path)], capture_output=True, check=True, timeout=60).stdout


def database_text() -> str:
    """Every value of every row of every table of the project's apps, as text."""
    rows: list[str] = []
    for config_label in ("trading", "exchange"):
        for model in apps.get_app_config(config_label).get_models():
            names = [field.attname for field in model._meta.concrete_fields]
            rows += [repr(row) for row in model.objects.values_list(*names)]
    return "\n".join(rows)


@pytest.mark.django_db(transaction=True)
def test_no_configured_secret_reaches_any_page_answer_export_log_notification_or_the_database_file(
    secret_settings, captured_logs, monkeypatch
):
    receiver = Receiver()
    try:
        drive_every_error_path(secret_settings, receiver, monkeypatch)
    finally:
        receiver.close()
    get_user_model().objects.create_superuser("admin", password="admin-password-1")
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    bodies = crawl(client, monkeypatch)

    # The secrets did reach every path, masked: the test would see a leak.
    order = Order.objects.filter(status=Order.Status.REJECTED).get()
    assert MASK in order.error_message
    assert order.error_name == MASK
    assert MASK in ManualOrderRequest.objects.exclude(result="").order_by("id").first().result
    state = EngineState.load()
    assert MASK in state.last_error
    assert state.state == EngineState.State.ERROR
    assert EngineEvent.objects.filter(kind=EngineEvent.Kind.NOTIFICATION, level="WARNING").count() >= 2
    assert "RuntimeError" in captured_logs["web"].getvalue()
    assert "Traceback" in captured_logs["web"].getvalue()
    assert "Traceback" in captured_logs["engine text"].getvalue()
    assert '"exc"' in captured_logs["engine json"].getvalue()
    payloads = [json.dumps(body, ensure_ascii=False) for _path, body in receiver.requests]
    assert any(MASK in payload for payload in payloads)

    found = [leak for url, body in bodies.items() for leak in leaks(url, body)]
    found += [leak for name, buffer in captured_logs.items() for leak in leaks(f"{name} log", buffer.getvalue())]
    found += [leak for payload in payloads for leak in leaks("notification payload", payload)]
    found += leaks("database rows", database_text())
    if connection.vendor == "sqlite":
        path = Path(connection.settings_dict["NAME"])
        for file in (path, path.with_name(path.name + "-wal")):
            found += leaks(file.name, file_bytes(file))
    assert not found, "secrets leaked:\n" + "\n".join(found)
