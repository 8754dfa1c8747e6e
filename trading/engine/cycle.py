"""One trading cycle, run synchronously (the runner calls it from the engine thread; tests call it directly).

Order of work, each step leaving an EngineEvent or Signal behind:

1. reconcile every non-final order of this mode (NEW, WAIT, UNKNOWN) and record its fills;
2. fetch closed candles (enough for the strategy) and the ticker; read balances;
3. manual requests queued from the web, through the same risk gate and order path;
4. the strategy's decision (a Signal row; HOLD only on change or every HOLD_SIGNAL_INTERVAL_SEC);
5. the risk gate, then at most one order (never while an order's outcome on this market is unknown);
6. balance snapshot, daily PnL, daily-loss kill-switch; counters for /metrics.

Failures are classified by the exchange exception hierarchy: RetryLater/RateLimited back off (and
trip the kill-switch after MAX_CONSECUTIVE_FAILURES in a row), StopTrading goes to ERROR at once,
OrderRejected is counted and shown to the strategy, anything unexpected goes to ERROR with the traceback.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import close_old_connections, reset_queries, transaction
from django.utils import timezone

from exchange.base import Exchange
from exchange.exceptions import ExchangeError, InvalidRequest, OrderRejected, RateLimited, RetryLater, StopTrading
from exchange.redact import mask_text
from exchange.rules import DEFAULT_FEE_RATE, KRW_MIN_ORDER_TOTAL, quantize_volume
from exchange.types import Candle
from trading import events, services
from trading.engine import orders as order_ops
from trading.engine.candles import MAX_CANDLES, CandleCache, drop_forming
from trading.engine.notify import Notifier
from trading.engine.pnl import Holdings, PnlTracker, SnapshotKeeper, holdings_from_balances
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Mode, Order, Signal, StrategyConfig

logger = logging.getLogger("autocoin.engine.cycle")

State = EngineState.State
ZERO = Decimal("0")
BACKOFF_CAP_SEC = 60.0
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FEE_REFRESH_SEC = 3600
MANUAL_BATCH = 20
"""Manual requests read per cycle (oldest first): a burst of thousands is worked through in order without
one cycle reading them all."""


# ---------------------------------------------------------------------------------------------------
# Counters published with the heartbeat (EngineState.metrics)
# ---------------------------------------------------------------------------------------------------
class Metrics:
    """The engine's counters. `snapshot()` is what lands in EngineState.metrics (JSON):

    - ``cycles_total`` (int): cycles run by this process.
    - ``cycle_duration_seconds`` (object): a Prometheus-style histogram of cycle wall time:
      ``{"buckets": {"0.05": n, "0.1": n, "0.25": n, "0.5": n, "1": n, "2.5": n, "5": n, "10": n, "+Inf": n},
      "sum": float_seconds, "count": n}``; bucket counts are cumulative (``le``).
    - ``orders_placed_total`` (int): orders the exchange accepted.
    - ``orders_failed_total`` (int): orders rejected, not placed, or with a lost answer.
    - ``exchange_errors_total`` (object): ``{exception class name: count}``, e.g. ``{"RetryLater": 2}``.
    - ``rate_limited_total`` (int): HTTP 429 answers seen (by the client's retries or by the engine).
    - ``equity_krw`` (str decimal or null): KRW + coin × last price after the last cycle.
    - ``pnl_today_krw`` (str decimal or null): today's realized + unrealized PnL (docs/ENGINE.md).
    - ``last_cycle_at`` (ISO time or null), ``last_cycle_duration_seconds`` (float),
      ``started_at`` (ISO time): when this engine process started, ``owner`` ("host:pid"), ``mode``.
    Counters restart from 0 with each engine process (Prometheus handles counter resets).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cycles_total = 0
        self.bucket_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.orders_placed_total = 0
        self.orders_failed_total = 0
        self.exchange_errors_total: dict[str, int] = {}
        self.rate_limited_seen = 0
        self.client_rate_limited = 0
        self.equity_krw: Decimal | None = None
        self.pnl_today_krw: Decimal | None = None
        self.last_cycle_at: datetime | None = None
        self.last_duration = 0.0
        self.started_at = timezone.now()
        self.extra: dict[str, Any] = {}

    def observe_cycle(self, seconds: float) -> None:
        with self._lock:
            self.cycles_total += 1
            self.duration_sum += seconds
            self.last_duration = seconds
            self.last_cycle_at = timezone.now()
            for index, bound in enumerate(DURATION_BUCKETS):
                if seconds <= bound:
                    self.bucket_counts[index] += 1
                    break
            else:
                self.bucket_counts[-1] += 1

    def count_error(self, error: BaseException) -> None:
        with self._lock:
            name = type(error).__name__
            self.exchange_errors_total[name] = self.exchange_errors_total.get(name, 0) + 1
            if isinstance(error, RateLimited):
                self.rate_limited_seen += 1

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            cumulative: dict[str, int] = {}
            running = 0
            for bound, count in zip(DURATION_BUCKETS, self.bucket_counts, strict=False):
                running += count
                cumulative[f"{bound:g}"] = running
            cumulative["+Inf"] = running + self.bucket_counts[-1]
            return {
                "cycles_total": self.cycles_total,
                "cycle_duration_seconds": {"buckets": cumulative, "sum": round(self.duration_sum, 6), "count": self.cycles_total},
                "orders_placed_total": self.orders_placed_total,
                "orders_failed_total": self.orders_failed_total,
                "exchange_errors_total": dict(self.exchange_errors_total),
                "rate_limited_total": max(self.rate_limited_seen, self.client_rate_limited),
                # format(…, "f"): "0.00000000", never "0E-8", for people and scrapers reading the JSON.
                "equity_krw": None if self.equity_krw is None else format(self.equity_krw, "f"),
                "pnl_today_krw": None if self.pnl_today_krw is None else format(self.pnl_today_krw, "f"),
                "last_cycle_at": self.last_cycle_at.isoformat() if self.last_cycle_at else None,
                "last_cycle_duration_seconds": round(self.last_duration, 6),
                "started_at": self.started_at.isoformat(),
                **self.extra,
            }


# ---------------------------------------------------------------------------------------------------
# The cycle
# ---------------------------------------------------------------------------------------------------
@dataclass
class CycleOutcome:
    ok: bool
    retry_in_sec: float | None = None
    """When set, the runner waits this long (backoff) instead of LOOP_INTERVAL_SEC."""
    error: str = ""
    stopped: bool = False
    """The engine went to ERROR (or the kill-switch tripped) during this cycle."""
    orders: list[Order] = field(default_factory=list)
    decision: Any = None


@dataclass
class Intent:
    """An order the engine wants to make, before the risk gate sizes or blocks it."""

    side: str
    source: str
    """A `risk.IntentSource` value: strategy, exit_rule, manual or kill_switch."""
    reason: str
    krw: Decimal | None = None
    """Buy: KRW total wanted (None: as much as the limits allow)."""
    volume: Decimal | None = None
    """Sell: coin volume (None: everything free)."""
    signal: Signal | None = None


class EngineStopped(Exception):
    """The engine left RUNNING during the cycle (kill-switch, StopTrading, error)."""


_closed_candles = drop_forming


def _masked(text: str) -> str:
    secrets = [
        s
        for s in (settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY, settings.TELEGRAM_BOT_TOKEN, settings.AUTOCOIN_API_TOKEN)
        if s
    ]
    return mask_text(text, secrets)


class TradingEngine:
    """The trading logic of the engine process, one `run_cycle()` at a time.

    It keeps in memory only what can be rebuilt from the database and the exchange (the PnL book, the
    last snapshot, the last HOLD signal), so a restart loses nothing."""

    def __init__(
        self,
        exchange: Exchange,
        *,
        market: str | None = None,
        notifier: Notifier | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = timezone.now,
        sleep_jitter: Callable[[], float] = random.random,
        owner: str | None = None,
    ) -> None:
        self.exchange = exchange
        self.owner = owner
        """The engine process's claim ("host:pid"); when set, no order is sent once another process owns the row."""
        self.market = market or settings.TRADING_MARKET
        self.mode = Mode.PAPER if getattr(exchange, "is_paper", False) else Mode.LIVE
        self.notifier = notifier or Notifier(channels=[])
        self.metrics = metrics or Metrics()
        self.clock = clock
        self._jitter = sleep_jitter
        self._fee_rates: dict[str, Decimal] = {"buy": DEFAULT_FEE_RATE, "sell": DEFAULT_FEE_RATE}
        self._min_total = KRW_MIN_ORDER_TOTAL
        self._fees_at: float | None = None
        self._pnl: PnlTracker | None = None
        self._snapshots: SnapshotKeeper | None = None
        self._last_hold: tuple[str, str] | None = None
        self._last_hold_at: datetime | None = None
        self._highest_price: Decimal | None = None
        self._last_rejection: dict[str, Any] | None = None
        self._strategy_params_seen: Any = None
        self._candle_cache = CandleCache(exchange, self.market, clock)
        self._reconciled_at_start = False
        self._fills_pending = True
        self.metrics.extra["mode"] = self.mode

    # --- public ----------------------------------------------------------------------------------
    def startup_reconcile(self) -> order_ops.ReconcileResult:
        """Look up every non-final order before anything else (crash recovery). Exchange errors propagate."""
        if self._ban_remaining():
            return order_ops.ReconcileResult()  # the first cycle after the ban does it, before anything else
        result = order_ops.orders_reconcile(self.exchange, mode=self.mode, fee_rates=self._fee_rates, on_fill=self._on_fill)
        self._reconciled_at_start = True
        self._fills_pending = result.fills_pending
        if result.checked:
            events.event_record(
                kind=events.Kind.ORDER_RECONCILED,
                actor="engine",
                message=(
                    f"Start-up reconciliation: {result.checked} open order(s) checked, {result.resolved} settled, "
                    f"{result.still_unknown} still unknown, {len(result.new_fills)} fill(s) recovered"
                ),
                meta={"checked": result.checked, "resolved": result.resolved, "still_unknown": result.still_unknown},
            )
        return result

    def run_cycle(self, *, may_trade: bool = True) -> CycleOutcome:
        """One full cycle. `may_trade=False` observes only (reconcile, prices, PnL), never places orders."""
        started = time.monotonic()
        if transaction.get_autocommit():
            close_old_connections()
        if settings.DEBUG:
            reset_queries()
        banned = self._ban_remaining()
        if banned:
            # Any call now would extend Upbit's ban (and the client would sleep through it, deaf to Stop).
            return CycleOutcome(ok=False, retry_in_sec=banned, error=f"waiting {banned:.0f} s for Upbit's ban to end")
        try:
            outcome = self._cycle(may_trade=may_trade)
            self._clear_failures()
        except (StopTrading, InvalidRequest) as error:
            outcome = self._stop_trading(error)
        except RetryLater as error:
            outcome = self._temporary_failure(error)
        except EngineStopped as stopped:
            outcome = CycleOutcome(ok=False, error=str(stopped), stopped=True)
        except ExchangeError as error:
            outcome = self._temporary_failure(error)
        except Exception as error:  # noqa: BLE001 - anything unexpected stops trading with its traceback
            outcome = self._unexpected(error)
        finally:
            self.metrics.observe_cycle(time.monotonic() - started)
            stats = getattr(self.exchange, "stats", None)
            if isinstance(stats, dict):
                self.metrics.client_rate_limited = int(stats.get("http_429", 0) or 0)
            if transaction.get_autocommit():
                close_old_connections()
        return outcome

    # --- the steps -------------------------------------------------------------------------------
    def _cycle(self, *, may_trade: bool) -> CycleOutcome:
        outcome = CycleOutcome(ok=True)
        state = EngineState.load()
        self._failures_at_start = state.consecutive_failures
        if state.kill_switch or state.state == State.ERROR:
            may_trade = False
        self._refresh_fees()
        if not self._reconciled_at_start:
            self.startup_reconcile()
        else:
            # Final orders with unread trades are searched for only while some are known to exist.
            result = order_ops.orders_reconcile(
                self.exchange, mode=self.mode, fee_rates=self._fee_rates, on_fill=self._on_fill, check_fills=self._fills_pending
            )
            self._fills_pending = result.fills_pending
        for problem in order_ops.orders_cancel_requested(
            self.exchange, mode=self.mode, fee_rates=self._fee_rates, on_fill=self._on_fill
        ):
            logger.warning("requested cancel not carried out yet: %s", problem)

        strategy, params = self._strategy()
        candles = self._candles(strategy, params)
        ticker = self.exchange.get_ticker(self.market)
        price = ticker.trade_price
        holdings = holdings_from_balances(self.exchange.get_accounts(), self.market)
        pnl = self._pnl_tracker()
        pnl.absorb_new_fills()
        self._fills_this_cycle = False

        acted = False
        if may_trade:
            placed = self._manual_requests(holdings, price, pnl, outcome)
            if placed:
                acted = True
                holdings = holdings_from_balances(self.exchange.get_accounts(), self.market)

        if self._fills_this_cycle:
            pnl.absorb_new_fills()  # the position's entry time includes this cycle's manual order
        decision = self._decide(strategy, params, candles, holdings, price, pnl)
        outcome.decision = decision
        signal = self._record_signal(strategy.name, decision, price)

        if may_trade and not acted and decision is not None and str(decision.action) in ("BUY", "SELL"):
            intent = self._intent_from_decision(decision, holdings, price, signal)
            if intent is not None:
                result = self._execute(intent, holdings, price, pnl, outcome)
                if result is not None and result.placed:
                    acted = True
                    holdings = holdings_from_balances(self.exchange.get_accounts(), self.market)

        if self._fills_this_cycle:
            pnl.absorb_new_fills()
        self._book_keeping(holdings, price, pnl)
        return outcome

    def _refresh_fees(self) -> None:
        now = time.monotonic()
        if self._fees_at is not None and now - self._fees_at < FEE_REFRESH_SEC:
            return
        try:
            chance = self.exchange.get_order_chance(self.market)
        except InvalidRequest as error:
            if error.name == "notfoundmarket":
                raise  # a wrong TRADING_MARKET: stop and say so
            # An exchange without /v1/orders/chance (or refusing it) still trades: Upbit's published KRW
            # fee and minimum apply, and the next refresh asks again.
            self._fees_at = now
            events.event_record(
                kind=events.Kind.EXCHANGE_ERROR,
                level=events.Level.WARNING,
                actor="engine",
                message=f"Order rules unavailable ({error}); using Upbit's KRW fee 0.05% and minimum 5,000 KRW",
                meta={"error": str(error), "name": error.name, "status": error.status},
            )
            return
        self._fee_rates = {"buy": chance.bid_fee, "sell": chance.ask_fee}
        self._min_total = max(chance.min_total, KRW_MIN_ORDER_TOTAL) if chance.min_total else KRW_MIN_ORDER_TOTAL
        self._fees_at = now

    def _pnl_tracker(self) -> PnlTracker:
        if self._pnl is None:
            self._pnl = PnlTracker(market=self.market, mode=self.mode, fee_rate=self._fee_rates["sell"], price_at=self._price_at)
        return self._pnl

    def _strategy(self) -> tuple[Any, dict[str, Any]]:
        from trading.strategies import registry

        strategy = registry.get_strategy(settings.STRATEGY)
        row = StrategyConfig.objects.filter(strategy=settings.STRATEGY).values_list("params", flat=True).first()
        raw = row or {}
        if raw == self._strategy_params_seen and self._strategy_params_cache is not None:
            return strategy, self._strategy_params_cache
        try:
            params = registry.validate_params(settings.STRATEGY, raw)
        except ValueError as error:
            # A bad stored row must not stop trading on the last good parameters; say so once.
            if self._strategy_params_seen != raw:
                events.engine_error(
                    message=f"Strategy parameters for {settings.STRATEGY} are invalid ({error}); using the defaults",
                    meta={"params": raw},
                    level=events.Level.WARNING,
                )
            params = registry.validate_params(settings.STRATEGY, {})
        self._strategy_params_seen = raw
        self._strategy_params_cache = params
        return strategy, params

    _strategy_params_cache: dict[str, Any] | None = None

    def _candle_unit(self, strategy: Any, params: dict[str, Any]) -> int:
        """The strategy's `candle_unit` parameter (minutes; 1440 = day candles)."""
        unit = params.get("candle_unit") or getattr(strategy, "default_candle_unit", 1)
        return int(unit)

    def _candles(self, strategy: Any, params: dict[str, Any]) -> list[Candle]:
        """The closed candles the strategy needs (paged past 200, cached across cycles: see candles.py)."""
        unit = self._candle_unit(strategy, params)
        need = max(2, int(strategy.min_candles(params, unit_sec=unit * 60)))
        window = self._candle_cache.closed(unit, need)
        self._candle_unit_used = unit
        if window.capped and self._capped_warned != (strategy.name, need):
            self._capped_warned = (strategy.name, need)
            events.engine_error(
                message=(
                    f"Strategy {strategy.name} needs {need:,} closed {unit}-minute candles but the engine reads at most "
                    f"{MAX_CANDLES:,}: it stays in warm-up (HOLD). Choose shorter periods or a longer candle_unit"
                ),
                meta={"strategy": strategy.name, "need": need, "max_candles": MAX_CANDLES, "candle_unit": unit},
                level=events.Level.WARNING,
            )
        return window.candles

    _capped_warned: tuple[str, int] | None = None
    _candle_unit_used = 1

    def _price_at(self, moment: datetime) -> Decimal | None:
        candles = self.exchange.get_minute_candles(self.market, unit=1, count=1, to=moment)
        return candles[-1].close if candles else None

    def _position(
        self, holdings: Holdings, price: Decimal, pnl: PnlTracker | None = None, candles: list[Candle] | None = None
    ) -> Any:
        from trading.strategies.base import Position

        if holdings.coin * price < self._min_total:
            self._highest_price = None
            self._highest_entry = None
            return Position(volume=holdings.coin, avg_buy_price=holdings.avg_buy_price) if holdings.coin > 0 else None
        entry_at = pnl.book.entry_at if pnl is not None and pnl.book.volume > 0 else None
        if self._highest_price is None or entry_at != self._highest_entry:
            # A restart (or a new position): the peak since entry comes from the candles, not from memory.
            derived = self._highest_since(entry_at, candles or [])
            if derived is not self._UNAVAILABLE:
                self._highest_price = derived
                self._highest_entry = entry_at
        self._highest_price = max(self._highest_price or holdings.avg_buy_price or price, price)
        return Position(
            volume=holdings.coin, avg_buy_price=holdings.avg_buy_price, entry_at=entry_at, highest_price=self._highest_price
        )

    _highest_entry: datetime | None = None
    _UNAVAILABLE: Any = object()

    def _highest_since(self, entry_at: datetime | None, candles: list[Candle]) -> Any:
        """The highest price since `entry_at`: the highs of the candles that started after it and the close
        of the candle it fell in. From the strategy's candles when they reach back that far, else from one
        request of the finest candles whose 200 cover the time since entry. None when unknown."""
        if entry_at is None:
            return None
        if not (candles and candles[0].start <= entry_at):
            now = self.clock()
            minutes = (now - entry_at).total_seconds() / 60
            unit = next((u for u in (1, 3, 5, 15, 60, 240) if minutes / u + 2 <= 200), 1440)
            count = int(min(200, minutes / unit + 2))
            try:
                candles = self._candle_cache.fetch(unit, max(2, count))
            except ExchangeError as error:
                logger.warning("the highest price since entry could not be read (%s); trying again next cycle", error)
                return self._UNAVAILABLE
        highest: Decimal | None = None
        for candle in candles:
            end = candle.start + timedelta(minutes=candle.unit)
            if end <= entry_at:
                continue
            value = candle.high if candle.start >= entry_at else candle.close
            highest = value if highest is None else max(highest, value)
        return highest

    def _decide(
        self,
        strategy: Any,
        params: dict[str, Any],
        candles: list[Candle],
        holdings: Holdings,
        price: Decimal,
        pnl: PnlTracker | None = None,
    ) -> Any:
        if not candles:
            return None
        return strategy.signal(candles, self._position(holdings, price, pnl, candles), params)

    def _record_signal(self, source: str, decision: Any, price: Decimal) -> Signal | None:
        if decision is None:
            return None
        action = str(decision.action)
        now = self.clock()
        if action == "HOLD":
            key = (action, str(decision.reason))
            interval = timedelta(seconds=settings.HOLD_SIGNAL_INTERVAL_SEC)
            if key == self._last_hold and self._last_hold_at is not None and now - self._last_hold_at < interval:
                return None
            self._last_hold, self._last_hold_at = key, now
        else:
            self._last_hold = None
        meta = decision.as_meta() if hasattr(decision, "as_meta") else {}
        meta["price"] = price
        if self._last_rejection:
            meta["last_rejection"] = self._last_rejection
        return Signal.objects.create(
            ts=now,
            market=self.market,
            action=action,
            score=Decimal(str(decision.score)).quantize(Decimal("0.00000001")),
            source=source,
            explanation=decision.explanation[:5000],
            meta=meta,
        )

    def _intent_from_decision(self, decision: Any, holdings: Holdings, price: Decimal, signal: Signal | None) -> Intent | None:
        from trading.engine.risk import OrderIntent

        base = OrderIntent.from_decision(decision)
        reason = f"{decision.action} by {settings.STRATEGY}: {decision.reason}"
        return Intent(side=base.side, source=str(base.source), reason=reason, signal=signal)

    # --- manual requests -------------------------------------------------------------------------
    def _manual_requests(self, holdings: Holdings, price: Decimal, pnl: PnlTracker, outcome: CycleOutcome) -> bool:
        placed_any = False
        pending = list(
            ManualOrderRequest.objects.filter(status=ManualOrderRequest.Status.PENDING, market=self.market).order_by("ts", "id")[
                :MANUAL_BATCH
            ]
        )
        for request in pending:
            if placed_any:
                break  # one order per cycle; the rest wait for fresh balances in the next cycle
            if request.order_id is not None:
                self._settle_interrupted_request(request)
                continue
            intent, problem = self._intent_from_manual(request, holdings)
            if intent is None:
                services.manual_order_request_finish(request=request, done=False, result=problem)
                events.event_record(
                    kind=events.Kind.MANUAL_ORDER,
                    level=events.Level.WARNING,
                    actor="engine",
                    message=f"Manual order #{request.pk} rejected: {problem}",
                    meta={"request_id": request.pk},
                )
                continue
            intent.signal = Signal.objects.create(
                market=self.market,
                action="BUY" if intent.side == "buy" else "SELL",
                score=ZERO,
                source=Signal.MANUAL_SOURCE,
                explanation=f"Manual {request.get_kind_display().lower()} requested by {request.requested_by}",
                meta={"request_id": request.pk, "requested_by": request.requested_by, "price": price},
            )
            result = self._execute(intent, holdings, price, pnl, outcome, manual=request)
            if result is not None and result.placed:
                placed_any = True
        return placed_any

    def _settle_interrupted_request(self, request: ManualOrderRequest) -> None:
        """A request whose order was written before a crash: settle it from that order, never resend."""
        order = request.order
        assert order is not None
        if order.status in (Order.Status.NEW, Order.Status.UNKNOWN):
            return  # still being looked up; the market is blocked meanwhile
        placed = order.status in (Order.Status.WAIT, Order.Status.DONE, Order.Status.CANCEL)
        text = f"order {order.identifier}: {order.status}"
        if order.status == Order.Status.ABSENT:
            text += " (it never reached the exchange; queue the request again if you still want it)"
        services.manual_order_request_finish(request=request, done=placed, result=text, order=order)

    def _intent_from_manual(self, request: ManualOrderRequest, holdings: Holdings) -> tuple[Intent | None, str]:
        who = f"manual ({request.requested_by})"
        if request.kind == ManualOrderRequest.Kind.BUY:
            reason = f"{who}: buy {events.krw_text(request.krw)} KRW"
            return Intent(side="buy", source="manual", reason=reason, krw=request.krw), ""
        volume = quantize_volume(request.volume) if request.kind == ManualOrderRequest.Kind.SELL and request.volume else None
        what = f"sell {events.volume_text(volume)}" if volume is not None else "sell everything"
        return Intent(side="sell", source="manual", reason=f"{who}: {what}", volume=volume), ""

    # --- the risk gate and the order -------------------------------------------------------------
    def _gate(self, intent: Intent, holdings: Holdings, price: Decimal, pnl: PnlTracker) -> tuple[Intent | None, list[str], Any]:
        """Size the intent and apply the risk rules. Returns (the sized intent or None, reasons, the verdict)."""
        from trading.engine import risk

        state = EngineState.load()
        now = self.clock()
        realized, unrealized = pnl.today(price, now)
        last = self._last_strategy_orders()
        limits = risk.risk_limits_from_settings(
            {"fee_rate": self._fee_rates.get(intent.side, DEFAULT_FEE_RATE), "min_order_krw": self._min_total}
        )
        context = risk.RiskContext(
            now=now,
            price=price,
            krw_free=holdings.krw_free,
            coin_volume=holdings.coin_free,
            krw_locked=holdings.krw - holdings.krw_free,
            coin_locked=holdings.coin - holdings.coin_free,
            limits=limits,
            realized_today=realized,
            unrealized_now=unrealized,
            loss_limit_day=self._loss_limit_day(),
            last_buy_at=last.get("buy"),
            last_sell_at=last.get("sell"),
            consecutive_order_failures=state.consecutive_order_failures,
            consecutive_api_failures=state.consecutive_failures,
            kill_switch=state.kill_switch,
            kill_switch_reason=state.kill_switch_reason,
        )
        order_intent = risk.OrderIntent(
            side=intent.side,  # type: ignore[arg-type]
            source=risk.IntentSource(intent.source),
            krw_total=intent.krw,
            volume=intent.volume,
            reason=intent.reason,
        )
        verdict = risk.evaluate(order_intent, context)
        if not verdict.allowed:
            blocked = verdict.blocked_by
            return None, [blocked.message if blocked else verdict.message], verdict
        intent.krw = verdict.krw_total
        intent.volume = verdict.volume
        return intent, [], verdict

    def _last_strategy_orders(self) -> dict[str, datetime]:
        """The latest strategy order per side (for the cooldown); manual orders do not count."""
        qs = (
            Order.objects.filter(market=self.market, mode=self.mode)
            .exclude(status__in=(Order.Status.REJECTED, Order.Status.ABSENT))
            .exclude(signal__source=Signal.MANUAL_SOURCE)
        )
        result: dict[str, datetime] = {}
        for side in ("buy", "sell"):
            ts = qs.filter(side=side).order_by("-ts").values_list("ts", flat=True).first()
            if ts is not None:
                result[side] = ts
        return result

    def _loss_limit_day(self) -> Any:
        """The trading day the daily loss limit was last hit (from the kill-switch events), or None."""
        from datetime import date

        if self._loss_limit_hit is None:
            meta = (
                EngineEvent.objects.filter(kind=EngineEvent.Kind.KILL_SWITCH, meta__rule="daily_loss")
                .order_by("-ts", "-id")
                .values_list("meta", flat=True)
                .first()
            )
            day = (meta or {}).get("trading_day")
            self._loss_limit_hit = date.fromisoformat(day) if day else False
        return self._loss_limit_hit or None

    _loss_limit_hit: Any = None

    def _execute(
        self,
        intent: Intent,
        holdings: Holdings,
        price: Decimal,
        pnl: PnlTracker,
        outcome: CycleOutcome,
        *,
        manual: ManualOrderRequest | None = None,
    ) -> order_ops.SubmitResult | None:
        self._check_claim()
        blockers = order_ops.blocking_orders(self.market, self.mode)
        if blockers:
            reasons = [f"order {blockers[0].identifier} is still {blockers[0].status}: its outcome must be known first"]
            approved = None
        verdict = None
        if not blockers:
            approved, reasons, verdict = self._gate(intent, holdings, price, pnl)
        if approved is None:
            meta = {"reason": intent.reason, **(verdict.as_meta() if verdict is not None else {})}
            events.risk_blocked(action=intent.side, reasons=reasons, source=intent.source, meta=meta)
            if manual is not None:
                services.manual_order_request_finish(request=manual, done=False, result="blocked: " + "; ".join(reasons))
            return None
        if approved.side == "buy":
            ord_type, order_price, volume = Order.OrdType.PRICE, approved.krw, None
        else:
            ord_type, order_price, volume = Order.OrdType.MARKET, None, approved.volume
        result = order_ops.order_submit(
            self.exchange,
            market=self.market,
            side=approved.side,
            ord_type=ord_type,
            mode=self.mode,
            price=order_price,
            volume=volume,
            reason=approved.reason,
            signal=approved.signal,
            fee_rates=self._fee_rates,
            on_fill=self._on_fill,
            on_intent=(lambda order: services.manual_order_request_link(request=manual, order=order)) if manual else None,
        )
        outcome.orders.append(result.order)
        self._fills_pending = self._fills_pending or result.fills_pending
        if result.placed:
            self.metrics.add("orders_placed_total")
            self._last_rejection = None
            services.engine_failures_set(consecutive_order_failures=0)
        else:
            self.metrics.add("orders_failed_total")
        if manual is not None and result.order.status != Order.Status.UNKNOWN:
            # An UNKNOWN order leaves the request pending: it is settled once the order is found or ABSENT.
            text = f"order {result.order.identifier}: {result.order.status}"
            if result.rejected is not None:
                text += f" ({result.rejected})"
            services.manual_order_request_finish(request=manual, done=result.placed, result=text, order=result.order)
        if result.rejected is not None:
            self._order_rejected(result.order, result.rejected)
        elif result.error is not None:
            self.metrics.count_error(result.error)
        return result

    def _order_rejected(self, order: Order, error: OrderRejected) -> None:
        self._last_rejection = {
            "identifier": order.identifier,
            "error_name": error.name,
            "message": str(error),
            "side": order.side,
        }
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(
            consecutive_order_failures=models_F("consecutive_order_failures") + 1
        )
        failures = EngineState.objects.values_list("consecutive_order_failures", flat=True).get(pk=EngineState.SINGLETON_PK)
        if failures >= settings.MAX_CONSECUTIVE_FAILURES:
            self._trip(
                f"{failures} orders in a row were rejected by the exchange (last: {error}); "
                "check the balance and the order settings, then press Reset",
                meta={"consecutive_order_failures": failures},
            )
            raise EngineStopped("kill-switch: consecutive order rejections")

    _fills_this_cycle = False

    def _on_fill(self, fill: Any) -> None:
        self._fills_this_cycle = True
        order = fill.order
        self.notifier.send(
            f"autocoin fill ({order.mode}): {order.side} {events.volume_text(fill.volume)} {order.market} "
            f"@ {events.krw_text(fill.price)} = {events.krw_text(fill.funds)} KRW, fee {events.krw_text(fill.fee)} KRW"
        )

    # --- book-keeping ----------------------------------------------------------------------------
    def _book_keeping(self, holdings: Holdings, price: Decimal, pnl: PnlTracker) -> None:
        if self._snapshots is None:
            self._snapshots = SnapshotKeeper(mode=self.mode, market=self.market)
        now = self.clock()
        self._snapshots.maybe_store(holdings, price, now)
        equity = holdings.equity(price)
        update = pnl.update(price=price, equity=equity, now=now)
        self.metrics.equity_krw = equity.quantize(Decimal("0.00000001"))
        self.metrics.pnl_today_krw = update.total
        services.engine_cycle_record(last_price=price)
        if update.new_day and update.previous_day is not None:
            self._daily_summary(update.previous_day)
        if -update.total >= settings.MAX_DAILY_LOSS_KRW and self._loss_limit_day() != update.day:
            # Tripped once per trading day: after a Reset the same day, the risk gate still blocks
            # entries until midnight, but exits and manual sells work again.
            self._loss_limit_hit = update.day
            self._trip(
                f"the daily loss limit was reached: today's PnL is {events.krw_text(update.total)} KRW "
                f"(realized {events.krw_text(update.realized)}, unrealized {events.krw_text(update.unrealized)}), "
                f"limit -{events.krw_text(settings.MAX_DAILY_LOSS_KRW)} KRW (MAX_DAILY_LOSS_KRW). Open orders were cancelled; "
                "trading stays stopped until Reset, and new entries stay blocked until local midnight",
                meta={
                    "rule": "daily_loss",
                    "trading_day": update.day.isoformat(),
                    "pnl_today": update.total,
                    "realized": update.realized,
                    "unrealized": update.unrealized,
                },
            )
            raise EngineStopped("kill-switch: daily loss limit")

    def _daily_summary(self, day: Any) -> None:
        from trading.models import PnlDaily

        row = PnlDaily.objects.filter(date=day, market=self.market, mode=self.mode).first()
        if row is None:
            return
        text = (
            f"autocoin daily summary {day} ({self.mode}, {self.market}): realized {events.krw_text(row.realized)} KRW, "
            f"unrealized {events.krw_text(row.unrealized)} KRW, fees {events.krw_text(row.fees)} KRW, {row.trades} fill(s), "
            f"max drawdown {events.krw_text(row.max_drawdown)} KRW"
        )
        events.event_record(kind=events.Kind.PNL, actor="engine", message=text, meta={"date": str(day), "total": row.total})
        self.notifier.send(text)

    # --- the claim and Upbit's ban -----------------------------------------------------------------
    def _check_claim(self) -> None:
        """A process frozen past the stale limit (and taken over) must not send an order when it wakes."""
        if not self.owner:
            return
        current = EngineState.objects.values_list("owner", flat=True).get(pk=EngineState.SINGLETON_PK)
        if current != self.owner:
            raise EngineStopped(f"another engine process ({current or 'none'}) owns the engine now; no order sent")

    _banned_until: datetime | None | bool = None

    def _ban_remaining(self) -> float:
        """Seconds left of the last 418 ban Upbit announced (0 when none): recorded with the error event, so
        a new process waits too instead of earning a longer ban."""
        if self._banned_until is None:
            until = (
                EngineEvent.objects.filter(kind=EngineEvent.Kind.ERROR, meta__banned_until__isnull=False)
                .order_by("-ts", "-id")
                .values_list("meta__banned_until", flat=True)
                .first()
            )
            try:
                self._banned_until = datetime.fromisoformat(until) if until else False
            except (TypeError, ValueError):
                self._banned_until = False
        if not self._banned_until:
            return 0.0
        remaining = (self._banned_until - timezone.now()).total_seconds()
        if remaining <= 0:
            self._banned_until = False
            return 0.0
        if not self._ban_announced:
            self._ban_announced = True
            events.engine_error(
                message=(
                    f"Waiting {remaining:.0f} s for Upbit's ban to end "
                    f"(until {timezone.localtime(self._banned_until):%H:%M:%S}); no call is made to Upbit until then"
                ),
                meta={"waiting_for_ban_until": self._banned_until.isoformat()},
                level=events.Level.WARNING,
            )
        return remaining

    _ban_announced = False

    # --- failures --------------------------------------------------------------------------------
    _failures_at_start = 0

    def _clear_failures(self) -> None:
        if self._failures_at_start:
            services.engine_failures_set(consecutive_failures=0)

    def _temporary_failure(self, error: ExchangeError) -> CycleOutcome:
        self.metrics.count_error(error)
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(consecutive_failures=models_F("consecutive_failures") + 1)
        failures = EngineState.objects.values_list("consecutive_failures", flat=True).get(pk=EngineState.SINGLETON_PK)
        if failures >= settings.MAX_CONSECUTIVE_FAILURES:
            events.exchange_error(error=error, step="running a cycle", failures=failures, retry_in_sec=None)
            self._trip(
                f"{failures} exchange calls in a row failed (last: {type(error).__name__}: {error}); "
                "check the network and Upbit's status, then press Reset",
                meta={"consecutive_failures": failures, "error_class": type(error).__name__},
            )
            return CycleOutcome(ok=False, error=str(error), stopped=True)
        delay = self.backoff_delay(failures)
        events.exchange_error(error=error, step="running a cycle", failures=failures, retry_in_sec=delay)
        return CycleOutcome(ok=False, retry_in_sec=delay, error=str(error))

    def backoff_delay(self, failures: int) -> float:
        """Exponential backoff with jitter and a cap: base × 2^(n-1), then a random 50-100 % of it."""
        base = float(settings.LOOP_INTERVAL_SEC)
        ceiling = min(BACKOFF_CAP_SEC, base * (2 ** max(0, failures - 1)))
        return round(ceiling * (0.5 + 0.5 * self._jitter()), 3)

    def _stop_trading(self, error: ExchangeError) -> CycleOutcome:
        self.metrics.count_error(error)
        extra: dict[str, Any] = {}
        if isinstance(error, InvalidRequest):
            advice = f"check TRADING_MARKET ({self.market}) and the settings, then press Reset"
        elif getattr(error, "status", None) == 418:
            ban = getattr(error, "ban_seconds", None)
            if ban:
                until = timezone.now() + timedelta(seconds=ban)
                self._banned_until, self._ban_announced = until, False
                extra["banned_until"] = until.isoformat()
                advice = (
                    f"Press Reset when you are ready; the engine makes no call to Upbit before "
                    f"{timezone.localtime(until):%H:%M:%S}"
                )
            else:
                advice = "Wait a few minutes, then press Reset"
        else:
            advice = (
                "check UPBIT_ACCESS_KEY/UPBIT_SECRET_KEY, the key's permissions and its allowed IP addresses, then press Reset"
            )
        message = f"The exchange refused to continue: {error}. {advice}"
        self._fail(message, meta={"error_class": type(error).__name__, "error_name": getattr(error, "name", ""), **extra})
        return CycleOutcome(ok=False, error=message, stopped=True)

    def _unexpected(self, error: BaseException) -> CycleOutcome:
        logger.exception("unexpected error in the trading cycle")
        trace = _masked(traceback.format_exc())
        message = _masked(f"Unexpected error in the trading cycle: {type(error).__name__}: {error}")
        self._fail(message, meta={"error_class": type(error).__name__, "traceback": trace})
        return CycleOutcome(ok=False, error=message, stopped=True)

    def _fail(self, message: str, *, meta: dict[str, Any]) -> None:
        events.engine_error(message=message, meta=meta)
        try:
            services.engine_fail(actor="engine", error=message)
        except services.TransitionNotAllowed:
            pass  # not RUNNING (e.g. `runengine --once`): the event above is the record
        self.notifier.send(f"autocoin ERROR: {message}")

    def _trip(self, reason: str, *, meta: dict[str, Any] | None = None) -> None:
        services.engine_kill_switch_trip(reason=reason, meta=meta)
        problems: list[str] = []
        try:
            problems = order_ops.orders_cancel_open(self.exchange, mode=self.mode, reason="kill-switch")
        except Exception as error:  # noqa: BLE001 - the switch stays tripped even if cancelling fails
            problems = [f"{type(error).__name__}: {error}"]
        if problems:
            events.engine_error(message="Some open orders could not be cancelled: " + "; ".join(problems), meta={})
        self.notifier.send(f"autocoin KILL-SWITCH: {reason}")


def models_F(name: str) -> Any:  # noqa: N802 - reads like django.db.models.F at the call sites
    from django.db.models import F

    return F(name)
