"""The whole process at the simulated moment while a replay runs.

The engine and the paper exchange take their time from the clock they are given, but some rows are
stamped by Django itself: model fields with `default=timezone.now` (an Order's `ts`, which the cooldown
reads back; events; snapshots) and services that call `timezone.now()`. A replay of 2018 whose orders
were stamped with today's date would see every cooldown as not yet over. So for the length of the
replay `django.utils.timezone.now`, and every model field whose default is that function, read the
simulated clock instead; both are restored afterwards, also on an error.

It patches process-wide state: a replay runs in a process (and a database) of its own, or in a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.apps import apps
from django.utils import timezone


@contextmanager
def simulated_time(clock: Callable[[], datetime]) -> Iterator[None]:
    original = timezone.now
    fields: list[Any] = [
        field for model in apps.get_models() for field in model._meta.concrete_fields if field.default is original
    ]
    timezone.now = clock
    for field in fields:
        field.default = clock
        field.__dict__.pop("_get_default", None)  # Django caches the default's callable
    try:
        yield
    finally:
        timezone.now = original
        for field in fields:
            field.default = original
            field.__dict__.pop("_get_default", None)
