"""The client-side throttle: per-group sliding windows, server pauses, fairness across threads."""

from __future__ import annotations

import threading
import time

import pytest

from exchange.throttle import RemainingReq, Throttle, parse_remaining_req, safe_capacity
from tests.waiting import ManualClock as FakeClock


def max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(times):
        while times[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(("group", "limit"), [("ticker", 10), ("candle", 10), ("default", 30), ("order", 8)])
def test_burst_of_100_never_exceeds_the_published_per_second_limit(group, limit):
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)

    sent: list[float] = []
    for _ in range(100):
        throttle.acquire(group)
        sent.append(clock.now)

    assert max_in_any_window(sent, 1.0) < limit
    # ...and it is not needlessly slow: at least 75% of the published rate.
    elapsed = sent[-1] - sent[0]
    assert 99 / elapsed >= 0.75 * limit


def test_groups_do_not_share_a_window():
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)

    for _ in range(safe_capacity(10)):
        throttle.acquire("ticker")
    waited = throttle.acquire("candle")

    assert waited == 0
    assert throttle.reserve("ticker") > 0


def test_unknown_group_uses_the_exchange_default_window():
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)

    assert throttle.capacity("deposits") == throttle.capacity("default") == safe_capacity(30)


def test_batch_cancel_is_one_call_per_two_seconds():
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)

    throttle.acquire("order-cancel-all")
    waited = throttle.acquire("order-cancel-all")

    assert waited >= 2.0


def test_server_saying_second_is_spent_holds_the_group_for_a_full_second():
    clock = FakeClock(start=5000.3)
    throttle = Throttle(clock=clock, sleep=clock.sleep)

    throttle.observe(RemainingReq(group="order", sec=0, min=None))

    # The server's second boundary is unknown to the client: only a whole second is sure to pass it.
    assert 1.0 <= throttle.acquire("order") <= 1.1
    assert throttle.acquire("ticker") == 0  # other groups are unaffected


def test_remaining_calls_left_do_not_pause():
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)

    throttle.observe(RemainingReq(group="default", sec=3))

    assert throttle.acquire("default") == 0


def test_block_only_ever_extends_a_pause():
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)

    throttle.block("order", 2.0)
    throttle.block("order", 0.5)

    assert throttle.blocked_for("order") == pytest.approx(2.0)


def test_threads_share_one_window():
    window = 0.3
    throttle = Throttle(limits={"fast": 20}, window_sec=window)
    capacity = throttle.capacity("fast")
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(15):
            throttle.acquire("fast")
            with lock:
                sent.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(sent) == 60
    # 60 calls at `capacity` per window need at least three full windows after the first batch...
    assert max(sent) - started >= (60 - 1) // capacity * window
    # ...and the recorded times respect the window, allowing for thread scheduling delay.
    assert max_in_any_window(sent, window - 0.1) <= capacity


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("group=default; min=1800; sec=29", RemainingReq("default", 29, 1800)),
        ("group=order-test; sec=0", RemainingReq("order-test", 0, None)),
        ("group=market;min=573;sec=9", RemainingReq("market", 9, 573)),
        ("nonsense", None),
        (None, None),
    ],
)
def test_remaining_req_header_parsing(header, expected):
    assert parse_remaining_req(header) == expected
