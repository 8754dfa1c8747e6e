"""Masking of secrets before anything is logged, raised or stored.

`mask_text` and `mask_secrets` are pure: they mask bearer tokens, JWTs, secret-named fields and the
secret values they are given, and need no Django settings. `configured_secrets` and
`mask_configured_secrets` add the values of `SECRET_SETTINGS`, read from the settings at each call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MASK = "***"

# Every setting whose value must never appear in a log line, an event, an error or a stored answer.
SECRET_SETTINGS: tuple[str, ...] = (
    "UPBIT_ACCESS_KEY",
    "UPBIT_SECRET_KEY",
    "AUTOCOIN_API_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "SECRET_KEY",
)

_SECRET_KEY_NAMES = re.compile(
    r"(secret|token|password|passwd|authorization|access_key|api_key|signature|jwt|cookie|session)", re.IGNORECASE
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-_.=+/]+", re.IGNORECASE)
_JWT_LIKE = re.compile(r"\beyJ[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+")


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace bearer tokens, JWTs and every given secret value inside free text."""
    masked = _BEARER.sub(lambda match: match.group(1) + MASK, text)
    masked = _JWT_LIKE.sub(MASK, masked)
    for secret in secrets:
        if secret and len(secret) >= 4:
            masked = masked.replace(secret, MASK)
    return masked


def mask_secrets(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A deep copy of `value` with secret-named fields and known secret values masked."""
    secret_values = tuple(secret for secret in secrets if secret)
    if isinstance(value, dict):
        return {
            key: (
                MASK
                if isinstance(key, str) and _SECRET_KEY_NAMES.search(key) and item not in (None, "")
                else mask_secrets(item, secret_values)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item, secret_values) for item in value]
    if isinstance(value, str):
        return mask_text(value, secret_values)
    return value


def configured_secrets() -> tuple[str, ...]:
    """The values of `SECRET_SETTINGS` that are set; none outside a configured Django project."""
    try:
        values = [getattr(settings, name, "") for name in SECRET_SETTINGS]
    except ImproperlyConfigured:
        return ()
    return tuple(value for value in values if value)


def mask_configured_secrets(text: str) -> str:
    """`mask_text` with every configured secret: for free text about to be logged, stored or shown."""
    return mask_text(text, configured_secrets())
