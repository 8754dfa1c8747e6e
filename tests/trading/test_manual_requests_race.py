"""A cancel and the engine's claim sent at the same instant from two connections: exactly one wins, every time."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests.factories import ManualOrderRequestFactory
from trading import manual_requests
from trading.errors import ManualRequestNotCancellable
from trading.models import EngineEvent, ManualOrderRequest

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 20


def _claim(pk: int) -> bool:
    return manual_requests.manual_order_request_claim(request=ManualOrderRequest.objects.get(pk=pk))


def _cancel(pk: int) -> bool:
    try:
        manual_requests.manual_order_request_cancel(request_id=pk, actor="user:alice")
    except ManualRequestNotCancellable:
        return False
    return True


def _in_thread(name: str, work, pk: int, barrier: threading.Barrier, results: dict[str, bool]) -> threading.Thread:
    def run() -> None:
        try:
            barrier.wait(timeout=30)
            results[name] = work(pk)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_cancel_and_claim_at_once_have_exactly_one_winner():
    outcomes = []
    for _ in range(ROUNDS):
        request = ManualOrderRequestFactory()
        results: dict[str, bool] = {}
        barrier = threading.Barrier(2)
        threads = [
            _in_thread("claim", _claim, request.pk, barrier, results),
            _in_thread("cancel", _cancel, request.pk, barrier, results),
        ]
        for thread in threads:
            thread.join(60)
        status = ManualOrderRequest.objects.get(pk=request.pk).status
        assert results["claim"] != results["cancel"], (results, status)
        assert status == (ManualOrderRequest.Status.PROCESSING if results["claim"] else ManualOrderRequest.Status.CANCELLED)
        outcomes.append(status)
    # Every cancel that won left its event; none that lost did.
    assert EngineEvent.objects.filter(meta__action="cancel_manual").count() == outcomes.count(ManualOrderRequest.Status.CANCELLED)
