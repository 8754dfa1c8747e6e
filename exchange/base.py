"""The one interface the engine trades through. Live Upbit, the paper exchange and (through the live
client pointed at it) the sandbox all implement it; the engine tells them apart only by `is_paper`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from exchange.types import Balance, Candle, Instrument, OrderBook, OrderChance, OrderInfo, OrderRequest, Ticker


@runtime_checkable
class Exchange(Protocol):
    is_paper: bool

    @property
    def account(self) -> str:
        """The ledger the exchange's orders belong to (exchange/account.py): "paper" or a live API and key."""
        ...

    def get_ticker(self, market: str) -> Ticker: ...

    def get_minute_candles(self, market: str, *, unit: int = 1, count: int = 200, to: datetime | None = None) -> list[Candle]:
        """Up to `count` (≤ 200) candles ending before `to`, **oldest first**."""
        ...

    def get_day_candles(self, market: str, *, count: int = 200, to: datetime | None = None) -> list[Candle]:
        """Up to `count` (≤ 200) day candles ending before `to`, **oldest first**."""
        ...

    def get_orderbook(self, market: str) -> OrderBook: ...

    def get_instrument(self, market: str) -> Instrument:
        """The pair's tick size as the exchange states it (`GET /v1/orderbook/instruments`)."""
        ...

    def get_accounts(self) -> list[Balance]: ...

    def get_order_chance(self, market: str) -> OrderChance: ...

    def place_order(self, request: OrderRequest) -> OrderInfo:
        """Place an order. Raises OrderRejected, OutcomeUnknown, RetryLater or StopTrading."""
        ...

    def get_order(self, *, uuid: str | None = None, identifier: str | None = None) -> OrderInfo:
        """One order with its trades. Raises OrderNotFound."""
        ...

    def cancel_order(self, *, uuid: str | None = None, identifier: str | None = None) -> OrderInfo: ...

    def get_open_orders(self, market: str) -> list[OrderInfo]: ...
