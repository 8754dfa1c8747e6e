"""Who may use the web's doors, and for what: the console's permissions, the API's bearer token and the
user it acts as, loopback callers.

Every door (dashboard pages and their htmx endpoints, the JSON API, the admin) asks `user_can(user, perm)`
with one of the permissions below; superusers have them all. The groups that hand them out ("Viewers",
"Operators") are created by migration 0007.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy

VIEW_DASHBOARD = "trading.view_dashboard"
CONTROL_ENGINE = "trading.control_engine"
PLACE_MANUAL_ORDER = "trading.place_manual_order"
CANCEL_ORDER = "trading.cancel_order"
CHANGE_STRATEGY = "trading.change_strategyconfig"
RUN_BACKTEST = "trading.run_backtest"
EXPORT_DATA = "trading.export_data"

# What each permission lets a person do, in the words of a refusal ("this needs the permission to …").
PERMISSION_PURPOSE = {
    VIEW_DASHBOARD: gettext_lazy("view the dashboard and the read-only API"),
    CONTROL_ENGINE: gettext_lazy("start, stop and reset the engine"),
    PLACE_MANUAL_ORDER: gettext_lazy("place manual orders"),
    CANCEL_ORDER: gettext_lazy("cancel orders"),
    CHANGE_STRATEGY: gettext_lazy("change strategy parameters"),
    RUN_BACKTEST: gettext_lazy("run backtests"),
    EXPORT_DATA: gettext_lazy("export data"),
}
# The group that grants each permission: named in refusals so the person knows what to ask for.
GRANTING_GROUP = {perm: ("Viewers" if perm == VIEW_DASHBOARD else "Operators") for perm in PERMISSION_PURPOSE}


def user_can(user: Any, perm: str) -> bool:
    """The one question every door asks. Inactive accounts can do nothing; superusers can do everything."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.has_perm(perm))


def refusal_text(user: Any, perm: str) -> str:
    """A sentence for a signed-in person who lacks `perm`: who they are, what is missing, whom to ask."""
    return gettext(
        "Signed in as %(user)s, who may not %(purpose)s: that needs the permission %(perm)s. "
        "Ask the owner of this console to add the account to the %(group)s group."
    ) % {"user": user.get_username(), "purpose": PERMISSION_PURPOSE[perm], "perm": perm, "group": GRANTING_GROUP[perm]}


def api_refusal_text(user: Any, perm: str, *, via_token: bool) -> str:
    """The API's refusal (in English, like the rest of the API): whose account, what is missing, which group grants it."""
    name = user.get_username()
    who = f"The API token's user {name!r} (AUTOCOIN_API_USER)" if via_token else f"The user {name!r}"
    return f"{who} lacks the permission {perm}; add the account to the {GRANTING_GROUP[perm]} group (or give it that permission)"


class TokenUserUnavailable(Exception):
    """A valid API token whose configured user (AUTOCOIN_API_USER) is missing or inactive: refuse with 403."""


def token_user() -> Any:
    """The account a valid `AUTOCOIN_API_TOKEN` acts as: its permissions are the token's permissions."""
    username = settings.AUTOCOIN_API_USER
    user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    if user is None:
        raise TokenUserUnavailable(
            f"The API token acts as AUTOCOIN_API_USER={username!r}, but no such user exists; "
            "create it (e.g. in the admin, in the Viewers or Operators group) or change the setting"
        )
    if not user.is_active:
        raise TokenUserUnavailable(
            f"The API token acts as AUTOCOIN_API_USER={username!r}, but that account is inactive; "
            "reactivate it in the admin or change the setting"
        )
    return user


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
