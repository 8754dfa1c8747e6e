"""Logging for the engine and web processes: readable text or JSON lines, thread names included, secrets masked.

The web process gets `MaskingFilter` and `MaskingFormatter` from `LOGGING` in autocoin/settings.py; the
engine process from `configure_logging`. Both mask the message, the traceback and the stack of every record.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import IO

from django.conf import settings
from django.utils.log import ServerFormatter

from exchange.redact import mask_configured_secrets

TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s"

_TRACEBACK_FORMATTER = logging.Formatter()


class MaskingFilter(logging.Filter):
    """Masks configured secret values and bearer tokens in every record before it is formatted: the message,
    and the traceback and stack (kept in `exc_text`/`stack_info`, which every formatter prints as they are)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_configured_secrets(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_configured_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_configured_secrets(record.stack_info)
        return True


class MaskingFormatter(logging.Formatter):
    """A text formatter whose whole output (message, traceback, stack) is masked, whatever filters ran."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_configured_secrets(super().format(record))


class MaskingServerFormatter(ServerFormatter):
    """Django's development-server request lines (coloured by status), masked: a URL may carry a token."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_configured_secrets(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "thread": record.threadName,
            "logger": record.name,
            "message": mask_configured_secrets(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = mask_configured_secrets(record.exc_text)
        if record.stack_info:
            payload["stack"] = mask_configured_secrets(record.stack_info)
        return json.dumps(payload, ensure_ascii=False)


def log_handler(fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """The engine's handler: text or JSON lines on `stream` (stderr by default), secrets masked."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else MaskingFormatter(TEXT_FORMAT))
    handler.addFilter(MaskingFilter())
    return handler


def configure_logging(fmt: str = "text") -> None:
    handler = log_handler(fmt)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.LOG_LEVEL)
