"""Masking of secrets before anything is logged, raised, stored, sent or exported: the one list of secrets.

`mask_text` and `mask_secrets` are pure: they mask bearer tokens, JWTs, Slack/Discord/Telegram webhook
credentials, secret-named fields and the secret values they are given, and need no Django settings.
`configured_secrets` lists every configured secret (the values of `SECRET_SETTINGS`, the credential parts
of the webhook URL and the database passwords), read from the settings at each call;
`mask_configured_secrets` and `mask_configured_value` mask them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MASK = "***"

# Every setting whose value must never appear in a log line, an event, an error, a stored answer, a
# notification or an export. SECRET_KEY is DJANGO_SECRET_KEY.
SECRET_SETTINGS: tuple[str, ...] = (
    "UPBIT_ACCESS_KEY",
    "UPBIT_SECRET_KEY",
    "AUTOCOIN_API_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "SECRET_KEY",
    "NOTIFY_WEBHOOK_URL",
)

# URL settings whose path and query are a credential too (a Slack or Discord webhook is its path): an error
# message often carries only the path ("... with url: /services/T…/B…/…").
SECRET_URL_SETTINGS: tuple[str, ...] = ("NOTIFY_WEBHOOK_URL",)

MIN_SECRET_LENGTH = 4
"""Shorter values are never masked: replacing them would garble ordinary text and hide nothing."""

_SECRET_KEY_NAMES = re.compile(
    r"(secret|token|password|passwd|authorization|access_key|api_key|signature|jwt|cookie|session)", re.IGNORECASE
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-_.=+/]+", re.IGNORECASE)
_JWT_LIKE = re.compile(r"\beyJ[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+")
# Webhook and bot credentials by their well-known shapes, masked even when they are not the configured ones.
_CREDENTIAL_PATHS = re.compile(
    r"(/services/)T[A-Za-z0-9]{6,}/B[A-Za-z0-9]{6,}/[A-Za-z0-9]{12,}"  # Slack
    r"|(/api/webhooks/)\d{5,}/[A-Za-z0-9_\-]{20,}"  # Discord
    r"|(/bot)\d{5,}:[A-Za-z0-9_\-]{20,}"  # Telegram
)

_CREDENTIAL_MARKERS = ("/services/T", "/api/webhooks/", "/bot")


def _masked_credential_path(match: re.Match[str]) -> str:
    return next(prefix for prefix in match.groups() if prefix) + MASK


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace bearer tokens, JWTs, webhook credentials and every given secret value inside free text."""
    # Each pattern runs only where its literal part occurs.
    masked = text
    if "bearer" in masked.lower():
        masked = _BEARER.sub(lambda match: match.group(1) + MASK, masked)
    if "eyJ" in masked:
        masked = _JWT_LIKE.sub(MASK, masked)
    if any(marker in masked for marker in _CREDENTIAL_MARKERS):
        masked = _CREDENTIAL_PATHS.sub(_masked_credential_path, masked)
    return mask_values(masked, secrets)


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """Replace every given secret value (and nothing else) inside `text`: fast enough for megabytes of rows."""
    pieces, plan = _masking_plan(tuple(secrets))
    found = {piece for piece in pieces if piece in text}
    for secret, piece in plan:
        if piece in found:
            text = text.replace(secret, MASK)
    return text


@lru_cache(maxsize=64)
def _masking_plan(secrets: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The pieces to look for, and each secret (longest first, so a URL is masked whole before its path) with
    the shortest secret it contains: a text without that piece cannot hold the secret, so one search of the
    text rules out a URL, its path and its variants together."""
    usable = sorted({secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}, key=lambda s: (-len(s), s))
    plan = tuple((secret, min((other for other in usable if other in secret), key=len)) for secret in usable)
    return tuple(sorted({piece for _, piece in plan})), plan


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


def _token_like(segment: str) -> bool:
    """A path segment that looks like an id or a key rather than a word ("services", "webhooks", "hook")."""
    return len(segment) >= 20 or (len(segment) >= 8 and any(character.isdigit() for character in segment))


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that carry its credential: the URL, its path (with and without the query), the
    query, the password, and each token-looking path segment (Slack's T…/B…/key, Discord's id and token)."""
    if not url:
        return ()
    parsed = urlsplit(url)
    path = parsed.path.rstrip("/")
    parts = [url, path, path.lstrip("/"), parsed.query, parsed.password or ""]
    if parsed.query:
        parts += [f"{path}?{parsed.query}", *(pair.partition("=")[2] for pair in parsed.query.split("&"))]
    parts += [segment for segment in path.split("/") if _token_like(segment)]
    return tuple(part for part in parts if len(part) >= MIN_SECRET_LENGTH)


def _variants(secret: str) -> set[str]:
    """The secret as written, and as it appears percent-encoded in a URL or escaped inside JSON text."""
    return {secret, quote(secret, safe=""), quote(secret, safe="/:"), unquote(secret), json.dumps(secret)[1:-1]}


@lru_cache(maxsize=16)
def _expanded(values: tuple[tuple[str, str], ...], passwords: tuple[str, ...]) -> tuple[str, ...]:
    found: set[str] = set(passwords)
    for name, value in values:
        found.add(value)
        if name in SECRET_URL_SETTINGS:
            found.update(url_secrets(value))
    every = {variant for secret in found if secret for variant in _variants(secret)}
    return tuple(sorted((secret for secret in every if len(secret) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def configured_secrets() -> tuple[str, ...]:
    """Every configured secret, longest first: the values of `SECRET_SETTINGS` that are set, the credential
    parts of the webhook URL, and the password of each configured database. None outside a Django project."""
    try:
        values = tuple((name, str(getattr(settings, name, "") or "")) for name in SECRET_SETTINGS)
        databases: dict[str, dict[str, Any]] = getattr(settings, "DATABASES", {}) or {}
    except ImproperlyConfigured:
        return ()
    passwords = tuple(str(database.get("PASSWORD") or "") for database in databases.values())
    return _expanded(tuple((name, value) for name, value in values if value), tuple(p for p in passwords if p))


def mask_configured_secrets(text: str) -> str:
    """`mask_text` with every configured secret: for free text about to be logged, stored, sent or shown."""
    return mask_text(text, configured_secrets())


def mask_configured_value(value: Any) -> Any:
    """`mask_secrets` with every configured secret: for a JSON value (a row's meta or raw answer) about to be stored."""
    return mask_secrets(value, configured_secrets())
