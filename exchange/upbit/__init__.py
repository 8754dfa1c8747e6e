"""The live Upbit client: HTTP + JWT signing + throttling + error mapping + typed parsing.

The only package that speaks Upbit's wire dialect (bid/ask, decimal strings, KST timestamps, error
names). Everything it returns is typed (`exchange.types`), and every failure leaves it as exactly one
exception from `exchange.exceptions`, named by what the engine must do about it.

How failures map (each becomes exactly one exception, raised `from` the original):
- network errors, timeouts, 5xx → RetryLater; but once an order request may have reached Upbit (read
  timeout, connection dropped after sending, 5xx, unreadable 2xx) → OutcomeUnknown(identifier). A
  connect timeout or refused connection sent nothing → RetryLater;
- 429 → pause the whole group for at least a full window (`throttle.REFUSED_PAUSE_SEC`), then resend: reads
  up to `max_retries` times, an order once (`ORDER_RETRIES_AFTER_429`: at most two POSTs per `place_order`),
  then RateLimited;
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

Modules: `client` (UpbitClient: transport, retries, the calls), `signing` (query string, query hash,
JWT), `parsing` (answers into `exchange.types`), `orders` (the order body and its local checks) and
`errors` (Upbit's error names and every failure's translation into one exception).
"""

from __future__ import annotations

from exchange.upbit.client import DAY_MINUTES, MAX_CANDLES, MINUTE_UNITS, UpbitClient
from exchange.upbit.errors import (
    AUTH_PROBLEMS,
    REQUEST_PROBLEM_PREFIXES,
    REQUEST_PROBLEMS,
    ErrorBody,
    is_request_problem,
    parse_ban_seconds,
    parse_error_body,
)
from exchange.upbit.orders import TIME_IN_FORCE, format_decimal, order_body
from exchange.upbit.parsing import (
    KST,
    parse_balance,
    parse_candles,
    parse_order,
    parse_order_chance,
    parse_orderbook,
    parse_ticker,
    parse_trade,
)
from exchange.upbit.signing import encode_query, make_token, query_hash_source

__all__ = [
    "AUTH_PROBLEMS",
    "DAY_MINUTES",
    "KST",
    "MAX_CANDLES",
    "MINUTE_UNITS",
    "REQUEST_PROBLEMS",
    "REQUEST_PROBLEM_PREFIXES",
    "TIME_IN_FORCE",
    "ErrorBody",
    "UpbitClient",
    "encode_query",
    "format_decimal",
    "is_request_problem",
    "make_token",
    "order_body",
    "parse_balance",
    "parse_ban_seconds",
    "parse_candles",
    "parse_error_body",
    "parse_order",
    "parse_order_chance",
    "parse_orderbook",
    "parse_ticker",
    "parse_trade",
    "query_hash_source",
]
