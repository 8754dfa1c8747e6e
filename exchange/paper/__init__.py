"""The paper exchange: real market data, simulated orders and balances that persist in the database.

`PaperExchange` implements `exchange.base.Exchange` with `is_paper = True`. Ticker, candles and order
book come from a real market-data source (in production a keyless `UpbitClient`); orders are filled
with `exchange.matching`, the same rules the sandbox and the backtest use, and every balance, order
and trade is written to the paper ledger (`exchange.models`) in one transaction per change, so the
account survives restarts.

Matching is lazy. A paper order is not on Upbit's book, so nothing tells it when the market moves
through its price; instead, open orders of a market are matched against the current order book
whenever they are looked at: `place_order` (before the new order), `get_order`, `get_open_orders`,
`cancel_order` (a fill that happened before the cancel wins), `get_accounts` and `get_order_chance`.
The engine polls its open orders every cycle, so a resting order fills within one loop interval of
the book crossing it.

A paper order cannot remove liquidity from the real book, so the exchange remembers, per market and
price level, how much its orders already took; later looks see a level's size minus that amount.
An unchanged book therefore never fills the same size twice. The memory of a price is dropped once
that price leaves the book (new liquidity at that price later counts in full); it lives in the
process, so after a restart one already-used size could be matched once more.

The order book is always fetched before a transaction opens: no database transaction is ever held
across an HTTP call.

Modules: `account` (the persisted account: balances, identifiers, reset), `fills` (placing and
filling orders against a book) and `exchange` (`PaperExchange`, the interface over both).
"""

from __future__ import annotations

from exchange.paper.account import ResetResult, account_ensure, reset_account
from exchange.paper.exchange import MarketData, PaperExchange

__all__ = ["MarketData", "PaperExchange", "ResetResult", "account_ensure", "reset_account"]
