"""Every kind of sentence the engine and the services store for a person to read, written by the code that writes
them (the event functions, the failure policy, the risk rules' texts, the manual requests' results) with
representative figures: the inventory the Korean coverage tests read (tests/trading/test_sentences_coverage.py).

Where a sentence is composed inline deep in an order path that needs a live exchange to reach, it is written
here the way that code writes it (the source is named next to it); everything else runs the real code."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import requests
from django.utils import timezone

from exchange.exceptions import (
    InvalidRequest,
    OrderRejected,
    RateLimited,
    RetryLater,
    StopTrading,
)
from exchange.preflight import Check
from exchange.types import OrderBookLevel
from exchange.upbit import errors as upbit_errors
from tests import factories
from trading import event_texts, events, manual_requests
from trading.engine import risk, risk_text
from trading.engine.bookkeeping import Bookkeeper
from trading.engine.claim import Claim, ClaimLost
from trading.engine.failures import FailurePolicy
from trading.engine.metrics import Metrics
from trading.engine.notify import Notifier
from trading.engine.outage import Outage
from trading.engine.outcome import EngineStopped, StaleMarketData
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order
from trading.strategies import registry
from trading.strategies.slippage import slippage_check

NOW = datetime(2026, 11, 21, 12, 5, 6, tzinfo=UTC)
KILL_SWITCH_REASON = (  # engine/failures.py temporary (run for real in record_engine_messages too)
    "3 exchange calls in a row failed (last: RetryLater: Upbit is unavailable (HTTP 503) (HTTP 503)); check the network "
    "and Upbit's status, then press Reset"
)
UUID = "0f3c1e5a-8d4b-4f7e-9a61-2b7c9d8e1f00"


@dataclass
class Written:
    """The sentences one run of the inventory stored: (where it came from, stored English, event meta)."""

    rows: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    functions_called: set[str] = field(default_factory=set)

    def add(self, where: str, text: str, meta: dict[str, Any] | None = None) -> None:
        self.rows.append((where, text, meta))


# Text that is not ours to translate and stays as it came, wherever it is quoted: Python's and the database
# driver's own exception texts and the WebSocket library's reason.
RAW_DETAILS = (
    "division by zero",
    "connection closed",
    "OperationalError: 연결 거부",
)


def exchange_errors() -> list[Exception]:
    """The exchange's errors as the Upbit client and the paper exchange raise them (exchange/upbit/errors.py)."""
    problem = upbit_errors.ErrorBody(name="", message="")
    upbit_said = upbit_errors.ErrorBody(name="insufficient_funds_bid", message="주문가능한 금액(KRW)이 부족합니다.")

    found: list[Exception] = [
        upbit_errors.network_error(requests.ConnectionError("refused"), "GET", "/v1/ticker", None),
        upbit_errors.network_error(requests.ReadTimeout("slow"), "GET", "/v1/ticker", None),
        upbit_errors.network_error(requests.ReadTimeout("slow"), "POST", "/v1/orders", "ac-20261121-0001"),
        upbit_errors.rate_limit_error("order", 3, problem, []),
        upbit_errors.ban_error(120, problem, []),
        upbit_errors.ban_error(None, problem, []),
        upbit_errors.server_error(503, problem, [], placing=None),
        upbit_errors.server_error(500, problem, [], placing="ac-20261121-0001"),
        upbit_errors.client_error(400, upbit_said, [], placing=True),
        upbit_errors.client_error(
            401, upbit_errors.ErrorBody(name="nonce_used", message="이미 사용된 요청입니다"), [], placing=False
        ),
        upbit_errors.client_error(400, upbit_errors.ErrorBody(name="market_offline", message="점검 중"), [], placing=False),
        upbit_errors.client_error(403, upbit_errors.ErrorBody(name="unknown_auth", message="거부"), [], placing=False),
    ]
    for name in upbit_errors.AUTH_PROBLEMS:
        found.append(upbit_errors.client_error(401, upbit_errors.ErrorBody(name=name, message="거부"), [], placing=False))
    found.append(OrderRejected("order total 4000 KRW is below the minimum 5000 KRW", name="under_min_total_bid", status=400))
    found.append(
        OrderRejected("order needs 10005.00 KRW (total + fee); 3000 KRW is free", name="insufficient_funds_bid", status=400)
    )
    found.append(OrderRejected("order needs volume 0.001; 0.0005 is free", name="insufficient_funds_ask", status=400))
    found.append(InvalidRequest("Upbit has no ticker for market KRW-XYZ", name="notfoundmarket"))
    return found


def record_event_functions(written: Written, order: Order, fill: Any, request: ManualOrderRequest) -> None:
    """Every function of trading/events.py that writes an event, with representative arguments."""

    def take(name: str, event: EngineEvent) -> None:
        written.functions_called.add(name)
        written.add(f"events.{name}", event.message, event.meta)

    take("state_changed", events.state_changed(old="IDLE", new="RUNNING", actor="web:operator", reason="start requested"))
    take("state_changed", events.state_changed(old="RUNNING", new="IDLE", actor="engine", reason=""))
    take("config_changed", events.config_changed(actor="admin:operator", what="strategy macd parameters", old={}, new={}))
    take("config_changed", events.config_changed(actor="admin:operator", what="pause window #3", old=None, new={}))
    take("manual_order_queued", events.manual_order_queued(request=request, actor="web:operator"))
    for kind in ("sell", "sell_all", "close"):
        other = factories.ManualOrderRequestFactory(kind=kind, volume=Decimal("0.001") if kind == "sell" else None)
        take("manual_order_queued", events.manual_order_queued(request=other, actor="web:operator"))
    take(
        "manual_order_rejected",
        events.manual_order_rejected(request_id=7, problem="nothing to sell: the free coin balance is 0"),
    )
    take("manual_order_cancelled", events.manual_order_cancelled(request=request, actor="web:operator"))
    take("manual_order_expired", events.manual_order_expired(request=request, actor="engine", age_sec=130.2, ttl_sec=120))
    take("cancel_requested", events.cancel_requested(actor="web:operator", order_ids=[1, 2], identifiers=["ac-1", "ac-2"]))
    identifiers = [f"ac-{n}" for n in range(8)]
    take(
        "cancel_requested",
        events.cancel_requested(actor="web:operator", order_ids=list(range(8)), identifiers=identifiers),
    )
    take(
        "paper_account_reset",
        events.paper_account_reset(
            actor="admin:operator", state="IDLE", initial_krw=Decimal("1000000"), cancelled_orders=1, previous={}
        ),
    )
    take(
        "history_pruned",
        events.history_pruned(actor="cli:operator", days=90, counts={"events": 12, "hold_signals": 30, "snapshots": 4}),
    )
    take("engine_claimed", events.engine_claimed(owner="host:1", previous_owner="", takeover=False))
    take("engine_claimed", events.engine_claimed(owner="host:2", previous_owner="host:1", takeover=True))
    take("engine_refused", events.engine_refused(owner="host:2", running_owner="host:1", heartbeat_age_sec=3.2))
    take("engine_refused", events.engine_refused(owner="host:2", running_owner="host:1", heartbeat_age_sec=None))
    for note in (  # trading/management/commands/runall.py
        "restart 2; the previous one exited with code 1 after 12.3 s",
        "restart 3; the previous one was killed by SIGKILL after 40.0 s",
        "restart 4; the previous one was killed by signal 99 after 1.0 s",
    ):
        take("engine_restarted", events.engine_restarted(owner="host:3", note=note))
    for reason in (
        "stopped",
        "stopped on SIGTERM",
        "cycle failed: [ReadTimeout] Upbit did not answer GET /v1/ticker in time (ReadTimeout)",
        str(ClaimLost(Claim(owner="host:1", generation=4), "host:2", 5)),
    ):
        take("engine_released", events.engine_released(owner="host:1", reason=reason))
    placed = f"Order placed: {events.order_described(order)} → {order.status} (uuid {order.exchange_uuid})"
    take("order_event", events.order_event(kind=EngineEvent.Kind.ORDER_SUBMITTED, order=order, message=placed))
    take("order_intent", events.order_intent(order=order, reason="BUY by macd: entry"))
    take("order_intent", events.order_intent(order=order, reason="SELL by macd: stop_loss"))
    take("order_intent", events.order_intent(order=order, reason="manual (web:operator): buy 10,000 KRW"))
    take("order_submitted", events.order_submitted(order=order))
    for error in exchange_errors():
        if isinstance(error, OrderRejected):
            message = f"Order rejected by the exchange: {events.order_described(order)}: {error}"  # engine/orders.py
            take("order_rejected", events.order_rejected(order=order, message=message))
        if isinstance(error, StopTrading):
            take("order_rejected", events.order_rejected(order=order, message=f"Order refused: {error}"))  # orders.py
        take("order_unknown", events.order_unknown(order=order, error=error))
        take("exchange_error", events.exchange_error(error=error, step="running a cycle", failures=2, retry_in_sec=4.0))
    take(
        "exchange_error",
        events.exchange_error(
            error=StaleMarketData("x", age_sec=1), step="checking the market data", failures=3, retry_in_sec=None
        ),
    )
    take(
        "exchange_error",
        events.exchange_error(error=RetryLater("x"), step="reconciling open orders at start", failures=0, retry_in_sec=None),
    )
    rate_limited = event_texts.english("order_rate_limited", order=events.order_described(order))  # engine/orders.py
    take(
        "order_rejected",
        events.order_rejected(
            order=order,
            message=rate_limited,
            extra={"text": event_texts.meta("order_rate_limited", order=events.order_described(order))},
        ),
    )
    # engine/orders.py order_reconcile_one
    for before, verb in (("NEW", "adopted from the exchange"), ("WAIT", "updated")):
        message = f"Order {order.identifier} {verb}: {before} → DONE, 1 new fill(s)"
        take("order_reconciled", events.order_reconciled(order=order, message=message))
    absent = (
        f"Order {order.identifier} was not found on the exchange after 5 lookups over 93 s: it never reached the "
        f"exchange (was UNKNOWN); {order.market} is free for new orders"
    )
    take("order_reconciled", events.order_reconciled(order=order, message=absent))
    take(
        "reconciliation_finished",
        events.reconciliation_finished(checked=3, resolved=2, still_unknown=1, fills_recovered=1),
    )
    # engine/orders.py orders_cancel_requested and orders_cancel_open
    for message in (
        f"Order {order.identifier} cancelled as requested by web:operator: now CANCEL",
        f"Order {order.identifier} cancelled: kill-switch",
    ):
        take("order_cancelled", events.order_cancelled(order=order, message=message))
    take("fill_recorded", events.fill_recorded(fill=fill))
    for reason in (KILL_SWITCH_REASON, RAW_DETAILS[0]):
        take("kill_switch_tripped", events.kill_switch_tripped(reason=reason))
    take(
        "risk_blocked",
        events.risk_blocked(action="buy", reasons=["nothing to sell: the free coin balance is 0"], source="exit_rule"),
    )
    take(
        "order_shrunk",
        events.order_shrunk(reason=next(text for text in slippage_reasons() if text.startswith("shrunk")), meta={}),
    )
    summary = (  # engine/bookkeeping.py daily_summary (run for real in record_engine_messages too)
        "autocoin daily summary 2026-11-20 (live, KRW-BTC): realized -1,200 KRW, unrealized 0 KRW, fees 10.5 KRW, "
        "4 fill(s), max drawdown 2,500 KRW"
    )
    take("pnl_reported", events.pnl_reported(message=summary, day=date(2026, 11, 20), total=Decimal("-1200")))
    take(
        "day_start_unknown",
        events.day_start_unknown(day=date(2026, 11, 21), midnight=NOW, error=str(exchange_errors()[1])),
    )
    take(
        "day_start_established",
        events.day_start_established(day=date(2026, 11, 21), price=Decimal("136250000"), carried=Decimal("-1234.5")),
    )
    take("order_rules_unavailable", events.order_rules_unavailable(error=RetryLater("Upbit is unavailable (HTTP 503)")))
    take("tick_size_unavailable", events.tick_size_unavailable(market="KRW-BTC", error=RetryLater("x"), kept=Decimal("1000")))
    take("tick_size_unavailable", events.tick_size_unavailable(market="KRW-BTC", error=RetryLater("x")))
    checks = [Check("key_expiry", False, "expired"), Check("balance", False, "low"), Check("market", True, "ok")]
    take("live_preflight_failed", events.live_preflight_failed(actor="web:operator", market="KRW-BTC", checks=checks))
    for code, params in (
        ("stream_fresh", {}),
        ("stream_disconnected", {"error": "connection closed"}),
        ("stream_silent", {"seconds": "12.5", "limit": "10"}),
        ("stream_no_ticker", {}),
    ):
        take(
            "market_data_source_changed",
            events.market_data_source_changed(source="rest", code=code, params=params, market="KRW-BTC"),
        )
    problems = [  # engine/failures.py trip, from engine/orders.py orders_cancel_open
        f"ac-1: {upbit_errors.server_error(503, upbit_errors.ErrorBody(name='', message=''), [], placing=None)}",
        "ac-2: [order_not_found] 주문을 찾지 못했습니다. (HTTP 404)",
    ]
    take("engine_error", events.engine_error(message="Some open orders could not be cancelled: " + "; ".join(problems)))
    claim_lost = {"market": "KRW-BTC", "owner": "host:2"}  # engine/orders.py order_submit
    take(
        "engine_error",
        events.engine_error(
            message=event_texts.english("claim_lost", **claim_lost), meta={"text": event_texts.meta("claim_lost", **claim_lost)}
        ),
    )
    take("notification_failed", events.notification_failed(channel="telegram", error="HTTP 401"))
    take(
        "study_params_applied",
        events.study_params_applied(actor="admin:operator", study="macd-1", trial=12, strategy="macd", params={}),
    )
    take(
        "backtest_params_applied",
        events.backtest_params_applied(
            actor="web:operator", job=4, run=9, strategy="macd", old={"fast": 12}, new={"fast": 10, "slow": 26}
        ),
    )
    take(
        "backtest_params_applied",
        events.backtest_params_applied(actor="web:operator", job=4, run=9, strategy="macd", old={"fast": 12}, new={"fast": 12}),
    )
    take("entries_pause_set", events.entries_pause_set(actor="web:operator", reason="paused from the dashboard"))
    take("entries_pause_set", events.entries_pause_set(actor="web:operator", reason="FOMC 발표"))
    take("entries_pause_cleared", events.entries_pause_cleared(actor="web:operator", reason=""))
    take("entries_pause_cleared", events.entries_pause_cleared(actor="web:operator", reason="FOMC 끝"))
    offline = RetryLater("the market is offline for maintenance; nothing was done: 점검 중", name="market_offline", status=400)
    for step in ("order", "market"):
        take("market_offline_seen", events.market_offline_seen(error=offline, step=step, until="21:30:00"))  # type: ignore[arg-type]
    take("event_record", events.event_record(kind=EngineEvent.Kind.CYCLE, message="Start pressed in the admin"))


def record_engine_messages(written: Written, order: Order) -> None:
    """The messages the engine composes itself and hands to `events.engine_error`, `kill_switch_tripped`,
    `pnl_reported` and the state's reason: run through the real code where it can run without an exchange."""
    running()
    notifier = Notifier([], record_failures=False)
    policy = FailurePolicy(
        SimpleNamespace(),
        account="paper",
        notifier=notifier,
        metrics=Metrics(),
        jitter=lambda: 0.5,  # type: ignore[arg-type]
    )
    for error in exchange_errors():
        if isinstance(error, StopTrading | InvalidRequest):
            policy.stop_trading(error, market="KRW-BTC")
            running()
    policy.stop_trading(upbit_errors.ban_error(None, upbit_errors.ErrorBody(name="", message=""), []), market="KRW-BTC")
    running()
    policy.unexpected(ZeroDivisionError("division by zero"))
    running()
    from django.conf import settings

    failures = settings.MAX_CONSECUTIVE_FAILURES
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(consecutive_failures=failures)
    policy.temporary(RetryLater("Upbit is unavailable (HTTP 503)", status=503))
    running()
    stale = StaleMarketData(
        "the last trade on KRW-BTC is 75 s old (TICKER_MAX_AGE_SEC=60); no new entries until the market data is fresh "
        "(is the PC clock right?)",
        age_sec=75,
    )
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(consecutive_failures=0)
    policy.temporary(stale)
    for trip in (
        lambda: policy.order_rejected(order, OrderRejected("order needs volume 0.001; 0.0005 is free", name="x")),
        lambda: policy.order_rate_limited(RateLimited("slow down", status=429)),
    ):
        running()
        EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(consecutive_order_failures=failures)
        try:
            trip()
        except EngineStopped:
            pass
    running()
    policy.banned_until, policy.ban_loaded, policy.ban_announced = timezone.now() + timedelta(seconds=90), True, False
    policy.ban_remaining()
    # engine/bookkeeping.py: the daily loss limit's kill-switch and the daily summary
    running()
    policy.trip(
        "the daily loss limit was reached: today's PnL is -50,120 KRW (realized -40,000, unrealized -10,120), limit -50,000 "
        "KRW (MAX_DAILY_LOSS_KRW). Open orders were cancelled; trading stays stopped until Reset, and new entries stay "
        "blocked until local midnight"
    )
    factories.PnlDailyFactory(date=date(2026, 11, 20), market="KRW-BTC", account="paper")
    Bookkeeper.daily_summary(SimpleNamespace(market="KRW-BTC", account="paper", notifier=notifier), date(2026, 11, 20))  # type: ignore[arg-type]
    # engine/outage.py
    for too_long in (False, True):
        outage = Outage(seconds=42.5, failures=7, error="OperationalError: 연결 거부", too_long=too_long)
        written.add("outage.describe", outage.describe(30.0))
    # engine/claim.py: the reason the process stops with after losing the engine
    lost = ClaimLost(Claim(owner="host:1", generation=4), "host:2", 5)  # type: ignore[call-arg]
    written.add("ClaimLost", str(lost))
    # engine/runner.py
    for text in (
        "Another engine process (host:2) took over this engine; this one stops now",
        "the trading thread stopped unexpectedly: ZeroDivisionError: division by zero",
        "engine process received SIGTERM",
        "stopped on SIGTERM while the database did not answer (state unchanged)",
        "cycle failed: [ReadTimeout] Upbit did not answer GET /v1/ticker in time (ReadTimeout)",
    ):
        written.add("runner", text)
    # engine/decisions.py
    for strategy, params in (
        ("macd", {"fast": 60}),
        ("macd", {"fast": 30, "slow": 20}),
        ("macd", {"fast": "12.5"}),
        ("macd", {"fast": True}),
        ("macd", {"speed": 3}),
        ("macd", {"candle_unit": 7}),
        ("momentum", {"oversold": 80, "overbought": 70}),
        ("momentum", {"oversold": "abc"}),
        ("momentum", {"oversold": "inf"}),
        ("sma_cross", {"fast": None}),
        ("sma_cross", {"fast": 30, "slow": 20}),
        ("macd", {"stop_loss_pct": 500}),
        ("nonexistent", {}),
    ):
        try:
            registry.validate_params(strategy, params)
        except ValueError as error:
            written.add("decisions", f"Strategy parameters for {strategy} are invalid ({error}); using the defaults")
        else:
            raise AssertionError(f"{strategy} {params} was accepted")
    written.add(
        "decisions",
        "Strategy macd needs 15,000 closed 1-minute candles but the engine reads at most 10,000: it stays in warm-up "
        "(HOLD). Choose shorter periods or a longer candle_unit",
    )
    for event in EngineEvent.objects.order_by("id"):
        written.add(f"engine:{event.kind}", event.message, event.meta)
    state = EngineState.load()
    written.add("kill_switch_reason", state.kill_switch_reason)
    written.add("last_error", state.last_error)


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=EngineState.State.RUNNING)


def record_state_reasons(written: Written) -> None:
    """The reasons a state change is stored with (services, control, the runner, the admin, replays)."""
    for reason in (
        "paused in the admin",
        "operator reset during a replay",
        "operator restart during a replay",
        "start requested",
        "stop requested",
        "cycle finished",
        "reset requested",
        "Start pressed in the admin",
        "Stop pressed in the admin",
        "Reset pressed in the admin",
        "engine process offline: no cycle was running",
        "engine process received SIGTERM",
        "the current cycle finished",  # the runner completing a stop (trading/engine/runner.py)
        "no cycle was running",
        "demo start",  # make demo (runall --demo)
        "replay starts",
        "replay",
        "replay finished",
    ):
        written.add("state reason", events.state_changed(old="RUNNING", new="IDLE", actor="engine", reason=reason).message)


def record_manual_results(written: Written) -> None:
    """A manual request's result as the engine and the services store it (trading/engine/gate.py, manual.py,
    trading/manual_requests.py)."""
    request = factories.ManualOrderRequestFactory(kind="buy", krw=Decimal("10000"))
    manual_requests.manual_order_request_cancel(request_id=request.pk, actor="web:operator")
    request.refresh_from_db()
    written.add("manual cancel", request.result)
    stale = factories.ManualOrderRequestFactory(kind="buy", krw=Decimal("10000"))
    manual_requests.manual_order_request_expire(request=stale, now=stale.ts + timedelta(seconds=130), actor="engine")
    written.add("manual expire", stale.result)
    identifier = "ac-20261121-0001"
    rejected = OrderRejected("order needs 10005 KRW (total + fee); 3000 KRW is free", name="insufficient_funds_bid", status=400)
    for status in ("DONE", "WAIT", "CANCEL", "REJECTED", "ABSENT"):
        written.add("gate result", f"order {identifier}: {status}")
    written.add("gate result", f"order {identifier}: REJECTED ({rejected})")
    written.add("gate result", f"order {identifier}: ABSENT (refused by Upbit's rate limit, so not placed; queue it again later)")
    written.add(
        "manual result",
        f"order {identifier}: ABSENT (it never reached the exchange; queue the request again if you still want it)",
    )
    for reasons in risk_reasons():
        written.add("gate blocked", "blocked: " + reasons)


def risk_reasons() -> list[str]:
    """Each sentence the risk rules can block with (trading/engine/risk_text.py, risk.py, the pause rule, the open
    order rule, the slippage limit)."""
    today = date(2026, 11, 21)
    d = Decimal
    found = [
        risk_text.daily_loss_text(d("-40000"), d("-10120"), d("-50120"), d("50000"), today, None, True, False)[0],
        risk_text.daily_loss_text(d("-40000"), d("-10120"), d("-20000"), d("50000"), today, today, False, True)[0],
        risk_text.day_start_text(today)[0],
        risk_text.cooldown_text(NOW, NOW + timedelta(seconds=12), 60, "buy", 12_000_000, True)[0],
        risk_text.position_cap_text(d("400000"), d("1000000"), d("0.3"), d("300000"), True)[0],
        risk_text.position_cap_text(d("400000"), d("1000000"), d("0.3"), d("300000"), True, d("20000"))[0],
        risk_text.position_cap_text(d("200000"), d("1000000"), d("0.3"), d("300000"), False)[0],
        risk_text.max_order_text(
            d("3000"),
            d("10000"),
            d("3000"),
            None,
            d("2998"),
            risk_text._BOUND_BALANCE,
            d("5000"),
            d("20000"),
            d("0.0005"),
            None,
            "max_order",
        )[0],
        risk_text.max_order_text(
            d("3000"),
            d("10000"),
            d("3000"),
            None,
            d("2998"),
            risk_text._BOUND_BALANCE,
            d("5000"),
            None,
            d("0.0005"),
            d("2998"),
            "min_order",
        )[0],
        risk_text.max_order_text(
            d("3000"),
            d("10000"),
            d("3000"),
            None,
            d("2998"),
            "MAX_ORDER_KRW",
            d("5000"),
            d("4000"),
            d("0.0005"),
            d("4000"),
            "min_order",
        )[0],
        risk_text.max_order_text(
            d("300000"),
            d("10000"),
            d("300000"),
            d("50000"),
            d("10000"),
            "the position cap (20,000 KRW of it already locked in open buy orders)",
            d("5000"),
            d("20000"),
            d("0.0005"),
            None,
            "max_order",
        )[0],
        risk_text.sell_size_text("not_positive", d("0.001"), d("100000000"), d("5000"), d("0"), d("0.001"), None, None)[0],
        risk_text.sell_size_text("over_balance", d("0.001"), d("100000000"), d("5000"), d("0.002"), d("0.001"), None, None)[0],
        risk_text.sell_size_text("nothing", d("0"), d("100000000"), d("5000"), None, d("0"), d("0"), d("0"))[0],
        risk_text.sell_size_text("dust", d("0.00001"), d("100000000"), d("5000"), None, d("0.00001"), d("0.00001"), d("1000"))[0],
        risk_text.sell_size_text(
            "min_order", d("0.001"), d("100000000"), d("5000"), d("0.00003"), d("0.001"), d("0.00003"), d("3000")
        )[0],
        risk.kill_switch_active(True, KILL_SWITCH_REASON).message,
        risk.kill_switch_active(True, "").message,
        "no usable market price (0)",
        event_texts.english("open_order", identifier="ac-1", market="KRW-BTC"),
        event_texts.english("unsettled_order", identifier="ac-1", status="UNKNOWN"),
    ]
    for code, params in (
        ("entries_paused_manual", {"actor": "web:operator", "reason": "FOMC 발표"}),
        ("entries_paused_manual", {"actor": "web:operator", "reason": "paused from the dashboard"}),
        ("entries_paused_schedule", {"label": "업비트 점검", "starts": "02:00", "ends": "04:00"}),
        ("entries_paused_market_offline", {"since": "21:00:00", "until": "21:30:00"}),
    ):
        found.append(event_texts.english(code, **params))
    found.extend(slippage_reasons())
    return found


def slippage_reasons() -> list[str]:
    """The slippage limit's sentences: an empty book, a thin one, a steep one, an order shrunk and one skipped."""

    def level(price: str, size: str) -> OrderBookLevel:
        return OrderBookLevel(
            ask_price=Decimal(price), ask_size=Decimal(size), bid_price=Decimal(price) - 1000, bid_size=Decimal(size)
        )

    steep = [level("100000000", "0.00008"), level("102000000", "1")]
    thin = [level("100000000", "0.00008")]
    flat = [level("100000000", "1")]
    found = []
    for levels, side, size, limit in (
        ([], "buy", Decimal("10000"), Decimal("0.5")),
        ([], "sell", Decimal("0.001"), None),
        (flat, "buy", Decimal("10000"), None),
        (flat, "buy", Decimal("10000"), Decimal("0.5")),
        (flat, "sell", Decimal("0.0001"), Decimal("0.5")),
        (steep, "buy", Decimal("20000"), Decimal("0.5")),
        (steep, "sell", Decimal("0.0002"), Decimal("0.5")),
        (steep, "buy", Decimal("50000"), Decimal("0.5")),
        (thin, "buy", Decimal("20000"), Decimal("0.5")),
        (thin, "sell", Decimal("0.0002"), Decimal("0.5")),
        (thin, "buy", Decimal("9000"), Decimal("0.5")),
        ([level("100000000", "0.00004"), level("102000000", "1")], "buy", Decimal("20000"), Decimal("0.5")),
        (flat, "buy", Decimal("0.5"), Decimal("0.5")),
    ):
        check = slippage_check(levels, side, size, limit, fee_rate=Decimal("0.0005"), min_total=Decimal("5000"))  # type: ignore[arg-type]
        if not check.allowed or check.shrunk:  # the reasons an event or a request's result shows
            found.append(check.reason)
    return found


def event_function_names() -> set[str]:
    """The functions of trading/events.py that write an event (each must be in the inventory); the private ones
    only build a row for them."""
    return {
        name
        for name, function in inspect.getmembers(events, inspect.isfunction)
        if function.__module__ == events.__name__
        and not name.startswith("_")
        and inspect.signature(function).return_annotation in ("EngineEvent",)
    }


def inventory() -> Written:
    """Write every kind of sentence once (needs the database) and return what was stored."""
    written = Written()
    EngineState.load()
    order = factories.OrderFactory(ts=NOW, identifier="ac-20261121-0001", exchange_uuid=UUID, status=Order.Status.DONE)
    fill = factories.FillFactory(order=order, ts=NOW, price=Decimal("100000000"), volume=Decimal("0.0001"), fee=Decimal("5"))
    request = factories.ManualOrderRequestFactory(kind="buy", krw=Decimal("10000"))
    record_event_functions(written, order, fill, request)
    record_state_reasons(written)
    for reasons in risk_reasons():
        for source in ("strategy", "exit_rule", "manual"):
            written.add("risk_blocked", events.risk_blocked(action="buy", reasons=[reasons], source=source).message)
    written.add("risk_blocked", events.risk_blocked(action="sell", reasons=risk_reasons()[:3], source="manual").message)
    record_manual_results(written)
    EngineEvent.objects.all().delete()
    record_engine_messages(written, order)
    return written
