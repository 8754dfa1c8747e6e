"""Pausing new entries: the services (pause, resume, market_offline, windows) and what the selectors make of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from exchange.exceptions import RetryLater
from trading import pause_services
from trading.models import EngineEvent, EngineState
from trading.pause_selectors import (
    MARKET_OFFLINE_HOLD,
    entries_block,
    entries_pause_samples,
    entries_pause_status,
    pause_windows_around,
)
from trading.schedule_models import PauseWindow

pytestmark = pytest.mark.django_db
SEOUL = ZoneInfo("Asia/Seoul")


def seoul(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SEOUL)


def window(label: str, starts: datetime, ends: datetime, **fields: object) -> PauseWindow:
    return pause_services.pause_window_save(
        window=PauseWindow(label=label, starts_at=starts, ends_at=ends, **fields), actor="admin:alice"
    )


def pause_events() -> list[EngineEvent]:
    return list(EngineEvent.objects.filter(meta__what="entries_pause").order_by("id"))


# --- a person's pause ---------------------------------------------------------------------------------
def test_pause_refuses_entries_and_records_who_and_why():
    change = pause_services.entries_pause(actor="user:alice", reason="FOMC tonight")

    assert change.changed
    assert change.paused
    state = EngineState.load()
    assert state.entries_paused
    assert state.entries_paused_by == "user:alice"
    block = entries_block(state, datetime(2026, 12, 1, tzinfo=UTC))
    assert block is not None
    assert block.rule == "entries_paused"
    assert block.cause == "manual"
    assert block.params == {"actor": "user:alice", "reason": "FOMC tonight"}
    [event] = pause_events()
    assert event.actor == "user:alice"
    assert event.message == "New entries paused by user:alice: FOMC tonight"
    assert event.meta["text"]["code"] == "entries_pause_set"


def test_a_double_pause_pauses_once_and_records_one_event():
    first = pause_services.entries_pause(actor="user:alice", reason="one")
    second = pause_services.entries_pause(actor="user:bob", reason="two")

    assert (first.changed, second.changed) == (True, False)
    assert EngineState.load().entries_paused_reason == "one"  # the first pause stands
    assert len(pause_events()) == 1


def test_resume_lets_entries_open_again_and_a_second_resume_changes_nothing():
    pause_services.entries_pause(actor="user:alice")
    assert pause_services.entries_resume(actor="user:bob").changed
    assert not pause_services.entries_resume(actor="user:bob").changed

    state = EngineState.load()
    assert not state.entries_paused
    assert entries_block(state, datetime(2026, 12, 1, tzinfo=UTC)) is None
    assert [event.meta["paused"] for event in pause_events()] == [True, False]
    assert pause_events()[-1].message == "New entries resumed by user:bob"


def test_a_pause_without_a_reason_says_a_person_paused():
    pause_services.entries_pause(actor="cli:root", reason="   ")
    assert EngineState.load().entries_paused_reason == "paused by a person"


# --- the schedule's windows, in Seoul time -------------------------------------------------------------
def test_a_window_starts_at_its_first_second_and_ends_before_its_last():
    window("Upbit maintenance", seoul(2026, 12, 3, 2, 0, 0), seoul(2026, 12, 3, 4, 0, 0))
    state = EngineState.load()

    assert entries_block(state, seoul(2026, 12, 3, 1, 59, 59)) is None
    started = entries_block(state, seoul(2026, 12, 3, 2, 0, 0))
    assert started is not None
    assert started.cause == "schedule"
    assert started.params == {"label": "Upbit maintenance", "starts": "2026-12-03 02:00:00", "ends": "2026-12-03 04:00:00"}
    assert entries_block(state, seoul(2026, 12, 3, 3, 59, 59)) is not None
    assert entries_block(state, seoul(2026, 12, 3, 4, 0, 0)) is None


def test_a_window_crossing_midnight_in_seoul_covers_both_days():
    window("FOMC", seoul(2026, 12, 10, 23, 30), seoul(2026, 12, 11, 1, 0))

    # 23:30 KST is 14:30 UTC the same day; 00:30 KST the next day is 15:30 UTC of the first day.
    assert pause_windows_around(datetime(2026, 12, 10, 14, 29, 59, tzinfo=UTC))[0] is None
    assert pause_windows_around(datetime(2026, 12, 10, 14, 30, tzinfo=UTC))[0] is not None
    assert pause_windows_around(seoul(2026, 12, 11, 0, 30))[0] is not None
    assert pause_windows_around(seoul(2026, 12, 11, 1, 0))[0] is None


def test_a_weekly_window_comes_back_at_the_same_seoul_time_and_the_next_one_is_named():
    # Thursdays 23:00 – 01:00 (Seoul), first on 2026-12-03.
    window("weekly check", seoul(2026, 12, 3, 23, 0), seoul(2026, 12, 4, 1, 0), repeats_weekly=True)

    current, upcoming = pause_windows_around(seoul(2026, 12, 18, 0, 15))  # two weeks later, after midnight
    assert current is not None
    assert current.starts_at == seoul(2026, 12, 17, 23, 0)
    assert current.ends_at == seoul(2026, 12, 18, 1, 0)
    assert upcoming is not None
    assert upcoming.starts_at == seoul(2026, 12, 24, 23, 0)
    assert pause_windows_around(seoul(2026, 12, 18, 1, 0))[0] is None
    before, first = pause_windows_around(seoul(2026, 12, 2, 23, 30))  # before its first turn
    assert before is None
    assert first is not None
    assert (first.starts_at, first.ends_at) == (seoul(2026, 12, 3, 23, 0), seoul(2026, 12, 4, 1, 0))


def test_disabled_and_past_windows_do_not_pause():
    window("old", seoul(2026, 1, 1, 0, 0), seoul(2026, 1, 1, 1, 0))
    window("off", seoul(2026, 12, 3, 0, 0), seoul(2026, 12, 4, 0, 0), enabled=False)

    assert pause_windows_around(seoul(2026, 12, 3, 12, 0)) == (None, None)


def test_a_window_must_end_after_it_starts_and_a_weekly_one_within_a_week():
    with pytest.raises(ValidationError, match="end must be after"):
        window("backwards", seoul(2026, 12, 3, 2, 0), seoul(2026, 12, 3, 2, 0))
    with pytest.raises(ValidationError, match="shorter than a week"):
        window("too long", seoul(2026, 12, 3, 0, 0), seoul(2026, 12, 10, 0, 0), repeats_weekly=True)
    assert not PauseWindow.objects.exists()


def test_saving_and_deleting_a_window_is_recorded():
    saved = window("maintenance", seoul(2026, 12, 3, 2, 0), seoul(2026, 12, 3, 4, 0))
    pause_services.pause_window_delete(window=saved, actor="admin:alice")

    changes = EngineEvent.objects.filter(kind="config_changed").order_by("id")
    assert [event.meta["new"] is None for event in changes] == [False, True]
    assert changes[0].meta["new"]["starts_at"] == "2026-12-03 02:00:00"  # shown in Seoul time
    assert changes[0].actor == "admin:alice"


def test_the_persons_pause_is_named_first_when_a_window_is_also_in_force():
    window("maintenance", seoul(2026, 12, 3, 2, 0), seoul(2026, 12, 3, 4, 0))
    pause_services.entries_pause(actor="user:alice", reason="manual")

    status = entries_pause_status(EngineState.load(), seoul(2026, 12, 3, 3, 0))
    assert status["entries_paused_cause"] == "manual"
    assert status["pause_window_current"]["label"] == "maintenance"


# --- Upbit's market_offline ------------------------------------------------------------------------------
def test_market_offline_refuses_entries_for_the_hold_and_is_recorded_once():
    now = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    error = RetryLater("the market is offline for maintenance", name="market_offline", status=403)

    assert pause_services.market_offline_record(error=error, step="order", now=now)
    assert not pause_services.market_offline_record(error=error, step="order", now=now + timedelta(seconds=30))

    state = EngineState.load()
    block = entries_block(state, now + timedelta(seconds=31))
    assert block is not None
    assert block.rule == "market_offline"
    assert entries_block(state, now + timedelta(seconds=30) + MARKET_OFFLINE_HOLD) is None  # the hold ran out
    offline = EngineEvent.objects.filter(meta__error_name="market_offline", meta__text__code="market_offline_order")
    assert offline.count() == 1
    assert offline.get().message.startswith("Market offline (Upbit maintenance) while placing an order")


def test_an_accepted_order_ends_the_market_offline_hold():
    now = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    pause_services.market_offline_record(error=RetryLater("x", name="market_offline"), step="market", now=now)

    assert pause_services.market_offline_clear()
    assert entries_block(EngineState.load(), now + timedelta(seconds=1)) is None
    assert not pause_services.market_offline_clear()


def test_the_metrics_gauges_follow_the_pause():
    state = EngineState.load()
    assert {name: value for name, _help, value in entries_pause_samples(state)}["entries_paused"] == 0
    pause_services.entries_pause(actor="user:alice")
    gauges = {name: value for name, _help, value in entries_pause_samples(EngineState.load())}
    assert gauges == {"entries_paused": 1, "entries_paused_by_person": 1, "pause_window_active": 0, "market_offline": 0}
