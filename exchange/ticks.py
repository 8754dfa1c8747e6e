"""Each pair's tick size as the exchange states it, kept for a day.

Upbit publishes the tick per pair at `GET /v1/orderbook/instruments` and changes its table now and then
(the KRW table changed in 2024 and again on 2025-07-31), so a price rounded with a table built into the
code can be refused (`invalid_price_*`) the day the exchange moves on. The engine asks here before it
rounds a limit price: the answer is read once and kept until a day has passed by the clock the caller
passes (the exchange's time in the engine, a test's own clock in tests). When the exchange cannot
answer, the built-in table (`exchange.rules`) is used and the fallback is reported once until the
exchange answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from exchange.exceptions import ExchangeError
from exchange.rules import Rounding, krw_tick_size, round_to_tick
from exchange.types import Instrument

logger = logging.getLogger("autocoin.exchange")

REFRESH_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Known:
    tick: Decimal
    read_at: datetime


class TickSizes:
    """Tick sizes per market from `fetch` (an exchange's `get_instrument`), each refreshed after `max_age`.

    `on_fallback(market, error, kept)` is called once when the exchange cannot answer: `kept` is the tick read
    before (still used), or None when the built-in table is used instead. It is called again only after the
    exchange has answered in between."""

    def __init__(
        self,
        fetch: Callable[[str], Instrument],
        *,
        max_age: timedelta = REFRESH_AFTER,
        on_fallback: Callable[[str, ExchangeError, Decimal | None], object] | None = None,
    ) -> None:
        self._fetch = fetch
        self._max_age = max_age
        self._on_fallback = on_fallback
        self._known: dict[str, _Known] = {}
        self._falling_back: set[str] = set()

    def tick_size(self, market: str, *, now: datetime, price: Decimal | None = None) -> Decimal | None:
        """The exchange's tick for `market`, or None when only the built-in table can say (then `price` picks its band)."""
        known = self._known.get(market)
        if known is not None and now - known.read_at < self._max_age:
            return known.tick
        try:
            instrument = self._fetch(market)
        except ExchangeError as error:
            kept = known.tick if known is not None else None
            if market not in self._falling_back:
                self._falling_back.add(market)
                if kept is not None:
                    instead = f"the tick read before, {kept}"
                elif price is not None and price > 0:
                    instead = f"the built-in KRW table ({krw_tick_size(price)} at {price})"
                else:
                    instead = "the built-in KRW table"
                logger.warning("tick size of %s unavailable (%s); using %s", market, error, instead)
                if self._on_fallback is not None:
                    self._on_fallback(market, error, kept)
            return kept
        self._falling_back.discard(market)
        self._known[market] = _Known(tick=instrument.tick_size, read_at=now)
        return instrument.tick_size

    def round(self, market: str, price: Decimal, rounding: Rounding, *, now: datetime) -> tuple[Decimal, Decimal | None]:
        """`price` on the market's grid, and the tick used (None: the built-in table's)."""
        tick = self.tick_size(market, now=now, price=price)
        return round_to_tick(price, rounding, tick=tick), tick

    def forget(self, market: str) -> None:
        """Read the tick again before the next order (after the exchange refused a price as off its grid)."""
        self._known.pop(market, None)
