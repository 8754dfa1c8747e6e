"""Every sentence the engine and the services store for a person (event messages, risk reasons, kill-switch
reasons, error texts, manual requests' results) reads in Korean on a Korean page: the inventory
(tests/trading/engine_messages.py) writes each kind with the real code, and each must come out with no English
word left but names, codes and data."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.utils import translation

from tests.korean_seed import ALLOWED_WORDS, english_words
from tests.trading.engine_messages import RAW_DETAILS, Written, event_function_names, inventory
from trading import sentences
from trading.event_texts import shown
from trading.strategies import STRATEGIES

pytestmark = pytest.mark.django_db

# Identifiers a Korean sentence keeps as they are: Upbit's error names in brackets, a quoted name, an API path,
# snake_case codes and setting names, exception class names, market codes, actors ("web:operator").
IDENTIFIERS = re.compile(
    r"\[[\w.-]+\]|'[^']*'|/v1/[\w/-]+|[\w-]*_[\w-]*|\b(?:[A-Z][a-z0-9]+){2,}\w*\b|\bKRW-[A-Z]+\b|\b(?:web|cli|admin|user):\w+"
)
# Strategies' parameter names, signal names, the launcher (an actor), a notification channel, Python's None and True as
# values, the acronym a person typed into a pause reason, and a strategy name that does not exist.
PARAMETER_NAMES = {spec.name for strategy in STRATEGIES.values() for spec in strategy.all_param_specs}
DATA_WORDS = (
    ALLOWED_WORDS | PARAMETER_NAMES | {"SIGTERM", "SIGKILL", "telegram", "None", "True", "FOMC", "launcher", "nonexistent"}
)
FIGURE = re.compile(r"-?[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?")


def untranslated(text: str) -> set[str]:
    """The English words left in `text` once identifiers, data and what is not ours to translate are set aside."""
    for raw in RAW_DETAILS:
        text = text.replace(raw, " ")
    return english_words(IDENTIFIERS.sub(" ", text), DATA_WORDS)


def korean_failures(written: Written) -> list[tuple[str, str, str, set[str]]]:
    failures = []
    seen: set[str] = set()
    with translation.override("ko"):
        for where, english, meta in written.rows:
            if english in seen:
                continue
            seen.add(english)
            korean = shown(english, meta)
            left = untranslated(korean)
            if left:
                failures.append((where, english, korean, left))
    return failures


@pytest.fixture
def written(settings) -> Written:
    settings.MAX_CONSECUTIVE_FAILURES = 3
    sentences._shown.cache_clear()
    return inventory()


def test_the_inventory_writes_every_kind_of_event(written):
    """A new function in trading/events.py must be added to the inventory, so its sentence is checked too."""
    assert event_function_names() - written.functions_called == set()
    assert len({english for _where, english, _meta in written.rows}) > 300


def test_every_stored_sentence_reads_in_korean(written):
    failures = korean_failures(written)

    assert failures == [], "\n\n".join(
        f"{where}: {english}\n  → {korean}\n  English left: {sorted(left)}" for where, english, korean, left in failures
    )


def test_the_korean_sentence_keeps_every_figure(written):
    """Recognised by shape, a sentence keeps its figures (one written with a sentence code shows its parameters)."""
    with translation.override("ko"):
        for where, english, meta in written.rows:
            if (meta or {}).get("text"):
                continue
            korean = shown(english, meta)
            missing = Counter(FIGURE.findall(english)) - Counter(FIGURE.findall(korean))
            assert not missing, (where, english, korean, missing)


def test_an_english_page_shows_the_stored_sentence_as_it_is(written):
    with translation.override("en"):
        for _where, english, meta in written.rows:
            if not (meta or {}).get("text"):
                assert shown(english, meta) == english


def test_a_missing_translation_is_caught(written, monkeypatch):
    """Take one shape's Korean away (as a catalogue without it would): its sentences are reported."""
    dropped = "Order %(identifier)s updated: %(before)s → %(status)s, %(fills)s new fill(s)"
    real_gettext = sentences.gettext
    monkeypatch.setattr(sentences, "gettext", lambda msgid: msgid if msgid == dropped else real_gettext(msgid))
    sentences._shown.cache_clear()

    failures = korean_failures(written)

    sentences._shown.cache_clear()
    assert [english for _where, english, _korean, _left in failures] == [
        "Order ac-20261121-0001 updated: WAIT → DONE, 1 new fill(s)"
    ]


def test_an_error_keeps_its_codes_and_status_around_the_translated_sentence():
    english = (
        "Order outcome unknown (RetryLater: [ReadTimeout] Upbit did not answer GET /v1/ticker in time (ReadTimeout)); "
        "no new order on KRW-BTC until it is found"
    )
    with translation.override("ko"):
        korean = sentences.shown_sentence(english)

    assert korean == (
        "주문 결과 불명 (RetryLater: [ReadTimeout] 업비트가 GET /v1/ticker에 제때 응답하지 않았습니다 (ReadTimeout)); "
        "확인될 때까지 KRW-BTC에 새 주문 없음"
    )


def test_a_kill_switch_reason_is_not_taken_for_a_count():
    """A shape that starts with a placeholder ("%(count)s exchange calls …") is tried after the fuller ones."""
    english = (
        "Kill-switch tripped: 3 exchange calls in a row failed (last: RetryLater: Upbit is unavailable (HTTP 503) "
        "(HTTP 503)); check the network and Upbit's status, then press Reset"
    )
    with translation.override("ko"):
        korean = sentences.shown_sentence(english)

    assert korean.startswith(
        "킬 스위치 발동: 거래소 호출이 3번 연속 실패했습니다 (마지막: RetryLater: 업비트를 사용할 수 없습니다"
    )
