"""Who may use the web's doors: staff accounts, the API's bearer token, loopback callers."""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def user_is_operator(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def bearer_token_valid(request: HttpRequest) -> bool | None:
    """True/False for a presented bearer token; None when none was presented."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _sep, token = header.partition(" ")
    configured = settings.AUTOCOIN_API_TOKEN
    if scheme.lower() != "bearer" or not configured:
        return False
    return hmac.compare_digest(token.strip().encode(), configured.encode())


def is_loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------------
# The caller's address, and wrong bearer tokens counted per address (login throttling: docs/SECURITY.md)
# ---------------------------------------------------------------------------------------------------
def client_address(request: HttpRequest) -> str:
    """The caller's IP address; behind the HTTPS proxy, the last X-Forwarded-For entry (the one it appended)."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if settings.HTTPS and is_loopback(request):
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", "")).rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            return remote
    return remote


def _token_failure_keys(request: HttpRequest) -> tuple[str, str]:
    base = f"autocoin:bearer-failures:{client_address(request)}"
    return f"{base}:count", f"{base}:since"


def bearer_token_blocked_for(request: HttpRequest) -> int:
    """Seconds before this address's bearer tokens are looked at again (0: not blocked, or no token sent)."""
    if not request.headers.get("Authorization"):
        return 0
    count_key, since_key = _token_failure_keys(request)
    if (cache.get(count_key) or 0) < settings.API_TOKEN_FAILURE_LIMIT:
        return 0
    window = settings.LOGIN_LOCKOUT_MINUTES * 60
    since = cache.get(since_key)
    left = window if since is None else since + window - time.time()
    return max(1, math.ceil(left))


def bearer_token_failure_record(request: HttpRequest) -> None:
    """Count one wrong bearer token for the caller's address; the count lives for LOGIN_LOCKOUT_MINUTES."""
    count_key, since_key = _token_failure_keys(request)
    window = settings.LOGIN_LOCKOUT_MINUTES * 60
    cache.add(since_key, time.time(), window)
    if cache.add(count_key, 1, window):
        return
    try:
        cache.incr(count_key)
    except ValueError:  # expired between the add and the incr: this failure starts a new window
        cache.add(count_key, 1, window)
