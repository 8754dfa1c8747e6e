"""Which exchange account a ledger row belongs to.

Orders, fills (through their order), balance snapshots, daily PnL and the decision memory are kept per
account, so a rehearsal against the sandbox and trading on Upbit never share a position, a loss limit or a
trailing peak. An account is "paper", or "live:<host[:port]>:<fingerprint>" for a live API: the host of the
API base URL and the first 12 hex digits of the SHA-256 of the access key. The key itself is never stored:
the fingerprint names it without revealing it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

PAPER_ACCOUNT = "paper"
# Live rows written before accounts existed: the key they were made with is unknown, so they form one
# ledger of their own rather than being attributed to whatever key is configured now.
LEGACY_LIVE_ACCOUNT = "live:legacy"
UPBIT_HOST = "api.upbit.com"
FINGERPRINT_LENGTH = 12
ACCOUNT_MAX_LENGTH = 128
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

# Where orders go, for the labels a person reads (docs/CONSOLE.md, "Paper, sandbox or live"):
PAPER_VENUE = "paper"  # simulated fills on this machine, real market prices
SANDBOX_VENUE = "sandbox"  # a live-mode API that is the bundled sandbox exchange: simulated, no real money
LIVE_VENUE = "live"  # a live-mode API that may move real money (Upbit, or anything not known to be the sandbox)
VENUES = (PAPER_VENUE, SANDBOX_VENUE, LIVE_VENUE)


def key_fingerprint(access_key: str) -> str:
    """The first hex digits of the access key's SHA-256: tells keys apart, cannot be turned back into one."""
    return hashlib.sha256(access_key.encode()).hexdigest()[:FINGERPRINT_LENGTH]


def api_host(base_url: str) -> str:
    """The host (and port, when given) of an API base URL, lower-cased."""
    parts = urlsplit(base_url.strip() if "//" in base_url else "//" + base_url.strip())
    return parts.netloc.lower().rsplit("@", 1)[-1]  # never a user:password written into the URL


def account_for(*, paper: bool, base_url: str, access_key: str) -> str:
    """The account name for a paper exchange, or for a live API at `base_url` used with `access_key`."""
    if paper:
        return PAPER_ACCOUNT
    account = f"live:{api_host(base_url)}:{key_fingerprint(access_key)}"
    return account[:ACCOUNT_MAX_LENGTH]


def host_is_loopback(host: str) -> bool:
    """True for an API host (with or without its port) on this machine: 127.0.0.1, localhost or [::1]."""
    if host.startswith("[::1]"):
        return True
    return host.split(":", 1)[0] in LOOPBACK_HOSTS


def venue_for(*, paper: bool, base_url: str, sandbox_declared: bool = False) -> str:
    """ "paper", "sandbox" or "live": whether orders under these settings can move real money.

    Live mode is the sandbox when its API base is on this machine (127.0.0.1, localhost, [::1]: the bundled
    sandbox listens there, and `make demo` points the engine at it), or when the owner declares it
    (UPBIT_SANDBOX=true, for a sandbox on another host). Upbit's own API host is always live, whatever is
    declared, and so is any other host not known to be the sandbox: a label must never understate the risk."""
    if paper:
        return PAPER_VENUE
    host = api_host(base_url)
    if host.split(":", 1)[0] == UPBIT_HOST:
        return LIVE_VENUE
    if host_is_loopback(host) or sandbox_declared:
        return SANDBOX_VENUE
    return LIVE_VENUE


def mode_of(account: str) -> str:
    """ "paper" or "live": the mode an account trades in."""
    return "paper" if account == PAPER_ACCOUNT else "live"


@dataclass(frozen=True)
class AccountParts:
    """An account name taken apart for display: `host` and `fingerprint` are empty for paper and legacy."""

    mode: str
    host: str = ""
    fingerprint: str = ""

    @property
    def legacy(self) -> bool:
        return self.mode == "live" and not self.host

    @property
    def sandbox(self) -> bool:
        """A live API on this machine: the sandbox exchange (or something pretending to be Upbit)."""
        return host_is_loopback(self.host)


def account_parts(account: str) -> AccountParts:
    if account == PAPER_ACCOUNT or not account.startswith("live:"):
        return AccountParts(mode=mode_of(account))
    host, _, fingerprint = account[len("live:") :].rpartition(":")
    if not host:
        return AccountParts(mode="live")
    return AccountParts(mode="live", host=host, fingerprint=fingerprint)
