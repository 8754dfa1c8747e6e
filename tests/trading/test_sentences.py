"""Stored English sentences (strategies' explanations, the engine's event messages) are shown in the reader's
language, with the same figures, while the stored text stays English."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import translation

from tests.korean_seed import EXPLANATIONS, english_words, seed_console
from tests.trading.strategies.test_strategies import real_hourly_candles
from trading import sentences
from trading.event_texts import shown
from trading.models import EngineEvent
from trading.strategies import STRATEGIES, Position, Reason
from trading.strategies.indicators import CandleArrays
from trading.strategies.protective import ProtectiveExit

FIGURE = re.compile(r"-?[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?")


def korean(text: str) -> str:
    with translation.override("ko"):
        return sentences.shown_sentence(text)


def test_every_explanation_the_strategies_write_reads_in_korean_with_the_same_figures():
    candles = real_hourly_candles()
    arrays = CandleArrays.from_candles(candles)
    holding = Position(volume=Decimal("0.001"), avg_buy_price=candles[100].close)
    seen = 0
    for strategy in STRATEGIES.values():
        prepared = strategy.prepare(arrays, {})
        for position in (None, holding):
            for index in range(0, len(candles), 5):
                english = strategy.decide(prepared, index, position).explanation
                shown = korean(english)
                seen += 1

                assert english_words(shown) == set(), (english, shown)
                assert sorted(FIGURE.findall(shown)) == sorted(FIGURE.findall(english)), (english, shown)
    assert seen > 2000


@pytest.mark.parametrize("rule", [Reason.STOP_LOSS, Reason.TAKE_PROFIT, Reason.TRAILING_STOP, Reason.ATR_STOP])
@pytest.mark.parametrize("atr_trailing", [True, False])
def test_protective_exits_read_in_korean(rule, atr_trailing):
    exit_ = ProtectiveExit(reason=rule, price=95.0, level=96.0, avg_buy_price=100.0, peak=110.0, atr=2.5)
    params = {"stop_loss_pct": Decimal("3"), "take_profit_pct": Decimal("5"), "trailing_stop_pct": Decimal("2")}
    english = exit_.decision(params | {"atr_stop_mult": Decimal("2"), "atr_trailing": atr_trailing}).explanation

    shown = korean(english)

    assert shown.startswith("매도 ("), shown
    assert english_words(shown) == set(), shown
    assert sorted(FIGURE.findall(shown)) == sorted(FIGURE.findall(english))


def test_the_seed_explanations_and_events_read_in_korean(db):
    seed_console()

    for english in EXPLANATIONS:
        assert english_words(korean(english)) == set(), korean(english)
    with translation.override("ko"):
        shown_events = {event.kind: shown(event.message, event.meta) for event in EngineEvent.objects.all()}

    assert shown_events["state_changed"] == "대기 → 실행 중 (admin:operator): 관리 화면에서 시작을 누름"
    assert shown_events["fill"] == "체결: KRW-BTC 매수 0.001 @ 100,000,000 KRW (수수료 5 KRW)"
    assert shown_events["order_intent"] == "주문 의도: KRW-BTC 시장가 매수 10,000 KRW (macd의 매수: 진입)"
    assert shown_events["risk_blocked"].startswith("리스크 게이트가 전략의 매수 주문을 차단: 쿨다운: 마지막 매수 주문이 12초 전")
    assert shown_events["risk_blocked"].endswith("; 코인이 자산의 35.00%가 됨 (한도 30%)")
    for text in shown_events.values():
        assert english_words(text) <= {"testhost"}, text


def test_english_readers_see_the_stored_text_untouched(db):
    seed_console()

    with translation.override("en"):
        for event in EngineEvent.objects.all():
            assert shown(event.message, event.meta) == event.message
        for english in EXPLANATIONS:
            assert sentences.shown_sentence(english) == english


def test_an_unknown_sentence_is_shown_as_stored():
    stored = "Upbit says: insufficient_funds_bid (the account has 3,000 KRW)"

    assert korean(stored) == stored
    assert korean("") == ""


def test_a_shape_never_swallows_the_next_part_of_an_explanation():
    """The MACD shape's first placeholder must not take "HOLD: warming up …; " in with it."""
    english = (
        "HOLD: warming up, 8 of 175 candles needed before an entry; MACD(12,26,9) line 18,511.99 is above its signal "
        "5.00 (histogram +18,506.99), no cross"
    )

    assert korean(english) == (
        "관망: 준비 중, 진입 전에 필요한 캔들 175개 중 8개; MACD(12,26,9) 선 18,511.99이(가) 시그널 5.00 위 "
        "(히스토그램 +18,506.99), 교차 없음"
    )


def test_a_sentence_with_a_semicolon_of_its_own_is_kept_whole():
    english = "Order outcome unknown (TimeoutError: read timed out); no new order on KRW-BTC until it is found"

    assert korean(english) == "주문 결과 불명 (TimeoutError: read timed out); 확인될 때까지 KRW-BTC에 새 주문 없음"


def test_every_shape_has_distinct_placeholders_in_its_translation():
    with translation.override("ko"):
        for template in sentences.compiled_templates():
            names = set(re.findall(r"%\((\w+)\)s", template.msgid))
            assert set(re.findall(r"%\((\w+)\)s", translation.gettext(template.msgid))) == names, template.msgid
