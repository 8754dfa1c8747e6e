"""The Korean dashboard and admin show the engine's stored sentences in Korean: the log panel, the manual
requests' results, the engine panel's error and kill-switch reason, and the admin's event list."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.korean_seed import seed_console, seed_engine_trouble
from tests.test_translations import _visible
from tests.trading.test_sentences_coverage import untranslated

pytestmark = pytest.mark.django_db


@pytest.fixture
def korean_client(admin_client):
    seed_console()
    seed_engine_trouble()
    admin_client.cookies["django_language"] = "ko"
    return admin_client


def _panel(client, name: str) -> str:
    response = client.get(reverse("panel", args=[name]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    return _visible(response.content.decode())


def test_the_korean_log_panel_has_no_english_sentence(korean_client):
    log = _panel(korean_client, "log")

    assert untranslated(log) == set(), log
    for korean in (
        "킬 스위치 발동: 거래소 호출이 3번 연속 실패했습니다",
        "업비트를 사용할 수 없습니다 (HTTP 503)",
        "autocoin 일일 요약",
    ):
        assert korean in log, korean


def test_the_korean_engine_panel_explains_the_error_and_the_kill_switch_in_korean(korean_client):
    engine = _panel(korean_client, "engine")
    risk = _panel(korean_client, "risk")

    assert "킬 스위치 발동: 거래소 호출이 3번 연속 실패했습니다" in engine
    assert "거래소 호출이 3번 연속 실패했습니다" in risk
    for text in (engine, risk):
        assert not re.search(r"exchange calls in a row|press Reset", text), text


def test_the_korean_manual_requests_show_their_results_in_korean(korean_client):
    manual = _panel(korean_client, "manual")

    for korean in (
        "주문 ac-20261121-0002: 체결",
        "차단됨: 매도할 것 없음",
        "만료됨: 120초 안에 실행되지 않음",
        "web:operator이(가) 취소함",
        "주문에 10005 KRW(총액 + 수수료)가 필요하지만",
    ):
        assert korean in manual, (korean, manual)
    assert untranslated(manual) == set(), manual


def test_the_korean_admin_event_list_has_no_english_sentence(korean_client):
    page = _visible(korean_client.get(reverse("admin:trading_engineevent_changelist")).content.decode())

    assert "킬 스위치 발동" in page
    assert untranslated(page) == set(), page


def test_the_english_pages_keep_the_stored_sentences(admin_client):
    seed_console()
    seed_engine_trouble()
    admin_client.cookies["django_language"] = "en"

    log = _panel(admin_client, "log")

    assert "Kill-switch tripped: 3 exchange calls in a row failed" in log
    assert "autocoin daily summary 2026-11-20" in log


def test_the_korean_admin_manual_requests_show_their_results_in_korean(korean_client):
    page = _visible(korean_client.get(reverse("admin:trading_manualorderrequest_changelist")).content.decode())

    for korean in ("주문 ac-20261121-0002: 체결", "만료됨: 120초 안에 실행되지 않음", "web:operator이(가) 취소함"):
        assert korean in page, korean
    assert untranslated(page) == set(), page
