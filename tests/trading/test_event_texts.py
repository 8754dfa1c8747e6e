"""Event sentences in the reader's language, and the stored English whenever the sentence cannot be built."""

from __future__ import annotations

from django.utils import translation

from trading import event_texts


def test_a_sentence_reads_in_korean_and_its_english_is_the_stored_message():
    params = {"identifier": "ac-1", "status": "UNKNOWN"}
    message = event_texts.english("unsettled_order", **params)
    meta = {"text": event_texts.meta("unsettled_order", **params)}

    assert message == "order ac-1 is still UNKNOWN: its outcome must be known first"
    with translation.override("en"):
        assert event_texts.shown(message, meta) == message
    with translation.override("ko"):
        assert event_texts.shown(message, meta) == "주문 ac-1이(가) 아직 확인 중 상태입니다: 결과를 먼저 확인해야 합니다"


def test_an_event_without_a_usable_sentence_shows_its_message():
    with translation.override("ko"):
        assert event_texts.shown("plain", None) == "plain"
        assert event_texts.shown("plain", {"text": {"code": "no_such_sentence", "params": {}}}) == "plain"
        assert event_texts.shown("plain", {"text": {"code": "unsettled_order", "params": {"identifier": "x"}}}) == "plain"
        assert event_texts.shown("plain", {"text": "not a mapping"}) == "plain"
