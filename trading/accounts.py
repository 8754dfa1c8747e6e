"""The exchange account a ledger belongs to, named for people (the dashboard, the admin, the API).

The account itself is computed in one place, `exchange.factory.account_current()`, from the settings the
engine's exchange is built from; see exchange/account.py for what the name holds (never the key itself).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext

from exchange.account import LEGACY_LIVE_ACCOUNT, PAPER_ACCOUNT, VENUES, account_parts, venue_for
from exchange.factory import account_current as account_current

# Enough of the fingerprint to tell keys apart at a glance; the admin's account column shows it whole.
SHOWN_FINGERPRINT = 6


def account_label(account: str) -> str:
    """E.g. "paper", "live · api.upbit.com · key 3fa9c1…", "live · sandbox 127.0.0.1:8765 · key 3fa9c1…"."""
    parts = account_parts(account)
    if parts.mode == "paper":
        return gettext("paper")
    if parts.legacy:
        return gettext("live · recorded before accounts (key unknown)")
    names = {"host": parts.host, "key": parts.fingerprint[:SHOWN_FINGERPRINT] + "…"}
    if parts.sandbox:
        return gettext("live · sandbox %(host)s · key %(key)s") % names
    return gettext("live · %(host)s · key %(key)s") % names


def account_choices() -> list[tuple[str, str]]:
    """The accounts a person is likely to look for (the current one first), without asking the database."""
    accounts = dict.fromkeys((account_current(), PAPER_ACCOUNT, LEGACY_LIVE_ACCOUNT))
    return [(account, account_label(account)) for account in accounts]


def venue_current() -> str:
    """ "paper", "sandbox" or "live" under the current settings (the rule: exchange/account.py, venue_for)."""
    return venue_for(paper=settings.PAPER_MODE, base_url=settings.UPBIT_API_BASE, sandbox_declared=settings.UPBIT_SANDBOX)


def venue_metric_text() -> str:
    """The /metrics lines naming the venue, so an alert on real-money trading never fires for the sandbox."""
    venue = venue_current()
    lines = [
        "# HELP autocoin_venue 1 for where orders go: paper, sandbox (simulated exchange, no real money) or live (real money).",
        "# TYPE autocoin_venue gauge",
        *(f'autocoin_venue{{venue="{name}"}} {int(name == venue)}' for name in VENUES),
    ]
    return "\n".join(lines) + "\n"
