"""Who may use the web's doors: staff accounts, the API's bearer token, loopback callers."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from django.conf import settings
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
