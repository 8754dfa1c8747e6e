"""The way from an intent to an order: the risk gate, the slippage limit, then the crash-safe submit.

Every order the engine sends — the strategy's, a protective exit, a person's — takes this one path, so
the same rules size and block all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings

from exchange.base import Exchange
from exchange.exceptions import InvalidRequest, RateLimited
from exchange.rules import DEFAULT_FEE_RATE, KRW_MIN_ORDER_TOTAL
from exchange.ticks import TickSizes
from trading import event_texts, events, pause_services, services
from trading.engine import orders as order_ops
from trading.engine import pause_rule, risk, risk_limits
from trading.engine.claim import Claim
from trading.engine.failures import FailurePolicy
from trading.engine.metrics import Metrics
from trading.engine.outcome import CycleOutcome
from trading.engine.pnl import Holdings, PnlTracker
from trading.engine.risk_text import number_text
from trading.models import EngineEvent, EngineState, Fill, ManualOrderRequest, Order, Signal
from trading.strategies.slippage import slippage_check

FEE_REFRESH_SEC = 3600


@dataclass(frozen=True, slots=True)
class GateInput:
    """What the gate needs to know about this moment: the price, the time (the exchange's) and the holdings."""

    price: Decimal
    now: datetime
    holdings: Holdings
    pnl: PnlTracker


def locked_text(blocked: risk.RiskCheck, holdings: Holdings) -> dict[str, Any] | None:
    """The person's sentence for a buy the position cap blocked because KRW is locked in open buys (else None)."""
    locked = holdings.krw - holdings.krw_free
    if locked <= 0:
        return None
    if blocked.rule != risk.Rule.POSITION_CAP and "position cap" not in blocked.numbers.get("bound_by", ""):
        return None
    return event_texts.meta("position_locked", krw_locked=number_text(locked), ratio=settings.MAX_POSITION_RATIO)


class OrderPath:
    """Sizes, blocks and sends orders for one market and account; remembers what the cooldown and the loss limit need."""

    def __init__(
        self,
        exchange: Exchange,
        *,
        market: str,
        account: str,
        metrics: Metrics,
        failures: FailurePolicy,
        on_fill: Callable[[Fill], None],
        claim: Claim | None,
    ) -> None:
        self.exchange = exchange
        self.market = market
        self.account = account
        self.metrics = metrics
        self.failures = failures
        self.on_fill = on_fill
        self.claim = claim
        self.fee_rates: dict[str, Decimal] = {"buy": DEFAULT_FEE_RATE, "sell": DEFAULT_FEE_RATE}
        self.min_total = KRW_MIN_ORDER_TOTAL
        self.fills_pending = True
        # Set by the cycle when its reconcile found no open order of this account at all (then none is open
        # on this market either); spent by the first order the gate considers.
        self.none_open = False
        # Set by the cycle to the state row it read at its start; spent by the first evaluation, so a cycle's
        # first order reads no row again, and any later one in the same cycle sees what earlier orders changed.
        self.state_seen: EngineState | None = None
        self.last_rejection: dict[str, str] | None = None
        self._order_failures_seen = 1  # unknown until the gate reads the state row: reset it after an order
        self._fees_at: float | None = None
        self._last_strategy: dict[str, datetime] | None = None
        self._loss_limit_day: date | Literal[False] | None = None
        self._market_offline_marked = False
        # Read through a lambda: an exchange is asked for its tick only when a limit price needs one.
        self.ticks = TickSizes(
            lambda market: exchange.get_instrument(market),
            on_fallback=lambda market, error, kept: events.tick_size_unavailable(market=market, error=error, kept=kept),
        )

    # --- the exchange's order rules ----------------------------------------------------------------
    def refresh_fees(self) -> None:
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
            events.order_rules_unavailable(error=error)
            return
        self.fee_rates = {"buy": chance.bid_fee, "sell": chance.ask_fee}
        self.min_total = max(chance.min_total, KRW_MIN_ORDER_TOTAL) if chance.min_total else KRW_MIN_ORDER_TOTAL
        self._fees_at = now

    # --- what the rules remember -------------------------------------------------------------------
    def last_strategy_orders(self) -> dict[str, datetime]:
        """The latest strategy order per side, for the cooldown. After a restart it is read from the orders
        (any order not made by a person counts then: a longer wait, never a shorter one)."""
        if self._last_strategy is None:
            qs = (
                Order.objects.filter(market=self.market, account=self.account)
                .exclude(status__in=(Order.Status.REJECTED, Order.Status.ABSENT))
                .exclude(signal__source=Signal.MANUAL_SOURCE)
            )
            self._last_strategy = {}
            for side in ("buy", "sell"):
                ts = qs.filter(side=side).order_by("-ts").values_list("ts", flat=True).first()
                if ts is not None:
                    self._last_strategy[side] = ts
        return self._last_strategy

    def loss_limit_day(self) -> date | None:
        """The trading day the daily loss limit was last hit (from the kill-switch events), or None."""
        if self._loss_limit_day is None:
            meta = (
                EngineEvent.objects.filter(kind=EngineEvent.Kind.KILL_SWITCH, meta__rule="daily_loss", meta__account=self.account)
                .order_by("-ts", "-id")
                .values_list("meta", flat=True)
                .first()
            )
            day = (meta or {}).get("trading_day")
            self._loss_limit_day = date.fromisoformat(day) if day else False
        return self._loss_limit_day or None

    def loss_limit_hit(self, day: date) -> None:
        self._loss_limit_day = day

    # --- the gate ------------------------------------------------------------------------------------
    def evaluate(self, intent: risk.OrderIntent, moment: GateInput) -> risk.RiskResult:
        """Size `intent` and apply the risk rules at `moment`."""
        state = self.state_seen or EngineState.load()
        self.state_seen = None
        self._order_failures_seen = state.consecutive_order_failures
        self._market_offline_marked = state.market_offline_at is not None
        opening = intent.side == "buy" and intent.source == risk.IntentSource.STRATEGY
        holdings = moment.holdings
        realized, unrealized = moment.pnl.today(moment.price, moment.now)
        last = self.last_strategy_orders()
        limits = risk_limits.risk_limits_from_settings(
            {"fee_rate": self.fee_rates.get(intent.side, DEFAULT_FEE_RATE), "min_order_krw": self.min_total}
        )
        context = risk.RiskContext(
            now=moment.now,
            price=moment.price,
            krw_free=holdings.krw_free,
            coin_volume=holdings.coin_free,
            krw_locked=holdings.krw - holdings.krw_free,
            coin_locked=holdings.coin - holdings.coin_free,
            limits=limits,
            realized_today=realized,
            unrealized_now=unrealized if unrealized is not None else Decimal(0),
            day_start_known=unrealized is not None,
            loss_limit_day=self.loss_limit_day(),
            last_buy_at=last.get("buy"),
            last_sell_at=last.get("sell"),
            consecutive_order_failures=state.consecutive_order_failures,
            consecutive_api_failures=state.consecutive_failures,
            kill_switch=state.kill_switch,
            kill_switch_reason=state.kill_switch_reason,
            entries_block=pause_rule.entries_block_check(state, moment.now) if opening else None,
        )
        return risk.evaluate(intent, context)

    # --- the order -----------------------------------------------------------------------------------
    def execute(
        self,
        intent: risk.OrderIntent,
        moment: GateInput,
        outcome: CycleOutcome,
        *,
        signal: Signal | None = None,
        manual: ManualOrderRequest | None = None,
    ) -> order_ops.SubmitResult | None:
        """Gate `intent` and send it; None when a rule (or an unsettled order) blocked it."""
        self.check_claim()
        blockers = [] if self.none_open else order_ops.blocking_orders(self.market, self.account)
        self.none_open = False  # an order sent from here on may stay open: the next look reads the table
        verdict: risk.RiskResult | None = None
        shown: dict[str, Any] | None = None
        if blockers:
            reason, shown = order_ops.blocking_text(blockers[0])
            reasons = [reason]
        else:
            verdict = self.evaluate(intent, moment)
            blocked = verdict.blocked_by
            reasons = [] if verdict.allowed else [blocked.message if blocked else verdict.message]
            shown = (locked_text(blocked, moment.holdings) or pause_rule.pause_text(blocked)) if blocked is not None else None
        if verdict is None or not verdict.allowed:
            meta = {"reason": intent.reason, **(verdict.as_meta() if verdict is not None else {})}
            if shown is not None:
                meta["text"] = shown
            events.risk_blocked(action=intent.side, reasons=reasons, source=str(intent.source), meta=meta)
            if manual is not None:
                services.manual_order_request_finish(request=manual, done=False, result="blocked: " + "; ".join(reasons))
            return None
        size = self.slippage_limited(intent, verdict, moment, manual)
        if size is None:
            return None
        if verdict.side == "buy":
            ord_type, order_price, volume = Order.OrdType.PRICE, size, None
        else:
            ord_type, order_price, volume = Order.OrdType.MARKET, None, size
        result = order_ops.order_submit(
            self.exchange,
            market=self.market,
            side=verdict.side,
            ord_type=ord_type,
            account=self.account,
            price=order_price,
            volume=volume,
            reason=intent.reason,
            signal=signal,
            fee_rates=self.fee_rates,
            on_fill=self.on_fill,
            on_intent=(lambda order: services.manual_order_request_link(request=manual, order=order)) if manual else None,
            tick_sizes=self.ticks,
            now=moment.now,
            claim=self.claim,
            blockers_checked=True,  # just above, and only this process places orders (the claim's fence)
        )
        outcome.orders.append(result.order)
        self.fills_pending = self.fills_pending or result.fills_pending
        if result.placed:
            self.metrics.add("orders_placed_total")
            self.last_rejection = None
            if self._order_failures_seen:  # the count the gate just read; only this process raises it
                services.engine_failures_set(consecutive_order_failures=0)
            if self._market_offline_marked:
                self._market_offline_marked = not pause_services.market_offline_clear()
            if intent.source == risk.IntentSource.STRATEGY:
                self.last_strategy_orders()[verdict.side] = moment.now
        else:
            self.metrics.add("orders_failed_total")
        if manual is not None and result.order.status != Order.Status.UNKNOWN:
            # An UNKNOWN order leaves the request pending: it is settled once the order is found or ABSENT.
            text = f"order {result.order.identifier}: {result.order.status}"
            if result.rejected is not None:
                text += f" ({result.rejected})"
            elif isinstance(result.error, RateLimited):
                text += " (refused by Upbit's rate limit, so not placed; queue it again later)"
            services.manual_order_request_finish(request=manual, done=result.placed, result=text, order=result.order)
        if result.rejected is not None:
            self.last_rejection = {
                "identifier": result.order.identifier,
                "error_name": result.rejected.name,
                "message": str(result.rejected),
                "side": result.order.side,
            }
            self.failures.order_rejected(result.order, result.rejected)
        elif isinstance(result.error, RateLimited):
            # Nothing was placed. Counted with the failed orders (the kill-switch trips after
            # MAX_CONSECUTIVE_FAILURES of them), and the cycle ends here and backs off: the next order waits.
            self.failures.order_rate_limited(result.error)
            raise result.error
        elif result.error is not None:
            self.metrics.count_error(result.error)
            if getattr(result.error, "name", "") == "market_offline":
                pause_services.market_offline_record(error=result.error, step="order", now=moment.now)
        return result

    def slippage_limited(
        self, intent: risk.OrderIntent, verdict: risk.RiskResult, moment: GateInput, manual: ManualOrderRequest | None
    ) -> Decimal | None:
        """The gate's size, shrunk so the expected average fill in the live book stays within MAX_SLIPPAGE_PCT
        of the best price; None (with an event) when not even the minimum order fits."""
        size = verdict.krw_total if verdict.side == "buy" else verdict.volume
        if size is None or not settings.MAX_SLIPPAGE_PCT:
            return size
        book = self.exchange.get_orderbook(self.market)
        check = slippage_check(
            book.levels,
            verdict.side,
            size,
            settings.MAX_SLIPPAGE_PCT,
            fee_rate=self.fee_rates.get(verdict.side, DEFAULT_FEE_RATE),
            min_total=self.min_total,
        )
        if not check.allowed:
            events.risk_blocked(
                action=verdict.side,
                reasons=[check.reason],
                source=str(intent.source),
                meta={"reason": intent.reason, "rule": "slippage", **check.as_meta()},
            )
            if manual is not None:
                services.manual_order_request_finish(request=manual, done=False, result="blocked: " + check.reason)
            return None
        if check.shrunk:
            events.order_shrunk(reason=check.reason, meta={"reason": intent.reason, "rule": "slippage", **check.as_meta()})
        return check.size

    def check_claim(self) -> None:
        """A process frozen past the stale limit (and taken over) must not send an order when it wakes. This early
        look spares the gate's work; the fence that counts is in the intent's own transaction (`order_submit`)."""
        lost = self.claim.lost_to() if self.claim is not None else None
        if lost is not None:
            raise lost
