"""The web server's request lines without the dashboard's polls.

The dashboard polls a dozen panels every few seconds, so `runserver` (and `make run`) printed a line per poll:
most of the terminal was "GET /panels/… 204". `QuietPollsFilter`, on the "django.server" logger (LOGGING in
autocoin/settings.py), drops the lines of successful polls (a GET answered 2xx or 304 whose path starts with
one of QUIET_POLL_PREFIXES) unless LOG_POLLS is true (`runall --verbose` sets it). Every other request,
and every poll that failed (4xx, 5xx), is still printed.
"""

from __future__ import annotations

import logging

from django.conf import settings


def _request_line(record: logging.LogRecord) -> str:
    args = record.args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return ""


def is_quiet_poll(record: logging.LogRecord, prefixes: tuple[str, ...]) -> bool:
    """True for the line of a successful GET of a polled path: "GET /panels/engine HTTP/1.1" answered 204."""
    status = getattr(record, "status_code", None)
    if not isinstance(status, int) or not (200 <= status < 300 or status == 304):
        return False
    method, _, rest = _request_line(record).partition(" ")
    if method not in ("GET", "HEAD"):
        return False
    path = rest.split(" ", 1)[0]
    return path.startswith(prefixes)


class QuietPollsFilter(logging.Filter):
    """Drops successful poll lines from the server log unless settings.LOG_POLLS is true."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(settings, "LOG_POLLS", False):
            return True
        return not is_quiet_poll(record, tuple(getattr(settings, "QUIET_POLL_PREFIXES", ())))
