"""Bursts against a real threaded HTTP server while an engine-like writer works the same database:
no 500, no "database is locked", and every accepted manual order exists exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
import requests
from django.utils import timezone

from tests.web.conftest import API_TOKEN
from trading import events, services
from trading.models import EngineState, ManualOrderRequest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

THREADS = 120
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def _engine_writer(stop: threading.Event) -> None:
    """What `runengine` writes between cycles: heartbeats, events, and finishing a requested stop."""
    from django.db import connection

    try:
        while not stop.is_set():
            EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(owner="burst:1", heartbeat_at=timezone.now())
            events.event_record(kind="cycle", message="cycle finished", actor="engine")
            try:
                services.engine_stop_complete(actor="engine")
            except services.TransitionNotAllowed:
                pass
            time.sleep(0.01)
    finally:
        connection.close()


def _call(base: str, index: int, results: list, barrier: threading.Barrier) -> None:
    session = requests.Session()
    kind = index % 6
    barrier.wait()
    for attempt in range(5):  # a refused connection (full listen queue) is retried, as any client would
        try:
            if kind in (0, 1):
                body = json.dumps({"side": "buy", "krw": str(5000 + index)})
                response = session.post(
                    f"{base}/api/orders/manual", data=body, headers={**AUTH, "Content-Type": "application/json"}, timeout=60
                )
            elif kind == 2:
                action = ("start", "stop", "reset")[index % 3]
                response = session.post(f"{base}/api/engine/{action}", headers=AUTH, timeout=60)
            else:
                path = ("/api/engine/status", "/api/orders/recent?limit=500", "/api/logs/recent?limit=200")[kind - 3]
                response = session.get(f"{base}{path}", headers=AUTH, timeout=60)
        except requests.ConnectionError:
            time.sleep(0.2 * (attempt + 1))
            continue
        results[index] = (kind, response.status_code, response.text)
        return
    results[index] = (kind, -1, "connection refused five times")


def test_a_burst_of_mixed_requests(live_server, settings, api_user):
    settings.AUTOCOIN_API_TOKEN = API_TOKEN
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=EngineState.State.RUNNING)
    stop = threading.Event()
    writer = threading.Thread(target=_engine_writer, args=(stop,))
    writer.start()
    results: list = [None] * THREADS
    barrier = threading.Barrier(THREADS)
    threads = [threading.Thread(target=_call, args=(live_server.url, i, results, barrier)) for i in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        stop.set()
        writer.join(30)

    statuses = Counter((kind, status) for kind, status, _text in results)
    assert all(status in (200, 202, 409) for (_kind, status) in statuses), statuses
    assert not any("locked" in text for _kind, _status, text in results)
    accepted = [json.loads(text)["data"]["id"] for kind, status, text in results if kind in (0, 1) and status == 202]
    # A manual order is refused (409) whenever the burst's own Stop has left the engine not RUNNING.
    refused = [json.loads(text)["error"]["code"] for kind, status, text in results if kind in (0, 1) and status == 409]
    assert set(refused) <= {"engine_not_running"}
    assert len(accepted) + len(refused) == len([i for i in range(THREADS) if i % 6 in (0, 1)])
    stored = list(ManualOrderRequest.objects.values_list("pk", flat=True))
    assert sorted(stored) == sorted(accepted)  # each exactly once, none without an answer
    # Concurrent Starts: at most one transition per state change; every other was a clean 409.
    assert statuses[(2, 409)] + statuses[(2, 200)] == len([i for i in range(THREADS) if i % 6 == 2])
