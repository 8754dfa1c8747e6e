"""Upbit's refusals and transport failures, each translated into exactly one `exchange.exceptions` class.

The tables say what each of Upbit's error names means for the engine; the functions below build the
exception for one failed call, with the secrets masked out of whatever Upbit said.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
import urllib3.exceptions

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
from exchange.redact import mask_text

ERROR_TEXT_LIMIT = 300

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
    data: Any
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        nested = data.get("error")
        error: dict[Any, Any] = nested if isinstance(nested, dict) else data
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


# --- translation: one failed call, one exception ------------------------------------------------------


def _upbit_says(problem: ErrorBody, secrets: Sequence[str]) -> str:
    return f" (Upbit: {mask_text(problem.message, secrets)})" if problem.message else ""


def network_error(error: requests.RequestException, method: str, path: str, placing: str | None) -> ExchangeError:
    """A request that got no answer. `placing` is the identifier when the call places an order."""
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


def rate_limit_error(group: str, attempts: int, problem: ErrorBody, secrets: Sequence[str]) -> RateLimited:
    """429 after the last permitted retry."""
    return RateLimited(
        f"Upbit kept refusing calls in the '{group}' group for exceeding its rate limit "
        f"after {attempts} attempts; slow down" + _upbit_says(problem, secrets),
        name=problem.name,
        status=429,
    )


def ban_error(seconds: int | None, problem: ErrorBody, secrets: Sequence[str]) -> IpBanned:
    """418: never resent; `seconds` is the ban's length when Upbit said."""
    how_long = f" for {seconds} seconds" if seconds else " (Upbit did not say for how long)"
    return IpBanned(
        f"Upbit has banned this IP address or account{how_long} for repeatedly exceeding its rate limits. "
        f"Stop every program using this key or IP and wait before restarting; another violation makes the ban longer"
        + _upbit_says(problem, secrets),
        ban_seconds=seconds,
        name=problem.name,
        status=418,
    )


def server_error(status: int, problem: ErrorBody, secrets: Sequence[str], *, placing: str | None) -> ExchangeError:
    """5xx: after an order was sent it may exist, so the outcome is unknown; otherwise try again later."""
    detail = _upbit_says(problem, secrets)
    if placing is not None:
        return OutcomeUnknown(
            f"Upbit answered {status} to the order {placing}; it may or may not have been placed{detail}",
            identifier=placing,
            name=problem.name,
            status=status,
        )
    return RetryLater(f"Upbit is unavailable (HTTP {status}){detail}", name=problem.name, status=status)


def client_error(status: int, problem: ErrorBody, secrets: Sequence[str], *, placing: bool) -> ExchangeError:
    """4xx other than 418 and 429, by Upbit's error name first and the status second."""
    name = problem.name
    message = mask_text(problem.message, secrets) or f"HTTP {status}"
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
