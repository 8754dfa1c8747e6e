"""Log lines of both processes never carry a configured secret: not in the message, not in a traceback."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.conf import settings as django_settings

from exchange.redact import MASK
from trading.engine.logs import JsonFormatter, MaskingFilter, log_handler

TOKEN = "log-api-token-0123456789abcdef"


@pytest.fixture
def logger(settings):
    settings.AUTOCOIN_API_TOKEN = TOKEN
    logger = logging.getLogger("tests.masking")
    logger.propagate = False
    yield logger
    logger.handlers.clear()
    logger.propagate = True


def fail() -> None:
    raise RuntimeError(f"the exchange said {TOKEN}")


def log_failure(logger: logging.Logger) -> None:
    try:
        fail()
    except RuntimeError:
        logger.exception("cycle failed with %s", TOKEN, stack_info=True)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_engine_handler_masks_the_message_the_traceback_and_the_stack(logger, fmt):
    stream = io.StringIO()
    logger.addHandler(log_handler(fmt, stream))

    log_failure(logger)

    output = stream.getvalue()
    assert TOKEN not in output
    assert "Traceback" in output
    assert f"RuntimeError: the exchange said {MASK}" in (json.loads(output)["exc"] if fmt == "json" else output)


def test_the_filter_alone_masks_the_traceback_for_any_formatter(logger):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)

    log_failure(logger)

    assert TOKEN not in stream.getvalue()
    assert f"cycle failed with {MASK}" in stream.getvalue()


def test_the_json_formatter_alone_masks_the_message_and_the_traceback(logger):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)

    log_failure(logger)

    line = json.loads(stream.getvalue())
    assert line["message"] == f"cycle failed with {MASK}"
    assert TOKEN not in line["exc"]
    assert TOKEN not in line["stack"]


def test_every_handler_of_the_web_process_masks_with_the_filter_and_its_formatter():
    config = django_settings.LOGGING
    formatters = config["formatters"]

    for name, handler in config["handlers"].items():
        assert "mask_secrets" in handler["filters"], name
        assert formatters[handler["formatter"]]["()"].startswith("trading.engine.logs.Masking"), name
    # Django's own loggers are named, so its unmasked default handlers are replaced.
    assert {"django", "django.server"} <= set(config["loggers"])
