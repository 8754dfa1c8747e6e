"""The live Upbit client: HTTP + JWT signing + throttling + error mapping + typed parsing.

The only class that speaks Upbit's wire dialect (bid/ask, decimal strings, KST timestamps, error
names), through `signing`, `parsing` and `errors` beside it. Everything it returns is typed
(`exchange.types`), and every failure leaves it as exactly one exception from `exchange.exceptions`,
named by what the engine must do about it (the mapping is described in `exchange.upbit`).
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import requests
from requests.adapters import HTTPAdapter

from exchange.account import account_for
from exchange.exceptions import (
    ExchangeError,
    InvalidRequest,
    IpBanned,
    OutcomeUnknown,
    RetryLater,
    StopTrading,
)
from exchange.throttle import REFUSED_PAUSE_SEC, RemainingReq, Throttle, parse_remaining_req
from exchange.types import (
    ApiKeyInfo,
    Balance,
    Candle,
    Instrument,
    OrderBook,
    OrderChance,
    OrderInfo,
    OrderRequest,
    Ticker,
)
from exchange.upbit.errors import (
    ban_error,
    client_error,
    network_error,
    parse_ban_seconds,
    parse_error_body,
    rate_limit_error,
    server_error,
)
from exchange.upbit.orders import order_body
from exchange.upbit.parsing import (
    format_to,
    parse_api_key,
    parse_balance,
    parse_candles,
    parse_instrument,
    parse_order,
    parse_order_chance,
    parse_orderbook,
    parse_ticker,
)
from exchange.upbit.signing import encode_query, make_token, query_hash_source

logger = logging.getLogger("autocoin.exchange")

MINUTE_UNITS: frozenset[int] = frozenset({1, 3, 5, 10, 15, 30, 60, 240})
MAX_CANDLES = 200
DAY_MINUTES = 1440
MAX_IDS_PER_CALL = 100
MAX_OPEN_ORDER_PAGES = 10
OPEN_ORDERS_PAGE_SIZE = 100

ORDER_RETRIES_AFTER_429 = 1
"""Resends of one order after a 429 (same identifier, after the group's full-window pause): at most two POSTs per
`place_order`. Reads get `max_retries`; an order is not worth a ban, and the engine decides about the next try."""

P = ParamSpec("P")
R = TypeVar("R")


class _EarlierAttemptLanded(Exception):
    """A retried order answered duplicated_identifier: an earlier attempt of the same call was placed."""


def _route_group(method: str, path: str) -> str:
    """Upbit's rate-limit group for a call, so the throttle can hold it before it is sent."""
    for group, prefix in (
        ("market", "/v1/market"),
        ("candle", "/v1/candles"),
        ("trade", "/v1/trades"),
        ("ticker", "/v1/ticker"),
        ("orderbook", "/v1/orderbook"),
    ):
        if path.startswith(prefix):
            return group
    if method == "POST" and path in ("/v1/orders", "/v1/orders/cancel_and_new"):
        return "order"
    if method == "POST" and path == "/v1/orders/test":
        return "order-test"
    if method == "DELETE" and path == "/v1/orders/open":
        return "order-cancel-all"
    return "default"


def _counts_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Count each failure of a public call once, by exception class, even when calls nest."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        client: UpbitClient = args[0]  # type: ignore[assignment]
        depth = getattr(client._local, "depth", 0)
        client._local.depth = depth + 1
        try:
            return method(*args, **kwargs)
        except ExchangeError as error:
            if depth == 0:
                client._count_error(error)
            raise
        finally:
            client._local.depth = depth

    return wrapper


class UpbitClient:
    """Upbit's REST API through one `requests.Session`. Quotation calls work without keys."""

    is_paper = False

    def __init__(
        self,
        base_url: str,
        access_key: str = "",
        secret_key: str = "",
        *,
        connect_timeout: float | Decimal = 3,
        read_timeout: float | Decimal = 10,
        session: requests.Session | None = None,
        max_retries: int = 3,
        order_retries_after_429: int = ORDER_RETRIES_AFTER_429,
        backoff_base_sec: float = 0.25,
        backoff_cap_sec: float = 2.0,
        throttle: Throttle | None = None,
        nonce_factory: Callable[[], str] | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        self.base_url = base
        self._access_key = access_key or ""
        self._secret_key = secret_key or ""
        # requests wants floats; settings hold Decimals.
        self._timeout = (float(connect_timeout), float(read_timeout))
        if session is None:
            session = requests.Session()
            # Never let urllib3 re-send anything on its own: a silently repeated order is the worst failure.
            adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            # Environment proxies and ~/.netrc are not consulted: .netrc credentials would replace the JWT header.
            session.trust_env = False
        session.headers.update({"Accept": "application/json", "User-Agent": "autocoin"})
        self._session = session
        self._max_retries = max(0, max_retries)
        self._order_retries = max(0, min(order_retries_after_429, self._max_retries))
        self._backoff_base = backoff_base_sec
        self._backoff_cap = backoff_cap_sec
        self.throttle = throttle or Throttle()
        self._nonce = nonce_factory or (lambda: str(uuid_module.uuid4()))
        self._lock = threading.Lock()
        self._local = threading.local()
        self._remaining: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, Any] = {"calls": 0, "http_429": 0, "http_418": 0, "retries": 0, "errors": {}}

    @classmethod
    def from_settings(cls, *, with_keys: bool = True, **overrides: Any) -> UpbitClient:
        """A client configured from Django settings. `with_keys=False` gives a market-data-only client."""
        from django.conf import settings

        return cls(
            settings.UPBIT_API_BASE,
            settings.UPBIT_ACCESS_KEY if with_keys else "",
            settings.UPBIT_SECRET_KEY if with_keys else "",
            connect_timeout=settings.UPBIT_CONNECT_TIMEOUT_SEC,
            read_timeout=settings.UPBIT_READ_TIMEOUT_SEC,
            **overrides,
        )

    def __repr__(self) -> str:
        return f"UpbitClient({self.base_url!r}, keys={'set' if self.has_keys else 'none'})"

    @property
    def account(self) -> str:
        """The ledger this client trades for: its API host and a fingerprint of its access key."""
        return account_for(paper=False, base_url=self.base_url, access_key=self._access_key)

    @property
    def has_keys(self) -> bool:
        return bool(self._access_key and self._secret_key)

    def close(self) -> None:
        self._session.close()

    # --- observability ----------------------------------------------------------------------------

    def rate_limit_status(self) -> dict[str, dict[str, Any]]:
        """The latest `Remaining-Req` per group, plus any pause the client is holding for it."""
        with self._lock:
            status = {group: dict(entry) for group, entry in self._remaining.items()}
        for group, entry in status.items():
            entry["paused_sec"] = round(self.throttle.blocked_for(group), 3)
        return status

    def stats_snapshot(self) -> dict[str, Any]:
        """A consistent copy of `stats` for publishing metrics from another thread."""
        with self._lock:
            return {**self.stats, "errors": dict(self.stats["errors"])}

    def _count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[key] = self.stats.get(key, 0) + amount

    def _count_error(self, error: ExchangeError) -> None:
        with self._lock:
            errors = self.stats["errors"]
            name = type(error).__name__
            errors[name] = errors.get(name, 0) + 1

    def _record_remaining(self, remaining: RemainingReq) -> None:
        with self._lock:
            self._remaining[remaining.group] = {
                "sec": remaining.sec,
                "min": remaining.min,
                "observed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
        self.throttle.observe(remaining)

    # --- transport --------------------------------------------------------------------------------

    def _auth_headers(self, hash_source: str) -> dict[str, str]:
        if not self.has_keys:
            raise StopTrading(
                "Upbit API keys are not configured: set UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY to use account and order calls"
            )
        token = make_token(self._access_key, self._secret_key, hash_source, nonce=self._nonce())
        return {"Authorization": f"Bearer {token}"}

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter spreads retries; nothing secret

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        body: dict[str, str] | None = None,
        auth: bool = False,
        placing: str | None = None,
    ) -> Any:
        """One logical call: throttle, sign, send, read Remaining-Req, retry 429s, map failures.

        `placing` is the identifier when this call places an order; it decides which failures mean
        "the order may exist" (OutcomeUnknown) rather than "nothing happened" (RetryLater)."""
        group = _route_group(method, path)
        url = self.base_url + path
        if params:
            url = f"{url}?{encode_query(params)}"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None
        attempt = 0
        while True:
            headers = self._auth_headers(query_hash_source(params, body)) if auth else {}
            if data is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            self.throttle.acquire(group)
            self._count("calls")
            started = time.perf_counter()
            try:
                response = self._session.request(
                    method, url, data=data, headers=headers, timeout=self._timeout, allow_redirects=False
                )
            except requests.RequestException as error:
                elapsed = (time.perf_counter() - started) * 1000
                logger.warning("%s %s failed after %.0f ms: %s", method, path, elapsed, type(error).__name__)
                raise network_error(error, method, path, placing) from error
            elapsed = (time.perf_counter() - started) * 1000
            status = response.status_code
            remaining = parse_remaining_req(response.headers.get("Remaining-Req"))
            if remaining is not None:
                self._record_remaining(remaining)
            # Refusals that need attention are warnings; expected answers like order_not_found during a lookup are not.
            if status < 400:
                level = logging.DEBUG
            elif status >= 500 or status in (401, 403, 418, 429):
                level = logging.WARNING
            else:
                level = logging.INFO
            logger.log(level, "%s %s %s %.1f ms", method, path, status, elapsed)

            if status == 429:
                self._count("http_429")
                # Upbit refused the call for its quota (nothing was done). Pause the whole group, not just this
                # thread, for at least a full window: another call in the spent second would risk a 418 ban.
                self.throttle.block(group, max(REFUSED_PAUSE_SEC, self._backoff(attempt)))
                if attempt >= (self._order_retries if placing is not None else self._max_retries):
                    raise rate_limit_error(group, attempt + 1, parse_error_body(response.content), self._secrets)
                self._count("retries")
                attempt += 1
                continue
            if status == 418:
                self._count("http_418")
                raise self._ban_error(response, group)
            if status >= 500:
                raise server_error(status, parse_error_body(response.content), self._secrets, placing=placing)
            if status >= 400:
                problem = parse_error_body(response.content)
                if placing is not None and attempt > 0 and problem.name == "duplicated_identifier":
                    raise _EarlierAttemptLanded(placing)
                raise client_error(status, problem, self._secrets, placing=placing is not None)
            if status >= 300:
                raise RetryLater(f"Upbit answered an unexpected redirect (HTTP {status}) for {method} {path}", status=status)
            try:
                return json.loads(response.content, parse_float=Decimal)
            except (ValueError, RecursionError) as error:
                if placing is not None:
                    raise OutcomeUnknown(
                        f"Upbit accepted the order {placing} but its answer could not be read",
                        identifier=placing,
                        status=status,
                    ) from error
                raise RetryLater(f"Upbit's answer to {method} {path} was not JSON", status=status) from error

    def _ban_error(self, response: requests.Response, group: str) -> IpBanned:
        seconds = parse_ban_seconds(response.headers, response.content)
        if seconds:
            self.throttle.block(group, seconds)
        return ban_error(seconds, parse_error_body(response.content), self._secrets)

    def _parsed(self, parse: Callable[[], R], what: str, *, placing: str | None = None) -> R:
        """Run a parser; a response in an unexpected shape is a protocol failure, never a crash."""
        try:
            return parse()
        # ArithmeticError covers InvalidOperation and overflows; OSError and ValueError come from out-of-range
        # timestamps, RecursionError from absurdly nested answers.
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError, OSError, RecursionError) as error:
            if placing is not None:
                raise OutcomeUnknown(
                    f"Upbit accepted the order {placing} but its answer had an unexpected shape ({type(error).__name__})",
                    identifier=placing,
                ) from error
            raise RetryLater(f"Upbit's answer for {what} had an unexpected shape ({type(error).__name__}: {error})") from error

    @property
    def _secrets(self) -> tuple[str, str]:
        return (self._access_key, self._secret_key)

    def _parse_orders(self, data: Any) -> list[OrderInfo]:
        if not isinstance(data, list):
            raise TypeError(f"expected a list of orders, got {type(data).__name__}")
        return [parse_order(item, secrets=self._secrets) for item in data]

    # --- quotation --------------------------------------------------------------------------------

    @_counts_errors
    def get_ticker(self, market: str) -> Ticker:
        data = self._send("GET", "/v1/ticker", params=[("markets", market)])
        if isinstance(data, list) and not data:
            raise InvalidRequest(f"Upbit has no ticker for market {market}", name="notfoundmarket")
        return self._parsed(lambda: parse_ticker(data[0]), f"the ticker of {market}")

    @_counts_errors
    def get_minute_candles(self, market: str, *, unit: int = 1, count: int = 200, to: datetime | None = None) -> list[Candle]:
        if unit not in MINUTE_UNITS:
            raise InvalidRequest(f"minute candle unit must be one of {sorted(MINUTE_UNITS)}, not {unit}", name="validation_error")
        return self._candles(f"/v1/candles/minutes/{unit}", market, unit=unit, count=count, to=to)

    @_counts_errors
    def get_day_candles(self, market: str, *, count: int = 200, to: datetime | None = None) -> list[Candle]:
        return self._candles("/v1/candles/days", market, unit=DAY_MINUTES, count=count, to=to)

    def _candles(self, path: str, market: str, *, unit: int, count: int, to: datetime | None) -> list[Candle]:
        if not 1 <= count <= MAX_CANDLES:
            raise InvalidRequest(f"candle count must be from 1 to {MAX_CANDLES}, not {count}", name="validation_error")
        params = [("market", market), ("count", str(count))]
        if to is not None:
            params.append(("to", format_to(to)))
        data = self._send("GET", path, params=params)
        return self._parsed(lambda: parse_candles(data, unit=unit), f"candles of {market}")

    @_counts_errors
    def get_orderbook(self, market: str) -> OrderBook:
        data = self._send("GET", "/v1/orderbook", params=[("markets", market)])
        if isinstance(data, list) and not data:
            raise InvalidRequest(f"Upbit has no order book for market {market}", name="notfoundmarket")
        return self._parsed(lambda: parse_orderbook(data[0]), f"the order book of {market}")

    @_counts_errors
    def get_instrument(self, market: str) -> Instrument:
        """The pair's tick size from `GET /v1/orderbook/instruments` (no keys needed)."""
        data = self._send("GET", "/v1/orderbook/instruments", params=[("markets", market)])
        if isinstance(data, list) and not data:
            raise InvalidRequest(f"Upbit has no order-book rules for market {market}", name="notfoundmarket")
        return self._parsed(lambda: parse_instrument(data[0]), f"the tick size of {market}")

    # --- account ----------------------------------------------------------------------------------

    @_counts_errors
    def get_accounts(self) -> list[Balance]:
        data = self._send("GET", "/v1/accounts", auth=True)
        return self._parsed(lambda: [parse_balance(item) for item in data], "accounts")

    @_counts_errors
    def get_order_chance(self, market: str) -> OrderChance:
        data = self._send("GET", "/v1/orders/chance", params=[("market", market)], auth=True)
        return self._parsed(lambda: parse_order_chance(data, market=market), f"order rules of {market}")

    @_counts_errors
    def get_api_keys(self) -> list[ApiKeyInfo]:
        """The account's API keys and when each expires (`GET /v1/api_keys`); the keys themselves are not kept."""
        data = self._send("GET", "/v1/api_keys", auth=True)
        return self._parsed(lambda: [parse_api_key(item, access_key=self._access_key) for item in data], "API keys")

    # --- orders -----------------------------------------------------------------------------------

    def order_body(self, request: OrderRequest) -> dict[str, str]:
        """The JSON body for a request, after local checks and tick/precision correction (`orders.order_body`)."""
        return order_body(request)

    @_counts_errors
    def place_order(self, request: OrderRequest) -> OrderInfo:
        body = self.order_body(request)
        identifier = request.identifier
        try:
            data = self._send("POST", "/v1/orders", body=body, auth=True, placing=identifier)
        except _EarlierAttemptLanded:
            logger.warning("order %s: a retry after 429 found the order already placed; reading it back", identifier)
            try:
                return self.get_order(identifier=identifier)
            except ExchangeError as error:
                raise OutcomeUnknown(
                    f"the order {identifier} was placed by an earlier attempt but could not be read back: {error}",
                    identifier=identifier,
                    name=error.name,
                    status=error.status,
                ) from error
        order = self._parsed(lambda: parse_order(data, secrets=self._secrets), "the new order", placing=identifier)
        logger.info(
            "order %s placed: %s %s %s uuid=%s state=%s",
            identifier,
            request.market,
            request.side,
            request.ord_type,
            order.uuid,
            order.state,
        )
        return order

    @_counts_errors
    def place_test_order(self, request: OrderRequest) -> OrderInfo:
        """Send `request` to `POST /v1/orders/test`: Upbit checks it like a real order and places nothing."""
        data = self._send("POST", "/v1/orders/test", body=self.order_body(request), auth=True)
        return self._parsed(lambda: parse_order(data, secrets=self._secrets), "the test order")

    @staticmethod
    def _order_ref(uuid: str | None, identifier: str | None) -> list[tuple[str, str]]:
        if uuid:
            return [("uuid", uuid)]
        if identifier:
            return [("identifier", identifier)]
        raise InvalidRequest("give the order's uuid or identifier", name="validation_error")

    @_counts_errors
    def get_order(self, *, uuid: str | None = None, identifier: str | None = None) -> OrderInfo:
        data = self._send("GET", "/v1/order", params=self._order_ref(uuid, identifier), auth=True)
        return self._parsed(lambda: parse_order(data, secrets=self._secrets), f"order {uuid or identifier}")

    @_counts_errors
    def cancel_order(self, *, uuid: str | None = None, identifier: str | None = None) -> OrderInfo:
        """Ask Upbit to cancel; the answer is the order as it stood when accepted (usually still `wait`)."""
        data = self._send("DELETE", "/v1/order", params=self._order_ref(uuid, identifier), auth=True)
        return self._parsed(lambda: parse_order(data, secrets=self._secrets), f"cancel of order {uuid or identifier}")

    @_counts_errors
    def get_open_orders(self, market: str) -> list[OrderInfo]:
        orders: list[OrderInfo] = []
        for page in range(1, MAX_OPEN_ORDER_PAGES + 1):
            params = [
                ("market", market),
                ("states[]", "wait"),
                ("states[]", "watch"),
                ("page", str(page)),
                ("limit", str(OPEN_ORDERS_PAGE_SIZE)),
                ("order_by", "desc"),
            ]
            data = self._send("GET", "/v1/orders/open", params=params, auth=True)
            orders.extend(self._parsed(functools.partial(self._parse_orders, data), "open orders"))
            if len(data) < OPEN_ORDERS_PAGE_SIZE:
                break
        return orders

    @_counts_errors
    def get_orders_by_identifiers(self, identifiers: Sequence[str], *, market: str | None = None) -> list[OrderInfo]:
        """The orders among `identifiers` that exist on Upbit (unknown identifiers are simply absent)."""
        wanted = list(dict.fromkeys(identifier for identifier in identifiers if identifier))
        orders: list[OrderInfo] = []
        for start in range(0, len(wanted), MAX_IDS_PER_CALL):
            params: list[tuple[str, str]] = [("market", market)] if market else []
            params += [("identifiers[]", identifier) for identifier in wanted[start : start + MAX_IDS_PER_CALL]]
            data = self._send("GET", "/v1/orders/uuids", params=params, auth=True)
            orders.extend(self._parsed(functools.partial(self._parse_orders, data), "orders"))
        return orders
