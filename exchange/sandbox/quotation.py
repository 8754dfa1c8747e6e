"""Upbit's public market-data endpoints (market list, ticker, candles, order book, trades), answered
from the sandbox's price feeds. Quotation errors carry the HTTP status as an integer name."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from exchange.sandbox.feed import moment_of, seconds_of
from exchange.sandbox.http import MINUTE_CANDLES, HttpError, Request
from exchange.sandbox.ledger import KST, dec
from exchange.sandbox.prices import DAY_MINUTES, Bar, aggregate, quantize8
from exchange.sandbox.state import ORDERBOOK_LEVELS, SandboxState
from exchange.types import ZERO

MINUTE_UNITS = frozenset({1, 3, 5, 10, 15, 30, 60, 240})
COIN_NAMES = {
    "BTC": ("비트코인", "Bitcoin"),
    "ETH": ("이더리움", "Ethereum"),
    "XRP": ("엑스알피(리플)", "XRP"),
    "SOL": ("솔라나", "Solana"),
    "DOGE": ("도지코인", "Dogecoin"),
}

# Quotation errors carry the HTTP status as an integer name (upbit-api.md §5).
MISSING_PARAMETER = "Missing request parameter error. Check the required parameters!"
TYPE_MISMATCH = "Type mismatch error. Check the parameters type!"
INVALID_PARAMETER = "Invalid parameter. Check the given value!"


def _quotation_error(status: int, message: str) -> HttpError:
    return HttpError(status, status, message)


class QuotationEndpoints(SandboxState):
    """GET /v1/market/all, /v1/ticker, /v1/candles/..., /v1/orderbook, /v1/trades/ticks."""

    def _markets_param(self, request: Request, name: str = "markets") -> list[str]:
        raw = request.params.get(name)
        if raw is None or not str(raw).strip():
            raise _quotation_error(400, MISSING_PARAMETER)
        markets = [m.strip().upper() for m in str(raw).split(",") if m.strip()]
        unknown = [m for m in markets if m not in self.feeds]
        if unknown or not markets:
            raise _quotation_error(404, "Code not found")
        return markets

    def _market_param(self, request: Request) -> str:
        raw = request.params.get("market")
        if raw is None or not str(raw).strip():
            raise _quotation_error(400, MISSING_PARAMETER)
        market = str(raw).strip().upper()
        if market not in self.feeds:
            raise _quotation_error(404, "Code not found")
        return market

    def _count_param(self, request: Request, *, default: int, maximum: int) -> int:
        raw = request.params.get("count")
        if raw is None or raw == "":
            return default
        try:
            count = int(str(raw))
        except ValueError:
            raise _quotation_error(400, TYPE_MISMATCH) from None
        if not 1 <= count <= maximum:
            raise _quotation_error(400, f"{INVALID_PARAMETER} (count must be 1 to {maximum})")
        return count

    @staticmethod
    def _to_param(request: Request) -> float | None:
        raw = request.params.get("to")
        if raw is None or str(raw).strip() == "":
            return None
        text = str(raw).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _quotation_error(400, INVALID_PARAMETER) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # Upbit reads a zoneless `to` as UTC
        return seconds_of(moment.astimezone(UTC))

    def h_market_all(self, request: Request) -> tuple[int, Any]:
        raw = request.params.get("is_details", request.params.get("isDetails", "false"))
        details = str(raw).lower() == "true"
        rows: list[dict[str, Any]] = []
        for market in self.markets:
            coin = market.split("-", 1)[1]
            korean, english = COIN_NAMES.get(coin, (coin, coin))
            row: dict[str, Any] = {"market": market, "korean_name": korean, "english_name": english}
            if details:
                row["market_event"] = {
                    "warning": False,
                    "caution": {
                        "PRICE_FLUCTUATIONS": False,
                        "TRADING_VOLUME_SOARING": False,
                        "DEPOSIT_AMOUNT_SOARING": False,
                        "GLOBAL_PRICE_DIFFERENCES": False,
                        "CONCENTRATION_OF_SMALL_ACCOUNTS": False,
                    },
                }
            rows.append(row)
        return 200, rows

    def _completed(self, market: str, start_minute: int, end_minute: int, now: float) -> Bar | None:
        """Aggregate of the finished minutes in [start, end), cached: a price override is made at the current
        moment (the clock only moves forward), so it never changes a minute that has already finished."""
        feed = self.feeds[market]
        key = ("agg", market, start_minute, end_minute)
        if key in self._cache:
            known: Bar | None = self._cache[key]
            return known
        bar = aggregate(b for b in (feed.live_minute(m, now) for m in range(start_minute, end_minute)) if b is not None)
        self._remember(key, bar)
        return bar

    def ticker_row(self, market: str, now: datetime) -> dict[str, Any]:
        """The REST ticker of one market (the WebSocket ticker is built from it)."""
        return self._ticker(market, now)

    def _ticker(self, market: str, now: datetime) -> dict[str, Any]:
        feed = self.feeds[market]
        seconds = seconds_of(now)
        minute = int(seconds // 60)
        day_start = minute // DAY_MINUTES * DAY_MINUTES
        current = feed.live_minute(minute, seconds)
        finished = self._completed(market, day_start, minute, seconds)
        today = aggregate(b for b in (finished, current) if b is not None)
        last_day = self._completed(market, minute - DAY_MINUTES + 1, minute, seconds)
        day24 = aggregate(b for b in (last_day, current) if b is not None)
        price = self.current_price(market, seconds)
        yesterday = feed.bucket(DAY_MINUTES, day_start // DAY_MINUTES - 1, seconds)
        prev_close = yesterday.close if yesterday else (today.open if today else price)
        year_key = ("52w", market, day_start)  # finished days only: no later override changes them
        if year_key not in self._cache:
            days = feed.candles(DAY_MINUTES, count=365, to=day_start * 60.0, now=seconds)
            self._cache[year_key] = (
                max(days, key=lambda d: d[1].high, default=None),
                min(days, key=lambda d: d[1].low, default=None),
            )
        highest, lowest = self._cache[year_key]
        high_52 = max(highest[1].high if highest else price, today.high if today else price)
        low_52 = min(lowest[1].low if lowest else price, today.low if today else price)
        high_date = highest[0] if highest and highest[1].high >= high_52 else day_start
        low_date = lowest[0] if lowest and lowest[1].low <= low_52 else day_start
        change = price - prev_close
        rate = (change / prev_close).quantize(Decimal("0.0000000001")) if prev_close else ZERO
        trade_ms = int(seconds * 1000)
        utc = now.astimezone(UTC)
        local = now.astimezone(KST)
        trade_volume = quantize8((current.volume if current else ZERO) / 7 + Decimal("0.00010000"))
        return {
            "market": market,
            "trade_date": utc.strftime("%Y%m%d"),
            "trade_time": utc.strftime("%H%M%S"),
            "trade_date_kst": local.strftime("%Y%m%d"),
            "trade_time_kst": local.strftime("%H%M%S"),
            "trade_timestamp": trade_ms,
            "opening_price": today.open if today else price,
            "high_price": today.high if today else price,
            "low_price": today.low if today else price,
            "trade_price": price,
            "prev_closing_price": prev_close,
            "change": "RISE" if change > 0 else "FALL" if change < 0 else "EVEN",
            "change_price": abs(change),
            "change_rate": abs(rate),
            "signed_change_price": change,
            "signed_change_rate": rate,
            "trade_volume": trade_volume,
            "acc_trade_price": today.value if today else ZERO,
            "acc_trade_price_24h": day24.value if day24 else ZERO,
            "acc_trade_volume": today.volume if today else ZERO,
            "acc_trade_volume_24h": day24.volume if day24 else ZERO,
            "highest_52_week_price": high_52,
            "highest_52_week_date": moment_of(high_date * 60.0).strftime("%Y-%m-%d"),
            "lowest_52_week_price": low_52,
            "lowest_52_week_date": moment_of(low_date * 60.0).strftime("%Y-%m-%d"),
            "timestamp": trade_ms,
        }

    def h_ticker(self, request: Request) -> tuple[int, Any]:
        markets = self._markets_param(request)
        now = self.now()
        return 200, [self._ticker(market, now) for market in markets]

    def h_ticker_all(self, request: Request) -> tuple[int, Any]:
        raw = request.params.get("quote_currencies")
        if raw is None or not str(raw).strip():
            raise _quotation_error(400, MISSING_PARAMETER)
        quotes = {q.strip().upper() for q in str(raw).split(",")}
        now = self.now()
        return 200, [self._ticker(m, now) for m in self.markets if m.split("-", 1)[0] in quotes]

    def _candle_json(self, market: str, start_minute: int, bar: Bar, unit: int) -> dict[str, Any]:
        start = moment_of(start_minute * 60.0)
        return {
            "market": market,
            "candle_date_time_utc": start.strftime("%Y-%m-%dT%H:%M:%S"),
            "candle_date_time_kst": start.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S"),
            "opening_price": bar.open,
            "high_price": bar.high,
            "low_price": bar.low,
            "trade_price": bar.close,
            "timestamp": bar.last_ms,
            "candle_acc_trade_price": bar.value,
            "candle_acc_trade_volume": bar.volume,
            "unit": unit,
        }

    def h_candles_minutes(self, request: Request) -> tuple[int, Any]:
        unit_text = request.path[len(MINUTE_CANDLES) :]
        if not unit_text.isdigit() or int(unit_text) not in MINUTE_UNITS:
            raise _quotation_error(400, f"{INVALID_PARAMETER} (unit must be one of 1, 3, 5, 10, 15, 30, 60, 240)")
        unit = int(unit_text)
        market = self._market_param(request)
        count = self._count_param(request, default=1, maximum=200)
        to = self._to_param(request)
        seconds = seconds_of(self.now())
        candles = self.feeds[market].candles(unit, count=count, to=to, now=seconds)
        return 200, [self._candle_json(market, start, bar, unit) for start, bar in candles]

    def h_candles_days(self, request: Request) -> tuple[int, Any]:
        market = self._market_param(request)
        count = self._count_param(request, default=1, maximum=200)
        to = self._to_param(request)
        seconds = seconds_of(self.now())
        candles = self.feeds[market].candles(DAY_MINUTES, count=count + 1, to=to, now=seconds)
        rows = []
        for position, (start, bar) in enumerate(candles[:count]):
            row = self._candle_json(market, start, bar, DAY_MINUTES)
            del row["unit"]
            previous = candles[position + 1][1].close if position + 1 < len(candles) else bar.open
            change = bar.close - previous
            row["prev_closing_price"] = previous
            row["change_price"] = change
            row["change_rate"] = (change / previous).quantize(Decimal("0.0000000001")) if previous else ZERO
            if str(request.params.get("converting_price_unit", "")).upper() == "KRW":
                row["converted_trade_price"] = bar.close
            rows.append(row)
        return 200, rows

    def _day_bar(self, market: str, day: int, today: int, now: float) -> Bar | None:
        """One UTC day's candle; finished days are cached until the price overrides change."""
        feed = self.feeds[market]
        if day >= today:
            return feed.bucket(DAY_MINUTES, day, now)
        key = ("day", market, day, feed.version)
        if key in self._cache:
            known: Bar | None = self._cache[key]
            return known
        bar = feed.bucket(DAY_MINUTES, day, now)
        self._remember(key, bar)
        return bar

    def _period_candles(self, request: Request, period: str) -> tuple[int, Any]:
        """Week (from Monday), month and year candles: the UTC days of each period added up, newest first."""
        market = self._market_param(request)
        count = self._count_param(request, default=1, maximum=200)
        to = self._to_param(request)
        now = seconds_of(self.now())
        feed = self.feeds[market]
        today = int(now // 86400)
        first_day = feed.source.first_minute() // DAY_MINUTES
        last_minute = feed.source.last_minute()
        newest = today if to is None or to > now else math.ceil(to / 86400) - 1  # `to` is exclusive
        if last_minute is not None:
            newest = min(newest, last_minute // DAY_MINUTES)
        epoch = date(1970, 1, 1)
        rows: list[dict[str, Any]] = []
        day = newest
        while day >= first_day and len(rows) < count:
            moment = epoch + timedelta(days=day)
            if period == "weeks":
                start = moment - timedelta(days=moment.weekday())
                end = start + timedelta(days=7)
            elif period == "months":
                start = moment.replace(day=1)
                end = (start + timedelta(days=32)).replace(day=1)
            else:
                start = moment.replace(month=1, day=1)
                end = start.replace(year=start.year + 1)
            start_day, end_day = (start - epoch).days, (end - epoch).days
            bar = aggregate(
                b
                for b in (self._day_bar(market, d, today, now) for d in range(max(start_day, first_day), min(end_day, today + 1)))
                if b is not None
            )
            if bar is not None:
                row = self._candle_json(market, start_day * DAY_MINUTES, bar, DAY_MINUTES)
                del row["unit"]
                row["first_day_of_period"] = start.isoformat()
                rows.append(row)
            day = start_day - 1
        return 200, rows

    def h_candles_weeks(self, request: Request) -> tuple[int, Any]:
        return self._period_candles(request, "weeks")

    def h_candles_months(self, request: Request) -> tuple[int, Any]:
        return self._period_candles(request, "months")

    def h_candles_years(self, request: Request) -> tuple[int, Any]:
        return self._period_candles(request, "years")

    def h_orderbook(self, request: Request) -> tuple[int, Any]:
        markets = self._markets_param(request)
        raw_count = request.params.get("count")
        count = ORDERBOOK_LEVELS
        if raw_count not in (None, ""):
            try:
                count = int(str(raw_count))
            except ValueError:
                raise _quotation_error(400, TYPE_MISMATCH) from None
            if not 1 <= count <= ORDERBOOK_LEVELS:
                raise _quotation_error(400, f"{INVALID_PARAMETER} (count must be 1 to 30)")
        level = str(request.params.get("level", "0") or "0")
        try:
            level_value = Decimal(level)
        except InvalidOperation:
            raise _quotation_error(400, TYPE_MISMATCH) from None
        if level_value != 0:
            raise _quotation_error(400, f"{INVALID_PARAMETER} (the sandbox supports level 0 only)")
        now = self.now()
        seconds = seconds_of(now)
        result = []
        for market in markets:
            levels = self.book(market, seconds)[:count]
            result.append(
                {
                    "market": market,
                    "timestamp": int(seconds * 1000),
                    "total_ask_size": sum((lv.ask_size for lv in levels), ZERO),
                    "total_bid_size": sum((lv.bid_size for lv in levels), ZERO),
                    "orderbook_units": [
                        {"ask_price": lv.ask_price, "bid_price": lv.bid_price, "ask_size": lv.ask_size, "bid_size": lv.bid_size}
                        for lv in levels
                    ],
                    "level": 0,
                }
            )
        return 200, result

    def h_orderbook_instruments(self, request: Request) -> tuple[int, Any]:
        markets = self._markets_param(request)
        seconds = seconds_of(self.now())
        return 200, [
            {
                "market": m,
                "quote_currency": "KRW",
                "tick_size": dec(self.tick_size(m, seconds)),
                "supported_levels": ["0"],
            }
            for m in markets
        ]

    def h_trades_ticks(self, request: Request) -> tuple[int, Any]:
        market = self._market_param(request)
        count = self._count_param(request, default=1, maximum=500)
        seconds = seconds_of(self.now())
        feed = self.feeds[market]
        previous_close = self.feeds[market].bucket(DAY_MINUTES, int(seconds // 60) // DAY_MINUTES - 1, seconds)
        prev = previous_close.close if previous_close else self.current_price(market, seconds)
        rows = []
        moment = math.floor(seconds * 1000)
        for index in range(count):
            ms = moment - index * 1700
            price = feed.price(ms / 1000) or prev
            rng = random.Random(f"{self.seed}:{market}:tick:{ms}")  # noqa: S311 - seeded, repeatable trades
            utc = moment_of(ms / 1000)
            rows.append(
                {
                    "market": market,
                    "trade_date_utc": utc.strftime("%Y-%m-%d"),
                    "trade_time_utc": utc.strftime("%H:%M:%S"),
                    "timestamp": ms,
                    "trade_price": price,
                    "trade_volume": quantize8(Decimal(repr(rng.expovariate(1 / 0.02)))) + Decimal("0.00000001"),
                    "prev_closing_price": prev,
                    "change_price": price - prev,
                    "ask_bid": "ASK" if rng.random() < 0.5 else "BID",
                    "sequential_id": ms * 1000 + index,
                }
            )
        return 200, rows
