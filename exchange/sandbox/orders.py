"""Upbit's exchange endpoints: accounts, order chance, placing, reading, listing and cancelling orders,
all against the sandbox ledger. Each call first fills the resting orders the price has reached."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.rules import is_on_tick
from exchange.sandbox.feed import seconds_of
from exchange.sandbox.http import Request
from exchange.sandbox.ledger import CLOSED_STATES, OPEN_STATES, Order, Rejected, dec, kst
from exchange.sandbox.state import SandboxState
from exchange.types import OrderRequest


class OrderEndpoints(SandboxState):
    """/v1/accounts, /v1/api_keys, /v1/orders/chance, /v1/orders (place, test), /v1/order (get, cancel), the order lists."""

    def h_accounts(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            return 200, self.ledger.accounts_json()

    def _exchange_market(self, request: Request) -> str:
        raw = request.params.get("market")
        if raw is None or not str(raw).strip():
            raise Rejected(400, "validation_error", "market is missing")
        market = str(raw).strip()
        if market not in self.feeds:
            raise Rejected(400, "notfoundmarket", f"다음 마켓에 없는 종목입니다: {market} (market not found)")
        return market

    def h_orders_chance(self, request: Request) -> tuple[int, Any]:
        market = self._exchange_market(request)
        self.sweep()
        with self.lock:
            return 200, self.ledger.chance_json(market)

    def _place(self, request: Request, *, test: bool) -> tuple[int, Any]:
        self.sweep()
        now = self.now()
        seconds = seconds_of(now)
        with self.lock:
            order_request, smp_type = self.ledger.parse_request(request.params.as_dict(), self.markets)
            levels = self.book(order_request.market, seconds)
            self._check_tick(order_request)
            if test:
                self.ledger.check(order_request, levels)
                side = "bid" if order_request.side == "buy" else "ask"
                preview = Order(
                    uuid=f"test-{random.getrandbits(64):016x}",
                    market=order_request.market,
                    side=side,
                    ord_type=order_request.ord_type,
                    created_at=now,
                    price=order_request.price,
                    volume=order_request.volume,
                    identifier=order_request.identifier or None,
                    time_in_force=order_request.time_in_force,
                    smp_type=smp_type,
                    remaining_volume=order_request.volume,
                )
                return 201, preview.as_json()
            order = self.ledger.place(order_request, smp_type=smp_type, levels=levels, now=now, now_seconds=seconds)
            return 201, order.as_json()

    def _check_tick(self, order_request: OrderRequest) -> None:
        """A tick set through the control endpoint is enforced like Upbit's own (the table's is `validate_order`'s)."""
        tick = self.tick_overrides.get(order_request.market)
        price = order_request.price
        if tick is None or order_request.ord_type != "limit" or price is None or is_on_tick(price, tick=tick):
            return
        suffix = "bid" if order_request.side == "buy" else "ask"
        raise Rejected(
            400, f"invalid_price_{suffix}", f"price {price} is not on {order_request.market}'s tick grid ({dec(tick)})"
        )

    def h_api_keys(self, request: Request) -> tuple[int, Any]:
        return 200, [{"access_key": self.access_key, "expire_at": kst(self.key_expire_at)}]

    def h_orders_create(self, request: Request) -> tuple[int, Any]:
        return self._place(request, test=False)

    def h_orders_test(self, request: Request) -> tuple[int, Any]:
        return self._place(request, test=True)

    def h_order_get(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            order = self.ledger.find(uuid=request.params.get("uuid"), identifier=request.params.get("identifier"))
            return 200, order.as_json(trades=True)

    def h_order_cancel(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            order = self.ledger.find(uuid=request.params.get("uuid"), identifier=request.params.get("identifier"))
            return 200, self.ledger.cancel(order)

    @staticmethod
    def _page(request: Request, orders: list[Order], *, max_limit: int, default_limit: int = 100) -> list[Order]:
        try:
            page = int(str(request.params.get("page", "1") or "1"))
            limit = int(str(request.params.get("limit", default_limit) or default_limit))
        except ValueError:
            raise Rejected(400, "validation_error", "page and limit must be whole numbers") from None
        if page < 1 or not 1 <= limit <= max_limit:
            raise Rejected(400, "validation_error", f"page must be at least 1 and limit 1 to {max_limit}")
        order_by = str(request.params.get("order_by", "desc") or "desc")
        if order_by not in ("asc", "desc"):
            raise Rejected(400, "validation_error", "order_by must be asc or desc")
        orders = sorted(orders, key=lambda o: o.created_at, reverse=order_by == "desc")
        return orders[(page - 1) * limit : page * limit]

    def _states(self, request: Request, *, allowed: frozenset[str], default: frozenset[str]) -> frozenset[str]:
        single = request.params.get("state")
        many = request.params.getlist("states")
        if single and many:
            raise Rejected(400, "validation_error", "state and states[] cannot be used together")
        states = frozenset([single] if single else many) or default
        unknown = states - allowed
        if unknown:
            raise Rejected(400, "validation_error", f"state {sorted(unknown)[0]!r} is not allowed here")
        return states

    def _filtered(self, request: Request, states: frozenset[str]) -> list[Order]:
        market = request.params.get("market")
        if market and market not in self.feeds:
            raise Rejected(400, "notfoundmarket", f"다음 마켓에 없는 종목입니다: {market} (market not found)")
        return [o for o in self.ledger.orders.values() if o.state in states and (not market or o.market == market)]

    def _listing(self, orders: list[Order]) -> list[dict[str, Any]]:
        return [order.as_json() for order in orders]

    def h_orders_open(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            states = self._states(request, allowed=OPEN_STATES, default=frozenset({"wait"}))
            return 200, self._listing(self._page(request, self._filtered(request, states), max_limit=100))

    def _time_param(self, request: Request, name: str) -> datetime | None:
        raw = request.params.get(name)
        if raw is None or str(raw).strip() == "":
            return None
        text = str(raw).strip()
        try:
            if text.isdigit():
                return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (ValueError, OverflowError, OSError):
            raise Rejected(400, "validation_error", f"{name} is not an ISO-8601 time or a millisecond timestamp") from None
        if moment.tzinfo is None:
            raise Rejected(400, "validation_error", f"{name} needs a time zone (e.g. +09:00) or a millisecond timestamp")
        return moment

    def h_orders_closed(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            states = self._states(request, allowed=CLOSED_STATES, default=CLOSED_STATES)
            start = self._time_param(request, "start_time")
            end = self._time_param(request, "end_time")
            week = timedelta(days=7)
            if start is None:
                end = end if end is not None else self.now()
                start = end - week
            elif end is None:
                end = start + week
            if end - start > week or end < start:
                raise Rejected(400, "validation_error", "start_time and end_time must be at most 7 days apart")
            orders = [o for o in self._filtered(request, states) if start <= o.created_at <= end]
            return 200, self._listing(self._page(request, orders, max_limit=1000))

    def h_orders_uuids(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            uuids = request.params.getlist("uuids")
            identifiers = request.params.getlist("identifiers")
            if uuids and identifiers:
                raise Rejected(400, "validation_error", "uuids[] and identifiers[] cannot be used together")
            if not uuids and not identifiers:
                raise Rejected(400, "validation_error", "uuids[] or identifiers[] is missing")
            if len(uuids) + len(identifiers) > 100:
                raise Rejected(400, "validation_error", "at most 100 uuids or identifiers")
            market = request.params.get("market")
            found = [self.ledger.orders.get(u) for u in uuids] + [
                self.ledger.orders.get(self.ledger.by_identifier.get(i, "")) for i in identifiers
            ]
            orders = [o for o in found if o is not None and (not market or o.market == market)]
            reverse = str(request.params.get("order_by", "desc")) != "asc"
            orders.sort(key=lambda o: o.created_at, reverse=reverse)
            return 200, self._listing(orders)

    def h_orders_legacy(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            states = self._states(request, allowed=OPEN_STATES | CLOSED_STATES, default=frozenset({"wait"}))
            if states & OPEN_STATES and states & CLOSED_STATES:
                message = "open states (wait, watch) and closed states (done, cancel) cannot be mixed"
                raise Rejected(400, "validation_error", message)
            orders = self._filtered(request, states)
            uuids = set(request.params.getlist("uuids"))
            identifiers = set(request.params.getlist("identifiers"))
            if uuids:
                orders = [o for o in orders if o.uuid in uuids]
            if identifiers:
                orders = [o for o in orders if o.identifier in identifiers]
            return 200, self._listing(self._page(request, orders, max_limit=100))

    def h_orders_cancel_open(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            side = str(request.params.get("cancel_side", "all") or "all")
            if side not in ("all", "bid", "ask"):
                raise Rejected(400, "validation_error", "cancel_side must be all, bid or ask")
            pairs = {p.strip() for p in str(request.params.get("pairs", "") or "").split(",") if p.strip()}
            excluded = {p.strip() for p in str(request.params.get("excluded_pairs", "") or "").split(",") if p.strip()}
            try:
                count = int(str(request.params.get("count", "20") or "20"))
            except ValueError:
                raise Rejected(400, "validation_error", "count must be a whole number") from None
            orders = [
                o
                for o in self.ledger.orders.values()
                if o.state == "wait"
                and (side == "all" or o.side == side)
                and (not pairs or o.market in pairs)
                and o.market not in excluded
            ]
            orders.sort(key=lambda o: o.created_at, reverse=str(request.params.get("order_by", "desc")) != "asc")
            cancelled = []
            for order in orders[: max(1, min(count, 300))]:
                self.ledger.cancel(order)
                cancelled.append({"uuid": order.uuid, "market": order.market, "identifier": order.identifier})
            return 200, {"success": {"count": len(cancelled), "orders": cancelled}, "failed": {"count": 0, "orders": []}}
