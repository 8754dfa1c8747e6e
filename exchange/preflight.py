"""The live pre-flight: can this installation trade on Upbit right now? Asked before live trading starts.

Each check asks Upbit one thing and answers in plain words what is wrong and how to fix it:

1. the keys are set;
2. Upbit accepts them (`GET /v1/accounts`: an unknown key, a wrong secret, an IP not on the key's list,
   a missing permission, an expired key each have their own sentence);
3. the key's expiry (`GET /v1/api_keys`);
4. the market exists and is open for trading (`GET /v1/orders/chance`, which also needs 주문조회);
5. the free KRW covers the minimum order plus its fee;
6. a minimum market buy passes Upbit's own checks (`POST /v1/orders/test`, which needs 주문하기 and places nothing).

Nothing here places an order or prints a key. The command `checklive` and the dashboard's check button
both call `live_preflight`; it is the one place the web process reaches the exchange (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange.exceptions import ExchangeError, InvalidRequest, OrderRejected, RetryLater, StopTrading
from exchange.rules import DEFAULT_FEE_RATE, KRW_MIN_ORDER_TOTAL, fee_for
from exchange.types import OrderChance, OrderRequest
from exchange.upbit import UpbitClient

EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the pre-flight: what was checked, whether it passed, and plain words about it."""

    name: str
    ok: bool
    text: str

    @property
    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.text}"


def _key_problem(error: ExchangeError) -> str:
    """Upbit's refusal of the key, in words that say what to change and where."""
    texts: dict[str, Callable[[], str]] = {
        "invalid_access_key": lambda: _(
            "Upbit does not know this access key (invalid_access_key): copy UPBIT_ACCESS_KEY again from Upbit's "
            "Open API management page (마이페이지 → Open API 관리)."
        ),
        "jwt_verification": lambda: _(
            "Upbit could not verify the signature (jwt_verification): UPBIT_SECRET_KEY is not the secret issued with "
            "this access key; copy it again, without spaces."
        ),
        "no_authorization_ip": lambda: _(
            "This computer's IP address is not on the key's allowed list (no_authorization_ip): add its public IP to "
            "the key on Upbit's Open API management page."
        ),
        "out_of_scope": lambda: _(
            "The key lacks a permission (out_of_scope): enable 자산조회 (view assets), 주문조회 (view orders) and "
            "주문하기 (place orders) for it on Upbit's Open API management page."
        ),
        "expired_access_key": lambda: _(
            "The key has expired (expired_access_key): Upbit keys last one year; issue a new one and update "
            "UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY."
        ),
    }
    chosen = texts.get(error.name)
    if chosen is not None:
        return chosen()
    if isinstance(error, RetryLater):
        return _("Upbit could not be reached or did not answer (%(error)s): check the network and try again.") % {"error": error}
    return _("Upbit refused the call (%(error)s).") % {"error": error}


def _keys_set(client: UpbitClient) -> Check:
    if client.has_keys:
        return Check("keys_set", True, _("UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY are set."))
    return Check(
        "keys_set",
        False,
        _(
            "UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY are not both set: put the key pair from Upbit's Open API management "
            "page in .env, then run this check again."
        ),
    )


def _not_checked(name: str, what: str) -> Check:
    return Check(name, False, _("%(what)s: not checked until the keys are accepted.") % {"what": what})


def _expiry(client: UpbitClient, now: datetime) -> Check:
    try:
        keys = client.get_api_keys()
    except ExchangeError as error:
        return Check("key_expiry", False, _key_problem(error))
    ours = [key for key in keys if key.matches_configured_key]
    if not ours:
        return Check("key_expiry", False, _("Upbit does not list the configured key among the account's keys."))
    expire_at = ours[0].expire_at
    when = expire_at.strftime("%Y-%m-%d")
    if expire_at <= now:
        return Check("key_expiry", False, _("The key expired on %(date)s: issue a new one and update .env.") % {"date": when})
    if expire_at - now < EXPIRY_WARNING:
        text = _("The key is valid until %(date)s, less than 30 days away: issue a new one soon.") % {"date": when}
        return Check("key_expiry", True, text)
    return Check("key_expiry", True, _("The key is valid until %(date)s.") % {"date": when})


def _market(client: UpbitClient, market: str) -> tuple[Check, OrderChance | None]:
    try:
        chance = client.get_order_chance(market)
    except InvalidRequest as error:
        if error.name == "notfoundmarket":
            text = _("Upbit has no market %(market)s: set TRADING_MARKET to a market code such as KRW-BTC.") % {"market": market}
            return Check("market", False, text), None
        return Check("market", False, _key_problem(error)), None
    except ExchangeError as error:
        return Check("market", False, _key_problem(error)), None
    if chance.state != "active":
        text = _("%(market)s is not open for trading on Upbit (state %(state)s): choose another market or wait.") % {
            "market": market,
            "state": chance.state,
        }
        return Check("market", False, text), chance
    return Check("market", True, _("%(market)s exists and is open for trading.") % {"market": market}), chance


def _balance(free_krw: Decimal, chance: OrderChance | None) -> tuple[Check, Decimal]:
    fee_rate = chance.bid_fee if chance is not None else DEFAULT_FEE_RATE
    minimum = max(chance.min_total, KRW_MIN_ORDER_TOTAL) if chance is not None and chance.min_total else KRW_MIN_ORDER_TOTAL
    needed = minimum + fee_for(minimum, fee_rate)
    # Whole won and cents, rounded down: the line never claims more than is free (Upbit keeps 8 decimals).
    free = free_krw.quantize(Decimal("0.01"), rounding=ROUND_DOWN).normalize()
    figures = {"free": f"{free:,f}", "needed": f"{needed.normalize():,f}", "minimum": f"{minimum:,.0f}"}
    if free_krw >= needed:
        text = _("%(free)s KRW is free: enough for the minimum order (%(needed)s KRW with the fee).")
        return Check("balance", True, text % figures), minimum
    text = _(
        "Only %(free)s KRW is free; the minimum order of %(minimum)s KRW with its fee needs %(needed)s KRW: deposit KRW "
        "on Upbit (or cancel open orders that hold it)."
    )
    return Check("balance", False, text % figures), minimum


def _test_order(client: UpbitClient, market: str, total: Decimal) -> Check:
    request = OrderRequest(market=market, side="buy", ord_type="price", identifier=f"checklive-{uuid.uuid4().hex}", price=total)
    try:
        client.place_test_order(request)
    except (OrderRejected, InvalidRequest) as error:
        text = _("Upbit's test order (a %(total)s KRW market buy, nothing placed) was refused: %(error)s") % {
            "total": f"{total:,.0f}",
            "error": error,
        }
        return Check("test_order", False, text)
    except ExchangeError as error:
        if isinstance(error, StopTrading) and error.name == "out_of_scope":
            text = _(
                "The key may not place orders (out_of_scope on the test order): enable 주문하기 (place orders) for it on "
                "Upbit's Open API management page."
            )
            return Check("test_order", False, text)
        return Check("test_order", False, _key_problem(error))
    text = _("Upbit accepted a test order (a %(total)s KRW market buy on %(market)s); nothing was placed.") % {
        "total": f"{total:,.0f}",
        "market": market,
    }
    return Check("test_order", True, text)


def live_preflight(client: UpbitClient, *, market: str, now: datetime) -> list[Check]:
    """Every check, in order; the checks after a refused key are reported as not checked. Places nothing."""
    checks = [_keys_set(client)]
    later = (
        ("key_expiry", _("The key's expiry")),
        ("market", _("The market")),
        ("balance", _("The balance")),
        ("test_order", _("The test order")),
    )
    if not checks[0].ok:
        return checks + [_not_checked("keys_accepted", _("The keys"))] + [_not_checked(n, w) for n, w in later]
    try:
        balances = client.get_accounts()
    except ExchangeError as error:
        checks.append(Check("keys_accepted", False, _key_problem(error)))
        return checks + [_not_checked(n, w) for n, w in later]
    checks.append(Check("keys_accepted", True, _("Upbit accepts the keys (자산조회 allowed).")))
    checks.append(_expiry(client, now))
    market_check, chance = _market(client, market)
    checks.append(market_check)
    free_krw = next((b.balance for b in balances if b.currency == "KRW"), Decimal("0"))
    balance_check, minimum = _balance(free_krw, chance)
    checks.append(balance_check)
    checks.append(_test_order(client, market, minimum))
    return checks


def run_live_preflight(*, market: str | None = None) -> list[Check]:
    """The pre-flight with the configured keys and Upbit address (settings), for TRADING_MARKET unless `market` is given."""
    client = UpbitClient.from_settings(with_keys=True, max_retries=1)
    try:
        return live_preflight(client, market=market or settings.TRADING_MARKET, now=timezone.now())
    finally:
        client.close()
