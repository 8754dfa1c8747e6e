"""What can go wrong at the exchange, named by what the engine must do about it.

Every HTTP, network or protocol failure is translated into exactly one of these at the boundary
(`raise ... from error`). Messages never contain secrets.
"""

from __future__ import annotations


class ExchangeError(Exception):
    """Base class. `name` is Upbit's error name when there is one; `status` the HTTP status if any."""

    def __init__(self, message: str, *, name: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.status = status

    def __str__(self) -> str:
        prefix = f"[{self.name}] " if self.name else ""
        suffix = f" (HTTP {self.status})" if self.status else ""
        return f"{prefix}{self.message}{suffix}"


class RetryLater(ExchangeError):
    """Temporary: network error, timeout, 5xx. Back off and try again; count the failure."""


class RateLimited(RetryLater):
    """HTTP 429. Slow down and retry after a pause; sending more right away risks a 418 ban."""


class StopTrading(ExchangeError):
    """Cannot continue safely: bad or expired keys, IP not allowed, missing permission. Stop the engine
    (state ERROR) and tell the person what to fix."""


class IpBanned(StopTrading):
    """HTTP 418: Upbit blocked this IP or account for repeated rate-limit violations."""

    def __init__(self, message: str, *, ban_seconds: int | None = None, name: str = "", status: int | None = 418) -> None:
        super().__init__(message, name=name, status=status)
        self.ban_seconds = ban_seconds


class OrderRejected(ExchangeError):
    """The exchange refused this order (funds, minimum total, tick grid, identifier, validation...).
    Nothing was placed. Record it; the strategy sees it; do not retry the same request."""


class InvalidRequest(ExchangeError):
    """A read request the exchange refused as malformed (unknown market, bad parameter)."""


class OrderNotFound(ExchangeError):
    """No order with that uuid or identifier exists on the exchange."""


class OutcomeUnknown(ExchangeError):
    """An order request was sent but no answer came back (timeout, dropped connection, 5xx after
    sending). The order may or may not exist: look it up by `identifier` before sending any new order."""

    def __init__(self, message: str, *, identifier: str, name: str = "", status: int | None = None) -> None:
        super().__init__(message, name=name, status=status)
        self.identifier = identifier
