"""Who may use the web's doors, and for what: the console's permissions, the API's bearer token and the
user it acts as, loopback callers.

Every door (dashboard pages and their htmx endpoints, the JSON API, the admin) asks `user_can(user, perm)`
with one of the permissions below; superusers have them all. The groups that hand them out ("Viewers",
"Operators") are created by migration 0007.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import math
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connections, router
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


class PermissionsBackend(ModelBackend):
    """Django's ModelBackend, reading a user's own and group permissions in one query instead of two.

    Every request asks `user_can`, so the permission read is part of every request's fixed cost. The
    answers are Django's own: inactive and anonymous users have none, superusers have every permission,
    and the sets are kept on the user object (`_user_perm_cache`, `_group_perm_cache`, `_perm_cache`),
    so one request reads them once and a new request (a new user object) sees any change.
    """

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if not (hasattr(user_obj, "_user_perm_cache") and hasattr(user_obj, "_group_perm_cache")):
                self._permissions_load(user_obj)
            user_obj._perm_cache = {*user_obj._user_perm_cache, *user_obj._group_perm_cache}
        cached: set[str] = user_obj._perm_cache
        return cached

    def _permissions_load(self, user_obj: Any) -> None:
        """Fill the per-user sets that Django's `get_user_permissions`/`get_group_permissions` keep, in one query."""
        own: set[str] = set()
        grouped: set[str] = set()
        if user_obj.is_superuser:
            every = Permission.objects.values_list("content_type__app_label", "codename").order_by()
            own = {f"{app}.{codename}" for app, codename in every}
            grouped = set(own)
        else:
            alias = router.db_for_read(Permission)
            with connections[alias].cursor() as cursor:
                cursor.execute(_permissions_sql(alias), [user_obj.pk, user_obj.pk])
                for app, codename, from_group in cursor.fetchall():
                    (grouped if from_group else own).add(f"{app}.{codename}")
        # A set read earlier for this user object (get_user_permissions, get_group_permissions) is kept as it was.
        if not hasattr(user_obj, "_user_perm_cache"):
            user_obj._user_perm_cache = own
        if not hasattr(user_obj, "_group_perm_cache"):
            user_obj._group_perm_cache = grouped


@functools.cache
def _permissions_sql(alias: str) -> str:
    """A user's own permissions (0) and their groups' permissions (1) as (app_label, codename, from_group) rows.

    Written out once from the models' tables: built by the ORM, this union cost more to compile on every
    request than the database took to answer it.
    """
    user_model = get_user_model()
    user_field = str(user_model._meta.model_name)
    own = user_model._meta.get_field("user_permissions").remote_field.through
    membership = user_model._meta.get_field("groups").remote_field.through
    granted = Group._meta.get_field("permissions").remote_field.through
    quote = connections[alias].ops.quote_name

    def table(model: Any, name: str) -> str:
        return f"{quote(model._meta.db_table)} {name}"

    def column(name: str, model: Any, field: str) -> str:
        return f"{name}.{quote(model._meta.get_field(field).column)}"

    def permissions_of(link: Any, from_group: int) -> str:
        # Only table and column names from the models, quoted by the backend: no value is written into the text.
        permission, content_type = table(Permission, "p"), table(ContentType, "ct")
        return (
            f"SELECT {column('ct', ContentType, 'app_label')}, {column('p', Permission, 'codename')}, {from_group}"  # noqa: S608
            f" FROM {table(link, 'link')}"
            f" INNER JOIN {permission} ON {column('p', Permission, 'id')} = {column('link', link, 'permission')}"
            f" INNER JOIN {content_type} ON {column('ct', ContentType, 'id')} = {column('p', Permission, 'content_type')}"
        )

    user_own = f"{permissions_of(own, 0)} WHERE {column('link', own, user_field)} = %s"
    user_groups = (
        f"{permissions_of(granted, 1)} INNER JOIN {table(membership, 'ug')}"
        f" ON {column('ug', membership, 'group')} = {column('link', granted, 'group')}"
        f" WHERE {column('ug', membership, user_field)} = %s"
    )
    return f"{user_own} UNION ALL {user_groups}"


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
