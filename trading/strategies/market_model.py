"""How a stored candle is turned into prices the engine can act on: one model for the backtest and the replay.

A candle holds four prices and no order book. Both the backtest and the replay walk each candle through
the same four points, in the same order, at the same moments, and price every fill against the same
one-level book. Because they share this module, a trade in one has the same time and price in the other
(docs/DECISIONS.md).

The path inside a candle is open → low → high → close. For a long position that is the pessimistic
order: the adverse move comes first, so when a stop and a target both lie inside one candle the stop is
taken, and a gap through the stop at the open fills at the open.

Each point has a moment inside the candle (`path_offsets`). The open point comes `CANDLE_CLOSE_MARGIN_SEC`
after the candle starts: that is the first moment at which the previous candle counts as closed (the
live engine waits the same margin after a candle's end before it trusts it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from exchange.rules import round_to_tick
from exchange.types import OrderBookLevel

CANDLE_CLOSE_MARGIN_SEC: Final = 2
"""Seconds after a candle's end (by the exchange's clock) before the engine treats it as closed."""

UNLIMITED_SIZE: Final = Decimal("1000000000000")
"""The synthetic book's size on each side: no order is limited by depth (a candle has none)."""

PATH: Final = ("open", "low", "high", "close")
"""The order in which the four prices of a candle are visited."""


def path_offsets(unit_sec: int) -> tuple[int, int, int, int]:
    """Seconds after the candle's start at which its open, low, high and close are visited."""
    return (CANDLE_CLOSE_MARGIN_SEC, unit_sec // 4, unit_sec // 2, (3 * unit_sec) // 4)


def path_prices(open_: Decimal, high: Decimal, low: Decimal, close: Decimal) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """The candle's four prices in path order (open, low, high, close)."""
    return (open_, low, high, close)


def one_level_book(price: Decimal) -> tuple[OrderBookLevel, ...]:
    """The book at `price`: the ask rounded up and the bid rounded down onto Upbit's tick grid, unlimited size.

    A price already on the grid (every price Upbit publishes) is both the ask and the bid."""
    ask = round_to_tick(price, "up")
    bid = ask if ask == price else round_to_tick(price, "down")
    return (OrderBookLevel(ask, UNLIMITED_SIZE, bid, UNLIMITED_SIZE),)  # positional: (ask_price, ask_size, bid_price, bid_size)
