"""The soak's audit: the exchange's word against our books, by identifier and by trade id.

Called by bench/soak.py once every process has stopped, with Django set up on the soak's database and the
sandbox's whole state (`GET /_sandbox/state`: balances, and every order with its identifier and trades).
Every count it returns must be 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

D = Decimal
WON = D("1")
EXCHANGE_STATUS = {"wait": "WAIT", "watch": "WAIT", "done": "DONE", "cancel": "CANCEL"}


@dataclass
class Audit:
    counts: dict[str, int] = field(default_factory=dict)
    """Each must be 0."""
    notes: list[str] = field(default_factory=list)
    """One line per problem found, naming the identifier, trade or day."""
    figures: dict[str, Any] = field(default_factory=dict)
    """What was compared (not pass/fail)."""

    def count(self, name: str, problems: list[str]) -> None:
        self.counts[name] = self.counts.get(name, 0) + len(problems)
        self.notes.extend(f"{name}: {problem}" for problem in problems)


def _d(text: Any) -> Decimal:
    return D(str(text)) if text not in (None, "") else D("0")


def audit_orders(audit: Audit, exchange_orders: list[dict[str, Any]], mode: str = "live") -> None:
    """Orders by identifier: duplicates, orders the exchange holds that we do not know, orders we think placed
    that the exchange never had, ABSENT orders the exchange did place, and end states that disagree."""
    from trading.models import Order

    by_identifier: dict[str, list[dict[str, Any]]] = {}
    for order in exchange_orders:
        by_identifier.setdefault(order.get("identifier") or f"(none: {order['uuid']})", []).append(order)
    ours = {order.identifier: order for order in Order.objects.filter(mode=mode)}

    audit.count(
        "duplicate_exchange_orders",
        [f"{key}: {len(rows)} exchange orders" for key, rows in by_identifier.items() if len(rows) > 1],
    )
    audit.count(
        "unknown_exchange_orders", [f"{key} ({rows[0]['uuid']})" for key, rows in by_identifier.items() if key not in ours]
    )
    placed = [order for order in ours.values() if order.identifier in by_identifier]
    per_signal = Counter(order.signal_id for order in placed if order.signal_id is not None)
    audit.count(
        "duplicate_orders_for_one_intent", [f"signal {signal}: {n} orders placed" for signal, n in per_signal.items() if n > 1]
    )
    audit.count(
        "placed_orders_marked_absent",
        [
            f"{order.identifier} is {order.status} here but {by_identifier[order.identifier][0]['state']} at the exchange"
            for order in placed
            if order.status in (Order.Status.ABSENT, Order.Status.REJECTED)
        ],
    )
    audit.count(
        "orders_the_exchange_never_had",
        [
            f"{order.identifier} is {order.status}"
            for order in ours.values()
            if order.identifier not in by_identifier
            and order.status in (Order.Status.WAIT, Order.Status.DONE, Order.Status.CANCEL)
        ],
    )
    audit.count(
        "orders_still_unsettled",
        [f"{o.identifier} is {o.status}" for o in ours.values() if o.status in (Order.Status.NEW, Order.Status.UNKNOWN)],
    )
    mismatched = []
    for order in placed:
        theirs = by_identifier[order.identifier][0]
        expected = EXCHANGE_STATUS.get(theirs["state"])
        if theirs["state"] == "cancel" and theirs.get("ord_type") == "price" and _d(theirs["executed_volume"]) > 0:
            expected = "DONE"  # a market buy ends `cancel` after returning its unspendable dust: it is filled
        if order.status in (Order.Status.ABSENT, Order.Status.REJECTED, Order.Status.NEW, Order.Status.UNKNOWN):
            continue  # counted above
        if expected != order.status or _d(theirs["executed_volume"]) != order.executed_volume:
            mismatched.append(
                f"{order.identifier}: {order.status} {order.executed_volume} here, "
                f"{theirs['state']} {theirs['executed_volume']} at the exchange"
            )
    audit.count("order_state_mismatches", mismatched)
    audit.figures["exchange_orders"] = len(exchange_orders)
    audit.figures["our_orders"] = dict(Counter(order.status for order in ours.values()))


def audit_fills(audit: Audit, exchange_orders: list[dict[str, Any]], mode: str = "live") -> None:
    """Fills by the exchange's trade id: lost (a trade with no Fill), phantom (a Fill with no trade), doubled (one
    trade recorded twice, or on another order than the exchange's)."""
    from trading.models import Fill

    theirs: dict[str, tuple[str | None, Decimal]] = {}
    for order in exchange_orders:
        for trade in order.get("trades") or []:
            theirs[trade["uuid"]] = (order.get("identifier"), _d(trade["volume"]))
    rows = list(Fill.objects.filter(order__mode=mode).values_list("trade_id", "order__identifier", "volume"))
    per_trade = Counter(trade_id for trade_id, _identifier, _volume in rows)
    audit.count(
        "lost_fills", [f"trade {trade} of {identifier}" for trade, (identifier, _v) in theirs.items() if trade not in per_trade]
    )
    audit.count("phantom_fills", [f"fill {trade} of {identifier}" for trade, identifier, _v in rows if trade not in theirs])
    doubled = [f"trade {trade} recorded {n} times" for trade, n in per_trade.items() if n > 1]
    doubled += [
        f"trade {trade} recorded on {identifier}, the exchange has it on {theirs[trade][0]}"
        for trade, identifier, volume in rows
        if trade in theirs and (theirs[trade][0] != identifier or theirs[trade][1] != volume)
    ]
    audit.count("doubled_or_misplaced_fills", doubled)
    audit.figures["exchange_trades"] = len(theirs)
    audit.figures["our_fills"] = len(rows)


def audit_balances(audit: Audit, balances: dict[str, dict[str, str]], coin: str, mode: str = "live") -> None:
    """The exchange's balances against our last snapshot (taken after the final reconcile)."""
    from trading.models import BalanceSnapshot

    snapshot = BalanceSnapshot.objects.filter(mode=mode).order_by("-ts", "-id").first()
    if snapshot is None:
        audit.count("balance_mismatches", ["no balance snapshot at all"])
        return

    def held(currency: str) -> Decimal:
        account = balances.get(currency) or {}
        return _d(account.get("balance")) + _d(account.get("locked"))

    problems = []
    for currency, ours in (("KRW", snapshot.krw), (coin, snapshot.coin_volume)):
        if held(currency) != ours:
            problems.append(f"{currency}: {ours} in our snapshot of {snapshot.ts:%H:%M:%S}, {held(currency)} at the exchange")
    audit.count("balance_mismatches", problems)
    audit.figures["balances"] = {"KRW": str(held("KRW")), coin: str(held(coin))}


def audit_pnl(audit: Audit, mode: str = "live") -> None:
    """The daily PnL the engine kept up cycle by cycle against `rebuildpnl` from the fills, to the won."""
    from trading.engine.pnl import pnl_rebuild
    from trading.models import PnlDaily

    kept_figures = {
        (row.date, f"{row.market} {row.account}"): (row.realized, row.fees, row.trades)
        for row in PnlDaily.objects.filter(mode=mode)
    }
    rebuilt = {
        (row.date, f"{row.market} {row.account}"): (row.realized, row.fees, row.trades)
        for row in pnl_rebuild()
        if row.mode == mode
    }
    problems = []
    for key in sorted(set(kept_figures) | set(rebuilt)):
        mine = kept_figures.get(key, (D("0"), D("0"), 0))
        again = rebuilt.get(key, (D("0"), D("0"), 0))
        if abs(mine[0] - again[0]) >= WON or abs(mine[1] - again[1]) >= WON or mine[2] != again[2]:
            problems.append(
                f"{key[0]} {key[1]}: realized {mine[0]:.0f}, fees {mine[1]:.0f}, {mine[2]} fills kept; "
                f"rebuilt {again[0]:.0f}, {again[1]:.0f}, {again[2]}"
            )
    audit.count("pnl_mismatches", problems)
    audit.figures["pnl_days"] = len(rebuilt)


def run_audit(state: dict[str, Any], coin: str) -> Audit:
    from trading.models import ManualOrderRequest

    audit = Audit()
    audit.figures["manual_requests"] = dict(Counter(ManualOrderRequest.objects.values_list("status", flat=True)))
    orders = list(state.get("orders") or [])
    audit_orders(audit, orders)
    audit_fills(audit, orders)
    audit_balances(audit, state.get("balances") or {}, coin)
    audit_pnl(audit)
    return audit
