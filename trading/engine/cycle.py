"""One trading cycle, run synchronously (the runner calls it from the engine thread; tests and the replay call it directly).

Order of work, each step leaving an EngineEvent or Signal behind:

1. reconcile every non-final order of this account (NEW, WAIT, UNKNOWN) and record its fills;
2. the ticker (the market stream's last one while it is healthy, else REST's): its trade price and time are
   the cycle's price and clock (time comes from the exchange);
   the closed candles the strategy needs; the balances;
3. manual requests queued from the web, through the risk gate and order path;
4. protective exits (stop-loss, ATR stop, trailing stop, take-profit) on the live price;
5. the strategy's decision, once per newly closed candle, then the risk gate and at most one order
   (never while an order's outcome on this market is unknown; never on stale market data);
6. balance snapshot, daily PnL, daily-loss kill-switch; counters for /metrics.

The decision rules are written down in docs/DECISIONS.md; failures are handled by failures.py.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, reset_queries
from django.utils import timezone

from exchange.account import PAPER_ACCOUNT
from exchange.base import Exchange
from exchange.exceptions import ExchangeError, InvalidRequest, RetryLater, StopTrading
from exchange.factory import account_current
from exchange.types import Candle
from trading import events, selectors, services
from trading.engine import orders as order_ops
from trading.engine import risk
from trading.engine.bookkeeping import Bookkeeper
from trading.engine.candles import DAY_UNIT
from trading.engine.claim import Claim
from trading.engine.decisions import DecisionStep, age_seconds, latest_atr
from trading.engine.failures import FailurePolicy
from trading.engine.forming import METRIC_KEY as FORMING_KEY
from trading.engine.forming import FormingTracker
from trading.engine.gate import GateInput, OrderPath
from trading.engine.manual import ManualQueue
from trading.engine.metrics import Metrics
from trading.engine.notify import Notifier
from trading.engine.outage import DATABASE_ERRORS
from trading.engine.outcome import CycleOutcome, EngineStopped, StaleMarketData
from trading.engine.pnl import Holdings, PnlTracker, holdings_from_balances
from trading.engine.stream import MarketFeed, Watch
from trading.models import EngineState, Fill, Mode
from trading.strategies.base import Action, Position, Prepared, Strategy
from trading.strategies.protective import ProtectiveRules

logger = logging.getLogger("autocoin.engine.cycle")
State = EngineState.State
QUANTUM = Decimal("0.00000001")

__all__ = ["CycleOutcome", "EngineStopped", "Metrics", "TradingEngine"]


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
        store_candles: bool = True,
    ) -> None:
        self.exchange = exchange
        self.owner = owner
        self.claim = Claim.of(owner) if owner else None
        """The engine process's claim ("host:pid" and its generation); when set, no order is sent once another
        claim holds the row (checked in the transaction that writes the order's intent)."""
        self.market = market or settings.TRADING_MARKET
        self.mode = Mode.PAPER if getattr(exchange, "is_paper", False) else Mode.LIVE
        # The ledger (orders, fills, snapshots, PnL, decision memory) is the exchange's own account: a sandbox
        # rehearsal and Upbit, or two keys, never share a position, a loss limit or a trailing peak.
        self.account: str = getattr(exchange, "account", "") or (
            PAPER_ACCOUNT if self.mode == Mode.PAPER else account_current(paper=False)
        )
        self.notifier = notifier or Notifier(channels=[])
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.failures = FailurePolicy(
            exchange, account=self.account, notifier=self.notifier, metrics=self.metrics, jitter=sleep_jitter
        )
        self.orders = OrderPath(
            exchange,
            market=self.market,
            account=self.account,
            metrics=self.metrics,
            failures=self.failures,
            on_fill=self._on_fill,
            claim=self.claim,
        )
        self.manual = ManualQueue(self.orders)
        # The closed candles are stored for the console's chart (trading/chart_candles.py); a replay, whose candles
        # are the stored ones, passes store_candles=False.
        self.decisions = DecisionStep(
            exchange, market=self.market, account=self.account, clock=clock, store_candles=store_candles
        )
        self.books = Bookkeeper(
            market=self.market,
            account=self.account,
            metrics=self.metrics,
            notifier=self.notifier,
            orders=self.orders,
            failures=self.failures,
            clock=clock,
        )
        self._pnl: PnlTracker | None = None
        self.forming = FormingTracker(self.market)
        """The candle still forming, published with the counters for the console's chart (no query of its own)."""
        self.feed: MarketFeed | None = None
        """The market stream (set by the runner when MARKET_STREAM is on): prices, wake-ups, reported fills."""
        self._reconciled_at_start = False
        self._fills_unread = True
        self._fills_in_hand: list[Fill] = []
        self._failures_at_start = 0
        self.metrics.extra["mode"] = self.mode
        self.metrics.extra["account"] = self.account

    # --- public ----------------------------------------------------------------------------------
    def startup_reconcile(self) -> order_ops.ReconcileResult:
        """Look up every non-final order before anything else (crash recovery). Exchange errors propagate.

        Manual requests that waited past MANUAL_ORDER_TTL_SEC while no engine ran expire first."""
        self.manual.expire(self.clock())
        if self.failures.ban_remaining():
            return order_ops.ReconcileResult()  # the first cycle after the ban does it, before anything else
        result = order_ops.orders_reconcile(
            self.exchange, account=self.account, fee_rates=self.orders.fee_rates, on_fill=self._on_fill
        )
        self._reconciled_at_start = True
        self.orders.fills_pending = result.fills_pending
        if result.checked:
            events.reconciliation_finished(
                checked=result.checked,
                resolved=result.resolved,
                still_unknown=result.still_unknown,
                fills_recovered=len(result.new_fills),
            )
        return result

    def run_cycle(self, *, may_trade: bool = True) -> CycleOutcome:
        """One full cycle. `may_trade=False` observes only (reconcile, prices, PnL), never places orders."""
        started = time.monotonic()
        # Asked of the connection object, not the database: `get_autocommit()` would open a connection (with a
        # pool, hand one out and check it) only for `close_old_connections()` to hand it straight back.
        outside_transaction = not connection.in_atomic_block
        if outside_transaction:
            close_old_connections()
        if settings.DEBUG:
            reset_queries()
        banned = self.failures.ban_remaining()
        if banned:
            # Any call now would extend Upbit's ban (and the client would sleep through it, deaf to Stop).
            return CycleOutcome(ok=False, retry_in_sec=banned, error=f"waiting {banned:.0f} s for Upbit's ban to end")
        try:
            outcome = self._cycle(may_trade=may_trade)
            if self._failures_at_start:
                services.engine_failures_set(consecutive_failures=0)
        except (StopTrading, InvalidRequest) as error:
            outcome = self.failures.stop_trading(error, market=self.market)
        except EngineStopped as stopped:
            outcome = CycleOutcome(ok=False, error=str(stopped), stopped=True)
        except (RetryLater, ExchangeError) as error:
            outcome = self.failures.temporary(error)
        except DATABASE_ERRORS:
            raise  # an outage, not a bug: the runner waits for the database and nothing is recorded meanwhile
        except Exception as error:  # noqa: BLE001 - anything unexpected stops trading with its traceback
            outcome = self.failures.unexpected(error)
        finally:
            self.metrics.observe_cycle(time.monotonic() - started)
            stats = getattr(self.exchange, "stats", None)
            if isinstance(stats, dict):
                self.metrics.client_rate_limited = int(stats.get("http_429", 0) or 0)
            if outside_transaction:
                close_old_connections()
        if outcome.stopped:
            self._fills_unread = True  # a kill-switch's cancels may have recorded fills without telling
        return outcome

    def backoff_delay(self, failures: int) -> float:
        return self.failures.backoff_delay(failures)

    # --- the steps -------------------------------------------------------------------------------
    def _cycle(self, *, may_trade: bool) -> CycleOutcome:
        outcome = CycleOutcome(ok=True)
        inputs = selectors.engine_cycle_inputs(market=self.market, strategy=settings.STRATEGY, account=self.account)
        state = inputs.state
        self._failures_at_start = state.consecutive_failures
        if state.kill_switch or state.state == State.ERROR:
            may_trade = False
        self.orders.refresh_fees()
        self.orders.none_open = False
        self.orders.state_seen = state
        self._reconcile(orders_open=inputs.orders_open)

        ticker = (self.feed.ticker() if self.feed is not None else None) or self.exchange.get_ticker(self.market)
        price, now = ticker.trade_price, ticker.timestamp
        age = age_seconds(self.clock(), now)
        strategy, params = self.decisions.strategy(inputs.strategy_params)
        candles = self.decisions.closed_candles(strategy, params, now)
        unit = self.decisions.unit
        forming = self.forming.observe(unit=unit, price=price, now=now, read=self.decisions.candles.newest_read(unit))
        self.metrics.publish(FORMING_KEY, forming.as_metric())
        pnl = self._pnl_tracker()
        moment = self._moment(price, now, pnl)
        # Until the position carried over midnight has its midnight value, the gate refuses new entries.
        pnl.establish_day_start(now)

        acted = may_trade and inputs.manual_pending and self.manual.process(moment, outcome)
        if inputs.manual_pending and not may_trade:
            self.manual.expire(now)  # what waits through a kill-switch must not fire after Reset and Start
        if acted:
            moment = self._moment(price, now, pnl)
        prepared = self.decisions.prepared(strategy, params, candles)
        if self._protect(strategy, params, prepared, moment, outcome, may_trade=may_trade and not acted):
            acted = True
            moment = self._moment(price, now, pnl)
        stale = age > settings.TICKER_MAX_AGE_SEC
        if not stale:
            self._decide(strategy, prepared, candles, moment, outcome, may_trade=may_trade, acted=acted)

        self._absorb_fills(pnl)
        self.books.record(moment.holdings, price, pnl)
        if stale:
            raise StaleMarketData(
                f"the last trade on {self.market} is {age:.0f} s old (TICKER_MAX_AGE_SEC={settings.TICKER_MAX_AGE_SEC}); "
                "no new entries until the market data is fresh (is the PC clock right?)",
                age_sec=age,
            )
        return outcome

    def _reconcile(self, *, orders_open: bool = True) -> None:
        reported = self.feed.take_orders() if self.feed is not None else set()
        if reported and self._reconciled_at_start:
            # The stream saw a trade: ask REST about exactly those orders now (REST is the truth; fills by trade id).
            order_ops.orders_reconcile_reported(
                self.exchange, account=self.account, uuids=reported, fee_rates=self.orders.fee_rates, on_fill=self._on_fill
            )
        if not self._reconciled_at_start:
            self.startup_reconcile()
            pending = order_ops.open_orders(account=self.account)
        else:
            # One read of the open orders serves the reconcile and the requested cancels; with none open and
            # no fills known to be missing (the usual cycle), nothing else is asked. The cycle's first read already
            # said whether any is open: with none, the orders are not read at all.
            pending = order_ops.open_orders(account=self.account) if orders_open else []
            if pending or self.orders.fills_pending:
                result = order_ops.orders_reconcile(
                    self.exchange,
                    account=self.account,
                    fee_rates=self.orders.fee_rates,
                    on_fill=self._on_fill,
                    check_fills=self.orders.fills_pending,
                    known_open=pending,
                )
                self.orders.fills_pending = result.fills_pending
        if any(order.cancel_requested_at is not None for order in pending):
            for problem in order_ops.orders_cancel_requested(
                self.exchange, account=self.account, fee_rates=self.orders.fee_rates, on_fill=self._on_fill
            ):
                logger.warning("requested cancel not carried out yet: %s", problem)
        # Orders are created only by this process's gate: until it sends one, the gate need not look again.
        self.orders.none_open = not pending

    def _moment(self, price: Decimal, now: datetime, pnl: PnlTracker) -> GateInput:
        """Fresh balances (and the fills they came with) at this cycle's price and time."""
        holdings = holdings_from_balances(self.exchange.get_accounts(), self.market)
        self._absorb_fills(pnl)
        return GateInput(price=price, now=now, holdings=holdings, pnl=pnl)

    def _absorb_fills(self, pnl: PnlTracker) -> None:
        """Bring the PnL book up to date. Only this process records fills, and each one comes through `_on_fill`:
        those are folded in as they are; the table is read only when fills may have come another way."""
        if self._fills_unread:
            pnl.absorb_new_fills()
        elif self._fills_in_hand:
            pnl.absorb_fills(self._fills_in_hand)
        self._fills_unread = False
        self._fills_in_hand = []

    def _pnl_tracker(self) -> PnlTracker:
        if self._pnl is None:
            self._pnl = PnlTracker(
                market=self.market,
                account=self.account,
                fee_rate=self.orders.fee_rates["sell"],
                price_at=self._price_at,
                claim=self.orders.claim,
            )
            # The dashboard values the open position with the same sell fee (trading/trade_selectors.py).
            self.metrics.extra["sell_fee_rate"] = format(self._pnl.fee_rate, "f")
        return self._pnl

    def _price_at(self, moment: datetime) -> Decimal | None:
        """The close of the last candle that started before `moment` (local midnight), read in the strategy's
        unit when that unit's candles end exactly at `moment` (the same close as the 1-minute candle's, and what a
        replay over that unit can answer), else in 1-minute candles."""
        unit = self.decisions.unit
        if unit >= DAY_UNIT or int(moment.timestamp()) % (unit * 60):
            unit = 1
        candles = self.exchange.get_minute_candles(self.market, unit=unit, count=1, to=moment)
        return candles[-1].close if candles and candles[-1].start < moment else None

    def _holding(self, holdings: Holdings, price: Decimal) -> bool:
        """A position worth at least the minimum order: less is dust, which can be neither protected nor sold."""
        return holdings.coin > 0 and holdings.coin * price >= self.orders.min_total

    # --- protective exits ------------------------------------------------------------------------
    def _protect(
        self,
        strategy: Strategy,
        params: dict[str, Any],
        prepared: Prepared | None,
        moment: GateInput,
        outcome: CycleOutcome,
        *,
        may_trade: bool,
    ) -> bool:
        """Check the protective exits on the live price; True when an exit order was placed."""
        holdings, price = moment.holdings, moment.price
        high = self.feed.take_high() if self.feed is not None else None
        if not self._holding(holdings, price):
            self.decisions.position_closed()
            self._watch(None)
            return False
        book = moment.pnl.book
        entry_at = book.entry_at if book.volume > 0 else None
        atr = latest_atr(prepared)
        fired = self.decisions.protective(params, holdings, price, entry_at, atr, high=high)
        if fired is None:
            peak = self.decisions.state.peak_price or holdings.avg_buy_price
            rules = ProtectiveRules.from_params(params)
            watch = Watch(rules, float(holdings.avg_buy_price), float(peak), atr) if may_trade and rules.active else None
            self._watch(watch)
            return False
        self._watch(None)  # the next cycle loads the position the exit leaves
        candle = self.decisions.forming_candle(moment.now)
        decision = fired.decision(params, candle_start=candle)
        outcome.decision = decision
        signal = self.decisions.record_signal(strategy.name, decision, price, self.orders.last_rejection)
        if not may_trade:
            return False
        self.decisions.exit_taken(candle)
        intent = risk.OrderIntent(
            side="sell", source=risk.IntentSource.EXIT_RULE, reason=f"SELL by {strategy.name}: {decision.reason}"
        )
        result = self.orders.execute(intent, moment, outcome, signal=signal)
        return result is not None and result.placed

    def _watch(self, watch: Watch | None) -> None:
        """Leave the stream what to check on each ticker until the next cycle."""
        if self.feed is not None:
            self.feed.watch(watch)

    # --- the strategy, once per closed candle ----------------------------------------------------
    def _decide(
        self,
        strategy: Strategy,
        prepared: Prepared | None,
        candles: list[Candle],
        moment: GateInput,
        outcome: CycleOutcome,
        *,
        may_trade: bool,
        acted: bool,
    ) -> None:
        if acted:
            return  # an order was placed this cycle: decide on the new candle with fresh balances next cycle
        found = self.decisions.candle_decision(strategy, prepared, candles, self._position(moment))
        if found is None:
            return
        decision = found.decision
        outcome.decision = decision
        signal = self.decisions.record_signal(strategy.name, decision, moment.price, self.orders.last_rejection)
        # Consumed before any order is sent: a crash mid-order never acts on the same candle twice.
        self.decisions.candle_done(found.candle_start)
        if not may_trade or decision.action == Action.HOLD:
            return
        reason = f"{decision.action} by {strategy.name}: {decision.reason}"
        if decision.action == Action.BUY and not self.decisions.entry_allowed(found.candle_start):
            events.risk_blocked(
                action="buy",
                reasons=["no re-entry on a signal from the candle that triggered the last exit; waiting for a later candle"],
                source=str(risk.IntentSource.STRATEGY),
                meta={"reason": reason, "rule": "no_reentry", "candle_start": found.candle_start.isoformat()},
            )
            return
        side: risk.Side = "buy" if decision.action == Action.BUY else "sell"
        if side == "sell":
            self.decisions.exit_taken(found.candle_start)
        self.orders.execute(risk.OrderIntent(side=side, reason=reason), moment, outcome, signal=signal)

    def _position(self, moment: GateInput) -> Position | None:
        holdings = moment.holdings
        if holdings.coin <= 0:
            return None
        if not self._holding(holdings, moment.price):
            return Position(volume=holdings.coin, avg_buy_price=holdings.avg_buy_price)
        book = moment.pnl.book
        state = self.decisions.state
        return Position(
            volume=holdings.coin,
            avg_buy_price=holdings.avg_buy_price,
            entry_at=book.entry_at if book.volume > 0 else None,
            highest_price=state.peak_price,
        )

    def _on_fill(self, fill: Fill) -> None:
        self._fills_in_hand.append(fill)
        self.metrics.add("fills_total")
        order = fill.order
        self.notifier.send(
            f"autocoin fill ({order.mode}): {order.side} {events.volume_text(fill.volume)} {order.market} "
            f"@ {events.krw_text(fill.price)} = {events.krw_text(fill.funds)} KRW, fee {events.krw_text(fill.fee)} KRW"
        )
