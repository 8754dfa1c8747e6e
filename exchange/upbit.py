"""The live Upbit client: HTTP + JWT signing + throttling + error mapping + typed parsing.

The only module that speaks Upbit's wire dialect (bid/ask, decimal strings, KST timestamps, error
names). Everything it returns is typed (`exchange.types`), and every failure leaves it as exactly one
exception from `exchange.exceptions`, named by what the engine must do about it.

How failures map (each becomes exactly one exception, raised `from` the original):
- network errors, timeouts, 5xx → RetryLater; but once an order request may have reached Upbit (read
  timeout, connection dropped after sending, 5xx, unreadable 2xx) → OutcomeUnknown(identifier). A
  connect timeout or refused connection sent nothing → RetryLater;
- 429 → pause the group, back off with jitter and resend (a few times), then RateLimited;
- 418 → IpBanned (with the ban's length when Upbit says), never resent;
- key, IP, permission and consent problems → StopTrading with what to fix; `nonce_used` → RetryLater
  (the request was refused before it did anything);
- `market_offline` → RetryLater: maintenance is temporary and nothing was placed;
- order-shaped errors (`insufficient_funds_*`, `under_min_total_*`, `invalid_price_*`, ...) →
  OrderRejected when placing an order, InvalidRequest on reads; `order_not_found` → OrderNotFound.

Safety rules it keeps:
- an order is sent at most once per `place_order` call unless Upbit answered 429 (refused, nothing
  placed); a timeout, a dropped connection or a 5xx after sending becomes `OutcomeUnknown`, and the
  caller must look the order up by its identifier before sending another;
- never more calls than Upbit's per-group quotas (`exchange.throttle`), and a 429 pauses the whole group;
- secrets never reach logs, exceptions or `OrderInfo.raw`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import re
import threading
import time
import uuid as uuid_module
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote_plus, unquote, urlencode

import jwt
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from exchange.exceptions import (
    ExchangeError,
    InvalidRequest,
    IpBanned,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    RetryLater,
    StopTrading,
)
from exchange.redact import mask_secrets, mask_text
from exchange.rules import quantize_volume, round_to_tick
from exchange.throttle import RemainingReq, Throttle, parse_remaining_req
from exchange.types import (
    ZERO,
    Balance,
    Candle,
    OrderBook,
    OrderBookLevel,
    OrderChance,
    OrderInfo,
    OrderRequest,
    Ticker,
    Trade,
)

logger = logging.getLogger("autocoin.exchange")

KST = timezone(timedelta(hours=9), "KST")
MINUTE_UNITS: frozenset[int] = frozenset({1, 3, 5, 10, 15, 30, 60, 240})
MAX_CANDLES = 200
DAY_MINUTES = 1440
MAX_IDS_PER_CALL = 100
MAX_OPEN_ORDER_PAGES = 10
OPEN_ORDERS_PAGE_SIZE = 100
ERROR_TEXT_LIMIT = 300

_SIDE_TO_WIRE = {"buy": "bid", "sell": "ask"}
_SIDE_FROM_WIRE = {"bid": "buy", "ask": "sell"}
TIME_IN_FORCE = frozenset({"ioc", "fok", "post_only"})

# Error names that mean "the keys or account cannot be used": a person has to act before trading resumes.
AUTH_PROBLEMS: dict[str, str] = {
    "jwt_verification": "the request signature was rejected: check that UPBIT_SECRET_KEY is the secret key "
    "issued together with UPBIT_ACCESS_KEY (copy it again, without spaces)",
    "invalid_access_key": "the API key was rejected: check UPBIT_ACCESS_KEY (it must be an access key from "
    "Upbit's Open API management page)",
    "expired_access_key": "the API key has expired (Upbit keys last one year and cannot be extended): issue a new "
    "key and update UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY",
    "no_authorization_ip": "this computer's public IP address is not allowed for the API key: add it to the key's "
    "IP list on Upbit's Open API management page",
    "out_of_scope": "the API key lacks a permission this call needs: enable 자산조회 (view assets), 주문조회 (view "
    "orders) and 주문하기 (place orders) for the key",
    "no_authorization_token": "the exchange received no Authorization header: a proxy between this computer and "
    "Upbit may be removing it",
    "invalid_query_payload": "the exchange could not verify the signed query (query_hash): a proxy may be "
    "rewriting the request, or the parameters were altered after signing",
    "thirdparty_agreement_required": "Upbit requires a one-time consent before trading this market: accept the "
    "third-party terms on the Upbit app or website",
    "open_api_withdraw_locked": "Upbit has locked Open API use on this account: release the lock on the Upbit "
    "website (security settings), then restart",
}

# Names that mean "this request was malformed or cannot be done": a rejected order, or a bad read.
REQUEST_PROBLEMS: frozenset[str] = frozenset(
    {
        "duplicated_identifier",
        "validation_error",
        "invalid_parameter",
        "invalid_time_in_force",
        "invalid_post_only",
        "notfoundmarket",
        "bad_request",
        "query_parameter_not_supported",
        "pocket_not_found",
        "currency_not_found",
        "withdraw_address_not_registered",
    }
)
REQUEST_PROBLEM_PREFIXES: tuple[str, ...] = (
    "insufficient_funds_",
    "under_min_total_",
    "invalid_price_",
    "over_krw_funds_",
    "create_",
)

# Upbit issues 40-character secret keys; PyJWT warns that HS512 keys should be 64 bytes. The key length is
# Upbit's choice, not something a person running autocoin can fix, so the warning is only noise in their logs.
if hasattr(jwt, "InsecureKeyLengthWarning"):
    warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)

P = ParamSpec("P")
R = TypeVar("R")


# --- signing --------------------------------------------------------------------------------------


def encode_query(params: Sequence[tuple[str, str]]) -> str:
    """The query string as sent. `[]` in array names stays literal, as Upbit's docs ask."""
    return urlencode(list(params), doseq=True, safe="[]", quote_via=quote_plus)


def query_hash_source(params: Sequence[tuple[str, str]] | None = None, body: dict[str, str] | None = None) -> str:
    """The exact text Upbit hashes: the URL-decoded query string, or `k=v&...` of the JSON body in order."""
    if body:
        return "&".join(f"{key}={value}" for key, value in body.items())
    if params:
        return unquote(encode_query(params))
    return ""


def make_token(access_key: str, secret_key: str, hash_source: str = "", *, nonce: str | None = None) -> str:
    """An Upbit JWT (HS512). `query_hash` is present only when the request has parameters."""
    payload: dict[str, str] = {"access_key": access_key, "nonce": nonce or str(uuid_module.uuid4())}
    if hash_source:
        payload["query_hash"] = hashlib.sha512(hash_source.encode("utf-8")).hexdigest()
        payload["query_hash_alg"] = "SHA512"
    return jwt.encode(payload, secret_key, algorithm="HS512")


# --- parsing helpers ------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(str(value))
    else:
        number = Decimal(str(value).strip())
    # "NaN" and "Infinity" parse as Decimals but would break every later comparison with InvalidOperation.
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _dec_or_none(value: Any) -> Decimal | None:
    return None if value is None or value == "" else _dec(value)


def _dec_or_zero(value: Any) -> Decimal:
    return ZERO if value is None or value == "" else _dec(value)


def _ms_to_utc(ms: Any) -> datetime:
    millis = int(ms)
    return datetime.fromtimestamp(millis // 1000, tz=UTC) + timedelta(milliseconds=millis % 1000)


def _parse_time(value: str, *, naive_zone: timezone) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_zone)
    return moment.astimezone(UTC)


def format_decimal(value: Decimal) -> str:
    """A plain decimal string (no exponent, no trailing zeros): what Upbit expects in an order body."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0", "") else "0"


def _format_to(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise InvalidRequest("`to` must be a timezone-aware datetime", name="validation_error")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ticker(item: dict[str, Any]) -> Ticker:
    return Ticker(
        market=item["market"],
        trade_price=_dec(item["trade_price"]),
        timestamp=_ms_to_utc(item.get("trade_timestamp") or item["timestamp"]),
        opening_price=_dec_or_zero(item.get("opening_price")),
        high_price=_dec_or_zero(item.get("high_price")),
        low_price=_dec_or_zero(item.get("low_price")),
        prev_closing_price=_dec_or_zero(item.get("prev_closing_price")),
        acc_trade_volume_24h=_dec_or_zero(item.get("acc_trade_volume_24h")),
    )


def parse_candles(items: Iterable[dict[str, Any]], *, unit: int) -> list[Candle]:
    """Upbit lists candles newest first; the interface promises oldest first."""
    candles = [
        Candle(
            market=item["market"],
            unit=unit,
            start=_parse_time(item["candle_date_time_utc"], naive_zone=UTC),
            open=_dec(item["opening_price"]),
            high=_dec(item["high_price"]),
            low=_dec(item["low_price"]),
            close=_dec(item["trade_price"]),
            volume=_dec_or_zero(item.get("candle_acc_trade_volume")),
            value=_dec_or_zero(item.get("candle_acc_trade_price")),
        )
        for item in items
    ]
    candles.sort(key=lambda candle: candle.start)
    return candles


def parse_orderbook(item: dict[str, Any]) -> OrderBook:
    return OrderBook(
        market=item["market"],
        timestamp=_ms_to_utc(item["timestamp"]),
        levels=tuple(
            OrderBookLevel(
                ask_price=_dec(unit["ask_price"]),
                ask_size=_dec(unit["ask_size"]),
                bid_price=_dec(unit["bid_price"]),
                bid_size=_dec(unit["bid_size"]),
            )
            for unit in item.get("orderbook_units") or ()
        ),
    )


def parse_balance(item: dict[str, Any]) -> Balance:
    return Balance(
        currency=item["currency"],
        balance=_dec_or_zero(item.get("balance")),
        locked=_dec_or_zero(item.get("locked")),
        avg_buy_price=_dec_or_zero(item.get("avg_buy_price")),
        unit_currency=item.get("unit_currency") or "KRW",
    )


def parse_order_chance(data: Any, *, market: str) -> OrderChance:
    """Newer docs answer one object, older ones a one-item array: accept both."""
    if isinstance(data, list):
        if len(data) != 1:
            raise ValueError(f"expected one order-chance entry, got {len(data)}")
        data = data[0]
    info = data.get("market") or {}
    bid_rules = info.get("bid") or {}
    ask_rules = info.get("ask") or {}
    min_totals = [_dec(rules["min_total"]) for rules in (bid_rules, ask_rules) if rules.get("min_total") not in (None, "")]
    quote, _, base = market.partition("-")
    return OrderChance(
        market=info.get("id") or market,
        bid_fee=_dec(data["bid_fee"]),
        ask_fee=_dec(data["ask_fee"]),
        min_total=max(min_totals) if min_totals else Decimal("5000"),
        max_total=_dec_or_zero(info.get("max_total")),
        bid_account=parse_balance(data.get("bid_account") or {"currency": bid_rules.get("currency") or quote}),
        ask_account=parse_balance(data.get("ask_account") or {"currency": ask_rules.get("currency") or base}),
    )


def parse_trade(item: dict[str, Any], *, market: str) -> Trade:
    return Trade(
        uuid=item["uuid"],
        market=item.get("market") or market,
        side=_SIDE_FROM_WIRE[item["side"]],  # type: ignore[arg-type]
        price=_dec(item["price"]),
        volume=_dec(item["volume"]),
        funds=_dec(item["funds"]) if item.get("funds") not in (None, "") else _dec(item["price"]) * _dec(item["volume"]),
        created_at=_parse_time(item["created_at"], naive_zone=KST),
    )


def parse_order(item: dict[str, Any], *, secrets: Iterable[str] = ()) -> OrderInfo:
    """One order in Upbit's shape. Optional fields (`price`, `volume`, `remaining_volume`,
    `identifier`, `trades`, `executed_funds`) may be absent depending on the order type and endpoint."""
    market = item["market"]
    trades = tuple(parse_trade(trade, market=market) for trade in item.get("trades") or ())
    return OrderInfo(
        uuid=item["uuid"],
        market=market,
        side=_SIDE_FROM_WIRE[item["side"]],  # type: ignore[arg-type]
        ord_type=item["ord_type"],
        state=item["state"],
        created_at=_parse_time(item["created_at"], naive_zone=KST),
        identifier=item.get("identifier") or None,
        price=_dec_or_none(item.get("price")),
        volume=_dec_or_none(item.get("volume")),
        remaining_volume=_dec_or_none(item.get("remaining_volume")),
        executed_volume=_dec_or_zero(item.get("executed_volume")),
        executed_funds=_dec_or_none(item.get("executed_funds")),
        reserved_fee=_dec_or_zero(item.get("reserved_fee")),
        remaining_fee=_dec_or_zero(item.get("remaining_fee")),
        paid_fee=_dec_or_zero(item.get("paid_fee")),
        locked=_dec_or_zero(item.get("locked")),
        trades_count=int(item.get("trades_count") or len(trades)),
        trades=trades,
        raw=mask_secrets(_jsonable(item), secrets),
    )


def _jsonable(value: Any) -> Any:
    """Decimals from `parse_float=Decimal` back to strings, so `raw` can be stored in a JSON field."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- errors ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorBody:
    name: str
    message: str


def parse_error_body(content: bytes) -> ErrorBody:
    """Upbit's `{"error": {"name": ..., "message": ...}}`; quotation names are integers; 429/418
    bodies may be plain text. Never fails."""
    text = content.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text) if text else None
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            name = error.get("name")
            return ErrorBody(name="" if name is None else str(name), message=str(error.get("message") or ""))
        if isinstance(data.get("message"), str):
            return ErrorBody(name=str(data.get("name") or ""), message=data["message"])
    return ErrorBody(name="", message=text[:ERROR_TEXT_LIMIT])


def is_request_problem(name: str) -> bool:
    lowered = name.lower()
    return lowered in REQUEST_PROBLEMS or lowered.startswith(REQUEST_PROBLEM_PREFIXES)


_BAN_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(\d+(?:\.\d+)?)\s*(?:seconds?|secs?|s\b|초)", re.IGNORECASE), 1),
    (re.compile(r"(\d+(?:\.\d+)?)\s*(?:minutes?|mins?|분)", re.IGNORECASE), 60),
    (re.compile(r"(\d+(?:\.\d+)?)\s*(?:hours?|시간)", re.IGNORECASE), 3600),
)


def parse_ban_seconds(headers: Any, content: bytes) -> int | None:
    """How long a 418 ban lasts, if the answer says: `Retry-After`, a JSON number field, or the text."""
    retry_after = headers.get("Retry-After") if headers is not None else None
    if retry_after and str(retry_after).strip().isdigit():
        return int(str(retry_after).strip())
    text = content.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        error = data.get("error") if isinstance(data.get("error"), dict) else data
        for key in ("ban_seconds", "retry_after", "seconds", "remaining_seconds"):
            value = error.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return int(value)
            if isinstance(value, str) and value.strip().isdigit():
                return int(value.strip())
        text = str(error.get("message") or text)
    for pattern, factor in _BAN_PATTERNS:
        match = pattern.search(text)
        if match:
            return int(Decimal(match.group(1)) * factor)
    return None


def _nothing_sent(error: BaseException) -> bool:
    """True when the connection was never established, so the request cannot have reached the server."""
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(
            current,
            (
                requests.exceptions.ConnectTimeout,
                urllib3.exceptions.NewConnectionError,
                urllib3.exceptions.ConnectTimeoutError,
                ConnectionRefusedError,
            ),
        ):
            return True
        pending.extend(current.args)
        # Only the explicit wrapping chain (args, urllib3's `reason`, `raise ... from`): an unrelated exception
        # that merely happened earlier (`__context__`) must never turn "maybe placed" into "nothing sent".
        pending.extend(item for item in (getattr(current, "reason", None), current.__cause__) if item)
    return False


class _EarlierAttemptLanded(Exception):
    """A retried order answered duplicated_identifier: an earlier attempt of the same call was placed."""


# --- the client -----------------------------------------------------------------------------------


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

    def _mask(self, text: str) -> str:
        return mask_text(text, (self._access_key, self._secret_key))

    def _auth_headers(self, hash_source: str) -> dict[str, str]:
        if not self.has_keys:
            raise StopTrading(
                "Upbit API keys are not configured: set UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY to use account and order calls"
            )
        token = make_token(self._access_key, self._secret_key, hash_source, nonce=self._nonce())
        return {"Authorization": f"Bearer {token}"}

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)

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
                raise self._network_error(error, method, path, placing) from error
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
                if attempt >= self._max_retries:
                    problem = parse_error_body(response.content)
                    raise RateLimited(
                        f"Upbit kept refusing calls in the '{group}' group for exceeding its rate limit "
                        f"after {attempt + 1} attempts; slow down"
                        + (f" (Upbit: {self._mask(problem.message)})" if problem.message else ""),
                        name=problem.name,
                        status=429,
                    )
                pause = self._backoff(attempt)
                # Pause the whole group, not just this thread: another call now would risk a 418 ban.
                self.throttle.block(group, pause)
                self._count("retries")
                attempt += 1
                continue
            if status == 418:
                self._count("http_418")
                raise self._ban_error(response, group)
            if status >= 500:
                problem = parse_error_body(response.content)
                detail = f" (Upbit: {self._mask(problem.message)})" if problem.message else ""
                if placing is not None:
                    raise OutcomeUnknown(
                        f"Upbit answered {status} to the order {placing}; it may or may not have been placed{detail}",
                        identifier=placing,
                        name=problem.name,
                        status=status,
                    )
                raise RetryLater(f"Upbit is unavailable (HTTP {status}){detail}", name=problem.name, status=status)
            if status >= 400:
                problem = parse_error_body(response.content)
                if placing is not None and attempt > 0 and problem.name == "duplicated_identifier":
                    raise _EarlierAttemptLanded(placing)
                raise self._client_error(status, problem, placing=placing is not None)
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

    def _network_error(self, error: requests.RequestException, method: str, path: str, placing: str | None) -> ExchangeError:
        kind = type(error).__name__
        if _nothing_sent(error):
            return RetryLater(f"could not connect to Upbit ({kind}) for {method} {path}; nothing was sent", name=kind)
        if placing is not None:
            return OutcomeUnknown(
                f"the order {placing} was sent but no answer came back ({kind}); it may or may not have been placed",
                identifier=placing,
                name=kind,
            )
        if isinstance(error, requests.Timeout):
            return RetryLater(f"Upbit did not answer {method} {path} in time ({kind})", name=kind)
        return RetryLater(f"the connection to Upbit failed during {method} {path} ({kind})", name=kind)

    def _ban_error(self, response: requests.Response, group: str) -> IpBanned:
        seconds = parse_ban_seconds(response.headers, response.content)
        problem = parse_error_body(response.content)
        if seconds:
            self.throttle.block(group, seconds)
        how_long = f" for {seconds} seconds" if seconds else " (Upbit did not say for how long)"
        detail = f" (Upbit: {self._mask(problem.message)})" if problem.message else ""
        return IpBanned(
            f"Upbit has banned this IP address or account{how_long} for repeatedly exceeding its rate limits. "
            f"Stop every program using this key or IP and wait before restarting; another violation makes the ban longer{detail}",
            ban_seconds=seconds,
            name=problem.name,
            status=418,
        )

    def _client_error(self, status: int, problem: ErrorBody, *, placing: bool) -> ExchangeError:
        name = problem.name
        message = self._mask(problem.message) or f"HTTP {status}"
        if name == "nonce_used":
            # A reused nonce means the request was refused before it did anything: safe to send again.
            return RetryLater(f"Upbit refused a reused request nonce; nothing was done: {message}", name=name, status=status)
        if name in AUTH_PROBLEMS:
            return StopTrading(f"{AUTH_PROBLEMS[name]} (Upbit: {message})", name=name, status=status)
        if name == "order_not_found":
            return OrderNotFound(message, name=name, status=status)
        if name == "market_offline":
            # Maintenance: temporary, and nothing was placed.
            return RetryLater(f"the market is offline for maintenance; nothing was done: {message}", name=name, status=status)
        if is_request_problem(name):
            return (OrderRejected if placing else InvalidRequest)(message, name=name, status=status)
        if status in (401, 403):
            return StopTrading(
                f"Upbit refused the API key for this call (HTTP {status}); check the key, its permissions and its "
                f"allowed IP list: {message}",
                name=name,
                status=status,
            )
        return (OrderRejected if placing else InvalidRequest)(message, name=name, status=status)

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
            params.append(("to", _format_to(to)))
        data = self._send("GET", path, params=params)
        return self._parsed(lambda: parse_candles(data, unit=unit), f"candles of {market}")

    @_counts_errors
    def get_orderbook(self, market: str) -> OrderBook:
        data = self._send("GET", "/v1/orderbook", params=[("markets", market)])
        if isinstance(data, list) and not data:
            raise InvalidRequest(f"Upbit has no order book for market {market}", name="notfoundmarket")
        return self._parsed(lambda: parse_orderbook(data[0]), f"the order book of {market}")

    # --- account ----------------------------------------------------------------------------------

    @_counts_errors
    def get_accounts(self) -> list[Balance]:
        data = self._send("GET", "/v1/accounts", auth=True)
        return self._parsed(lambda: [parse_balance(item) for item in data], "accounts")

    @_counts_errors
    def get_order_chance(self, market: str) -> OrderChance:
        data = self._send("GET", "/v1/orders/chance", params=[("market", market)], auth=True)
        return self._parsed(lambda: parse_order_chance(data, market=market), f"order rules of {market}")

    # --- orders -----------------------------------------------------------------------------------

    def order_body(self, request: OrderRequest) -> dict[str, str]:
        """The JSON body for a request, after local checks and tick/precision correction.

        Raises OrderRejected(validation_error) for anything Upbit would refuse as malformed."""

        def reject(message: str) -> OrderRejected:
            return OrderRejected(f"order {request.identifier or '(no identifier)'}: {message}", name="validation_error")

        if request.side not in _SIDE_TO_WIRE:
            raise reject(f"side must be buy or sell, not {request.side!r}")
        if not request.identifier:
            raise reject("an identifier is required so the order can be found again after a timeout")
        if not request.market or "-" not in request.market:
            raise reject(f"market must look like KRW-BTC, not {request.market!r}")
        for label, value in (("price", request.price), ("volume", request.volume)):
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite() or value <= 0):
                raise reject(f"{label} must be a positive Decimal, not {value!r}")
        tif = request.time_in_force
        if tif is not None and tif not in TIME_IN_FORCE:
            raise reject(f"time_in_force must be one of {sorted(TIME_IN_FORCE)}, not {tif!r}")

        price, volume = request.price, request.volume
        ord_type = request.ord_type
        if ord_type == "limit":
            if price is None or volume is None:
                raise reject("a limit order needs both price and volume")
            if request.market.startswith("KRW-"):
                # Off-grid prices are refused (invalid_price_*): snap in the direction that never worsens the deal.
                price = round_to_tick(price, "down" if request.side == "buy" else "up")
        elif ord_type == "price":
            if request.side != "buy":
                raise reject("ord_type 'price' (market buy by total) is for buys only; sell with ord_type 'market'")
            if price is None or volume is not None:
                raise reject("a market buy ('price') takes the total to spend as price and no volume")
        elif ord_type == "market":
            if request.side != "sell":
                raise reject("ord_type 'market' (market sell by volume) is for sells only; buy with ord_type 'price'")
            if volume is None or price is not None:
                raise reject("a market sell ('market') takes a volume and no price")
        elif ord_type == "best":
            if tif not in ("ioc", "fok"):
                raise reject("a 'best' order needs time_in_force ioc or fok")
            if request.side == "buy" and (price is None or volume is not None):
                raise reject("a 'best' buy takes the total to spend as price and no volume")
            if request.side == "sell" and (volume is None or price is not None):
                raise reject("a 'best' sell takes a volume and no price")
        else:
            raise reject(f"ord_type must be limit, price, market or best, not {ord_type!r}")
        if tif == "post_only" and ord_type != "limit":
            raise reject("post_only is only for limit orders")
        if tif in ("ioc", "fok") and ord_type not in ("limit", "best"):
            raise reject(f"{tif} is only for limit and best orders")
        if volume is not None:
            volume = quantize_volume(volume)
            if volume <= 0:
                raise reject(f"volume {request.volume} is below the smallest tradable amount (0.00000001)")

        body = {"market": request.market, "side": _SIDE_TO_WIRE[request.side]}
        if volume is not None:
            body["volume"] = format_decimal(volume)
        if price is not None:
            body["price"] = format_decimal(price)
        body["ord_type"] = ord_type
        body["identifier"] = request.identifier
        if tif is not None:
            body["time_in_force"] = tif
        return body

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
            orders.extend(self._parsed(lambda data=data: self._parse_orders(data), "open orders"))
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
            orders.extend(self._parsed(lambda data=data: self._parse_orders(data), "orders"))
        return orders
