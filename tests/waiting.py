"""Wait for a condition instead of sleeping: a test proceeds the moment the thing it waits for has happened,
and a timeout fails with a message that says what never happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str | Callable[[], str] = "the condition never held",
) -> T:
    """Call `predicate` until it returns something truthy and return that; raise AssertionError after `timeout` seconds.

    `message` (or what it returns, read only on failure) explains what was being waited for. The predicate may
    raise AssertionError itself (e.g. a process that exited early): that propagates at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g} s: {detail}")
        time.sleep(interval)


class ManualClock:
    """Monotonic seconds that move only when the test says (`advance`, or `sleep` where code under test sleeps)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    sleep = advance
