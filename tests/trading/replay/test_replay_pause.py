"""The replay and paused entries: a person's pause is the live engine's, a stored pause window applies by the
simulated clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.trading.replay.test_runner import CLOSES, T0, _config
from trading import pause_services
from trading.replay.runner import replay_run
from trading.schedule_models import PauseWindow

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_persons_pause_does_not_hold_back_the_replay():
    pause_services.entries_pause(actor="user:alice", reason="live only")

    result = replay_run(_config())

    assert [trade.side for trade in result.trades] == ["buy", "sell"]


def test_a_pause_window_over_the_entry_holds_it_back_by_the_simulated_clock():
    PauseWindow.objects.create(
        label="FOMC", starts_at=T0 + timedelta(hours=3, minutes=30), ends_at=T0 + timedelta(hours=len(CLOSES))
    )

    result = replay_run(_config())

    assert result.trades == []
