"""Masking of secrets before anything is logged, raised or stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

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
