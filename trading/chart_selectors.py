"""Reads for the console's candle chart: stored candles, the running strategy's indicators, the trades, the exits' levels.

One page is up to `MAX_LIMIT` candles of the engine's market (`settings.TRADING_MARKET`) in the running
strategy's candle unit (its `candle_unit` parameter, as the engine picks it), with:

- the indicators the strategy decides on, computed by the strategy's own `prepare` (trading/strategies/), over
  the page and the warm-up the engine itself reads before it (`warmup_candles`), so the lines on the chart are
  the numbers the engine saw;
- a marker for every buy and sell (an order that traded, of the current account) inside the page, sorted into
  strategy entry, strategy exit, protective exit and manual, with the order's reason and the signal's sentence;
- the open position's stop-loss, ATR stop, trailing stop and take-profit levels, from the same rules the engine
  checks (`ProtectiveRules.levels`) and the stored trailing peak.

Numbers for the chart (prices, volumes, indicator values) are JSON numbers (floats): the chart draws numbers
and computes nothing with them; a value without meaning (an indicator's warm-up) is `null`. The exact
Decimal amounts of each order stay in the orders table and the API. Times are UTC epoch seconds (candle starts).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from trading.accounts import account_current
from trading.chart_candles import candle_source, chart_block, epoch_sql, newer_count, number_sql, stored_span
from trading.models import BalanceSnapshot, DecisionState, EngineState, Order, Signal, StrategyConfig
from trading.strategies import registry
from trading.strategies.base import EXIT_RULE_REASONS, Strategy, atr_min_candles
from trading.strategies.indicators import CandleArrays, FloatArray
from trading.strategies.protective import ProtectiveRules

MAX_LIMIT = 1000
"""The most candles one answer holds (a page of the chart)."""
INDICATOR_HISTORY = 2000
"""The engine's `trading.engine.decisions.INDICATOR_HISTORY` (the web may not import the engine; a test keeps
them equal): a history-dependent indicator (an EMA, a Wilder average) is computed over this many candles first."""
ENGINE_MAX_CANDLES = 5000
"""The engine's `trading.engine.candles.MAX_CANDLES` (kept equal by the same test)."""
MAX_EPOCH = 253402300799
"""9999-12-31 23:59:59 UTC: any later time is not a date."""

# How each indicator the strategies compute is drawn: pane 0 is the price's, 1 the one below it.
SERIES_STYLE: dict[str, dict[str, Any]] = {
    "sma_fast": {"pane": 0, "type": "line", "color": "#f59f00"},
    "sma_slow": {"pane": 0, "type": "line", "color": "#7048e8"},
    "target": {"pane": 0, "type": "line", "color": "#e8590c", "step": True},
    "macd": {"pane": 1, "type": "line", "color": "#1c7ed6"},
    "signal": {"pane": 1, "type": "line", "color": "#f76707"},
    "histogram": {"pane": 1, "type": "histogram", "color": "#868e96"},
    "rsi": {"pane": 1, "type": "line", "color": "#7048e8"},
}


class ChartQueryError(ValueError):
    """A parameter of the candle request that cannot be used; `field` names it, the text says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ChartQuery:
    """One page: the newest candles (no bound), those before `before`, or those after `after` (a live poll)."""

    before: int | None = None
    after: int | None = None
    limit: int = MAX_LIMIT


def _whole_number(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        raise ChartQueryError(
            name, gettext("%(name)s must be a whole number, got %(value)r") % {"name": name, "value": text[:40]}
        )
    value = int(text)
    if not low <= value <= high:
        raise ChartQueryError(
            name,
            gettext("%(name)s must be between %(low)s and %(high)s, got %(value)s")
            % {"name": name, "low": low, "high": high, "value": value},
        )
    return value


CHART_PARAMETERS = ("before", "after", "limit")


def chart_query_parse(params: Mapping[str, str]) -> ChartQuery:
    """`before` / `after` (UTC epoch seconds of a candle start, not both) and `limit` (1 to MAX_LIMIT). Any other
    parameter is refused by name: the chart is the engine's market and unit, and a `unit=` or `market=` that
    was quietly ignored would show a chart of something else than was asked for."""
    for name in params:
        if name not in CHART_PARAMETERS:
            raise ChartQueryError(
                name[:100],
                gettext("unknown parameter %(name)r; accepted: %(accepted)s")
                % {"name": name[:40], "accepted": ", ".join(CHART_PARAMETERS)},
            )
    before = _whole_number(params, "before", 0, MAX_EPOCH)
    after = _whole_number(params, "after", 0, MAX_EPOCH)
    if before is not None and after is not None:
        raise ChartQueryError("after", gettext("give before (older candles) or after (newer candles), not both"))
    limit = _whole_number(params, "limit", 1, MAX_LIMIT)
    return ChartQuery(before=before, after=after, limit=MAX_LIMIT if limit is None else limit)


# ---------------------------------------------------------------------------------------------------
# The strategy, as the engine runs it
# ---------------------------------------------------------------------------------------------------
def running_strategy() -> tuple[Strategy, dict[str, Any]]:
    """The configured strategy and its stored parameters validated (the defaults when the stored ones are invalid,
    as the engine does), read in one query."""
    strategy = registry.get_strategy(settings.STRATEGY)
    stored = StrategyConfig.objects.filter(strategy=strategy.name).values_list("params", flat=True).first()
    try:
        return strategy, strategy.validate(stored or {})
    except ValueError:
        return strategy, strategy.validate({})


def candle_unit(strategy: Strategy, params: Mapping[str, Any]) -> int:
    """The candle unit in minutes, picked as the engine picks it."""
    return int(params.get("candle_unit") or strategy.default_candle_unit)


def warmup_candles(strategy: Strategy, params: Mapping[str, Any], unit: int) -> int:
    """Candles the engine reads before the one it decides on: its indicators are computed over as many here."""
    need = max(2, int(strategy.min_candles(params, unit_sec=unit * 60)), atr_min_candles(params))
    if strategy.history_dependent(params) and need <= ENGINE_MAX_CANDLES:
        return max(need, INDICATOR_HISTORY)
    return need


# ---------------------------------------------------------------------------------------------------
# Candles and indicators
# ---------------------------------------------------------------------------------------------------
def _numbers(values: FloatArray) -> FloatArray:
    """An array as orjson writes it (C-contiguous float64); orjson writes NaN and infinities as null (JSON has no NaN)."""
    return np.ascontiguousarray(values, dtype=np.float64)


def _json(value: Any) -> str:
    """Compact JSON text, numpy arrays written by orjson directly: a page holds some 8,000 numbers, which the standard
    library would first turn into Python floats and then write several times slower."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class _IndicatorCache:
    """Recent pages' candles and indicators, already written as JSON, keyed by what decides them: the source, market,
    unit, strategy and parameters, the page asked for, and the first and last stored candle. Stored candles are
    only ever added (never changed in place), so a new candle, or older history imported, makes a new key; until
    then every viewer and every poll gets the page computed once. (Filling a gap in the middle of the stored
    history leaves both ends alone: such a page is recomputed once it leaves this small cache.)"""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.pages: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        page = self.pages.get(key)
        if page is not None:
            self.pages.move_to_end(key)
        return page

    def put(self, key: tuple[Any, ...], page: dict[str, Any]) -> None:
        self.pages[key] = page
        while len(self.pages) > self.size:
            self.pages.popitem(last=False)


_cache = _IndicatorCache()
_newest_blocks: dict[tuple[str, str, int, int], tuple[int, npt.NDArray[np.float64]]] = {}
"""The newest candles read for a page (with its warm-up), by source, market, unit and count, with the first stored
candle's time when read: when a candle is stored, only it is read and appended (the page is then recomputed from
the block in memory, not read again)."""


def chart_cache_clear() -> None:
    _cache.pages.clear()
    _newest_blocks.clear()


def _newest_block(*, source: str, market: str, unit: int, count: int, span: tuple[int, int]) -> npt.NDArray[np.float64]:
    """The newest `count` stored candles as a block, reading only what was stored since the last read when it can."""
    key = (source, market, unit, count)
    held = _newest_blocks.get(key)
    if held is not None and held[0] == span[0] and held[1].shape[1] > 0:
        block = held[1]
        last = int(block[0, -1])
        if last == span[1]:
            return block
        newer = chart_block(source=source, market=market, unit=unit, before=None, after=last, count=count)
        if newer.shape[1] < count:  # everything since was read: the block slides forward
            block = np.ascontiguousarray(np.concatenate((block, newer), axis=1)[:, -count:])
            _newest_blocks[key] = (span[0], block)
            return block
    block = chart_block(source=source, market=market, unit=unit, before=None, count=count)
    if len(_newest_blocks) >= 4:
        _newest_blocks.clear()
    _newest_blocks[key] = (span[0], block)
    return block


def _page(
    *, source: str, market: str, strategy: Strategy, params: dict[str, Any], unit: int, before: int | None, limit: int
) -> dict[str, Any]:
    """Up to `limit` candles before `before` with the strategy's indicators: `json` (the candles and series, written),
    `first` and `last` (their times; None when empty) and `has_more` (older candles are stored)."""
    span = stored_span(source=source, market=market, unit=unit)
    key = (source, market, unit, strategy.name, repr(sorted(params.items())), before, limit, span)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    warmup = warmup_candles(strategy, params, unit)
    # One row more than the warm-up needs tells whether anything older than the page is stored.
    count = limit + warmup + 1
    if before is None:
        block = _newest_block(source=source, market=market, unit=unit, count=count, span=span)
    else:
        block = chart_block(source=source, market=market, unit=unit, before=before, count=count)
    total = block.shape[1]
    shown = min(limit, total)
    starts = block[0].astype(np.int64)
    cut = total - shown
    series = []
    if shown:
        arrays = CandleArrays(
            open=block[1], high=block[2], low=block[3], close=block[4], volume=block[5], start=starts, unit_sec=unit * 60
        )
        prepared = strategy.prepare(arrays, params)
        series = [
            {"key": name, "label": _series_label(name, params), **SERIES_STYLE[name], "values": _numbers(values[cut:])}
            for name, values in prepared.series.items()
            if name in SERIES_STYLE
        ]
    candles = {
        "time": np.ascontiguousarray(starts[cut:]),
        **{name: _numbers(block[row][cut:]) for row, name in enumerate(("open", "high", "low", "close", "volume"), start=1)},
    }
    page = {
        "json": _json({"candles": candles, "series": series})[1:-1],
        "first": int(starts[cut]) if shown else None,
        "last": int(starts[-1]) if shown else None,
        "has_more": total > shown,
    }
    _cache.put(key, page)
    return page


def _series_label(name: str, params: Mapping[str, Any]) -> str:
    labels = {
        "sma_fast": f"SMA({params.get('fast')})",
        "sma_slow": f"SMA({params.get('slow')})",
        "target": gettext("Breakout level"),
        "macd": f"MACD({params.get('fast')},{params.get('slow')})",
        "signal": gettext("Signal (%(period)s)") % {"period": params.get("signal")},
        "histogram": gettext("Histogram"),
        "rsi": f"RSI({params.get('rsi_period')})",
    }
    return labels.get(name, name)


def _guides(strategy: Strategy, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Fixed levels drawn on an indicator's pane (the RSI's oversold and overbought)."""
    if strategy.name == "momentum":
        return [
            {"series": "rsi", "price": float(params["oversold"]), "label": gettext("Oversold")},
            {"series": "rsi", "price": float(params["overbought"]), "label": gettext("Overbought")},
        ]
    return []


# ---------------------------------------------------------------------------------------------------
# Markers: the trades
# ---------------------------------------------------------------------------------------------------
ENTRY, EXIT, PROTECTIVE, MANUAL = "entry", "exit", "protective", "manual"
_PROTECTIVE_CODES = {str(reason) for reason in EXIT_RULE_REASONS} | {"kill_switch", "kill-switch"}


def marker_kind(*, side: str, reason: str, signal_source: str | None, signal_reason: str | None) -> str:
    """Which kind of trade an order was: a person's (manual), a protective exit (stop-loss, ATR stop, trailing
    stop, take-profit, the kill-switch's close), or the strategy's own entry or exit."""
    if signal_source == Signal.MANUAL_SOURCE or reason.startswith("manual"):
        return MANUAL
    code = signal_reason or reason.rsplit(": ", 1)[-1].strip()
    if code in _PROTECTIVE_CODES or "kill" in reason.lower():
        return PROTECTIVE
    return ENTRY if side == "buy" else EXIT


def _meta_reason_sql() -> str:
    return "s.meta ->> 'reason'" if connection.vendor == "postgresql" else "json_extract(s.meta, '$.reason')"


def _markers(*, market: str, account: str, first: int, end: int, unit: int) -> list[dict[str, Any]]:
    """Every order of `account` on `market` that traded (fully or in part) with its time in [first, end).

    One statement with its signal joined, numbers and times converted by the database: a page of 1,000 busy
    minutes holds hundreds of trades, and building model rows (Decimals, datetimes, JSON) for each would cost
    more than the rest of the answer."""
    orders = connection.ops.quote_name(Order._meta.db_table)
    signals = connection.ops.quote_name(Signal._meta.db_table)
    sql = (
        f"SELECT o.id, {epoch_sql('o.ts')}, o.side, o.reason, {number_sql('o.price')}, {number_sql('o.executed_volume')}, "  # noqa: S608 - quoted model names only
        f"{number_sql('o.executed_funds')}, s.source, s.explanation, {_meta_reason_sql()} "
        f"FROM {orders} o LEFT JOIN {signals} s ON s.id = o.signal_id "
        "WHERE o.account = %s AND o.market = %s AND o.ts >= %s AND o.ts < %s AND o.executed_volume > 0 "
        "ORDER BY o.ts, o.id"
    )
    adapt = connection.ops.adapt_datetimefield_value
    bounds = [adapt(datetime.fromtimestamp(first, tz=UTC)), adapt(datetime.fromtimestamp(end, tz=UTC))]
    with connection.cursor() as cursor:
        cursor.execute(sql, [account, market, *bounds])
        rows = cursor.fetchall()
    step = unit * 60
    found = []
    for order_id, epoch, side, reason, price, volume, funds, source, explanation, signal_reason in rows:
        found.append(
            {
                "id": order_id,
                "time": epoch - epoch % step,
                "at": epoch,
                "side": side,
                "kind": marker_kind(side=side, reason=reason, signal_source=source, signal_reason=signal_reason),
                "price": funds / volume if funds and volume else price,  # the average fill price
                "volume": volume,
                "reason": reason,
                "explanation": explanation or "",
            }
        )
    return found


# ---------------------------------------------------------------------------------------------------
# The open position's exit levels
# ---------------------------------------------------------------------------------------------------
def _levels(
    *, market: str, account: str, params: Mapping[str, Any], atr: float | None, last_price: Decimal | None
) -> list[dict[str, Any]]:
    """The average buy price and each active protective exit's price, while a position is open (else none)."""
    snapshot = (
        BalanceSnapshot.objects.filter(account=account).order_by("-ts", "-id").values("coin_volume", "avg_buy_price").first()
    )
    if snapshot is None or snapshot["coin_volume"] <= 0 or snapshot["avg_buy_price"] <= 0:
        return []
    average = float(snapshot["avg_buy_price"])
    stored_peak = DecisionState.objects.filter(market=market, account=account).values_list("peak_price", flat=True).first()
    # The engine raises the stored peak to each price it sees; the last price may be newer than the stored peak.
    peak = max(float(stored_peak or 0), average, float(last_price or 0))
    rules = ProtectiveRules.from_params(params)
    found = [{"kind": "average", "price": average}]
    found += [
        {"kind": str(reason), "price": level} for reason, level in rules.levels(avg_buy_price=average, peak=peak, atr=atr).items()
    ]
    return found


def _latest_atr(strategy: Strategy, params: dict[str, Any], source: str, market: str, unit: int) -> float | None:
    """The ATR of the newest stored candle, when the parameters use an ATR stop (the engine's own input)."""
    if not params.get("atr_stop_mult"):
        return None
    warmup = warmup_candles(strategy, params, unit)
    block = chart_block(source=source, market=market, unit=unit, before=None, count=warmup)
    if block.shape[1] == 0:
        return None
    from trading.strategies.indicators import atr

    value = float(atr(block[2], block[3], block[4], int(params["atr_period"]))[-1])
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------------------
# The candle still forming
# ---------------------------------------------------------------------------------------------------
FORMING_KEY = "forming_candle"
"""Where the engine publishes its forming candle in `EngineState.metrics` (trading/engine/forming.py; a test
keeps the two equal: the web may not import the engine)."""
FORMING_STALE_SEC = 60
"""The forming candle is drawn while the engine's last cycle is at most this old (or one candle long, when longer):
an engine that stopped cycling knows nothing newer, and its candle has closed since."""


@dataclass(frozen=True)
class EngineNow:
    """What the engine last wrote that a chart page shows: its last price, its last cycle, its forming candle."""

    last_price: Decimal | None = None
    last_cycle_at: datetime | None = None
    forming: Any = None


def _engine_now() -> EngineNow:
    """One small query: two columns and one key of the metrics (the database extracts it)."""
    row = (
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK)
        .values_list("last_price", "last_cycle_at", f"metrics__{FORMING_KEY}")
        .first()
    )
    return EngineNow(*row) if row else EngineNow()


def _price(text: Any) -> float | None:
    try:
        value = float(Decimal(str(text)))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def forming_candle(*, engine: EngineNow, market: str, unit: int, newest: int | None, now: datetime) -> dict[str, Any] | None:
    """The candle still forming (time, open, high, low, close), or None: none published for this market and unit,
    the engine not cycling (its last cycle older than `FORMING_STALE_SEC` or one candle), or already closed (it
    starts at or before `newest`, the newest closed candle the answer or the page holds). While the engine's last
    cycle lies inside the candle, the engine's last price (written by every cycle) is its close and widens its
    range: the counters carrying the candle are written a little less often."""
    raw = engine.forming
    if not isinstance(raw, dict) or raw.get("market") != market or raw.get("unit") != unit:
        return None
    start = raw.get("start")
    if not isinstance(start, int) or isinstance(start, bool) or (newest is not None and start <= newest):
        return None
    if engine.last_cycle_at is None or (now - engine.last_cycle_at).total_seconds() > max(FORMING_STALE_SEC, unit * 60):
        return None
    prices = [_price(raw.get(name)) for name in ("open", "high", "low", "close")]
    if any(price is None for price in prices):
        return None
    open_, high, low, close = (float(price or 0) for price in prices)
    last = _price(engine.last_price)
    if last is not None and start <= engine.last_cycle_at.timestamp() < start + unit * 60:
        close, high, low = last, max(high, last), min(low, last)
    return {"time": start, "open": open_, "high": max(high, open_, close), "low": min(low, open_, close), "close": close}


# ---------------------------------------------------------------------------------------------------
# The answer
# ---------------------------------------------------------------------------------------------------
_EMPTY_PAGE_JSON = '"candles":{"time":[],"open":[],"high":[],"low":[],"close":[],"volume":[]},"series":[]'


def chart_json(*, query: ChartQuery, now: datetime | None = None) -> str:
    """One page of the chart as JSON text (see the module docstring); a live poll (`after`) with nothing new holds
    no candles. The candles and indicators come written from the cache; the trades, levels and the forming candle
    are read each time. `forming` (the newest page and polls only; else null) is the candle still forming, apart
    from the closed `candles` and after them; `now` is the server's time (for tests)."""
    strategy, params = running_strategy()
    market = settings.TRADING_MARKET
    unit = candle_unit(strategy, params)
    source = candle_source()
    account = account_current()
    page: dict[str, Any]
    if query.after is not None:
        newer = newer_count(source=source, market=market, unit=unit, after=query.after, limit=query.limit)
        # The newest `newer` candles (at most `limit`); none when nothing is new: then a poll costs a few small queries.
        if newer:
            page = _page(source=source, market=market, strategy=strategy, params=params, unit=unit, before=None, limit=newer)
        else:
            page = {"json": _EMPTY_PAGE_JSON, "first": None, "last": None}
        page = {**page, "has_more": True}
    else:
        page = _page(
            source=source, market=market, strategy=strategy, params=params, unit=unit, before=query.before, limit=query.limit
        )
    first, last = page["first"], page["last"]
    markers = _markers(market=market, account=account, first=first, end=last + unit * 60, unit=unit) if first is not None else []
    latest = query.before is None
    atr = _latest_atr(strategy, params, source, market, unit) if latest else None
    engine = _engine_now() if latest else EngineNow()
    newest = max((time for time in (last, query.after) if time is not None), default=None)
    forming = (
        forming_candle(engine=engine, market=market, unit=unit, newest=newest, now=now or timezone.now()) if latest else None
    )
    rest = {
        "market": market,
        "unit": unit,
        "strategy": strategy.name,
        "strategy_title": gettext(strategy.title),  # the titles are in the catalogue (param_fields.STRATEGY_TEXTS)
        "guides": _guides(strategy, params),
        "markers": markers,
        "levels": _levels(market=market, account=account, params=params, atr=atr, last_price=engine.last_price)
        if latest
        else None,
        "forming": forming,
        "has_more": page["has_more"],
    }
    written: str = page["json"]
    return "{" + written + "," + _json(rest)[1:]


def chart_payload(*, query: ChartQuery, now: datetime | None = None) -> dict[str, Any]:
    """`chart_json` read back: what the page's script receives."""
    return json.loads(chart_json(query=query, now=now))  # type: ignore[no-any-return]
