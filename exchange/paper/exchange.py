"""`PaperExchange`: the `Exchange` interface over real market data and the persisted paper account."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from exchange.account import PAPER_ACCOUNT
from exchange.exceptions import InvalidRequest, OrderNotFound, OrderRejected
from exchange.matching import take_volume, validate_order
from exchange.models import PaperIdentifier, PaperOrder, PaperTrade
from exchange.paper.account import (
    KRW,
    Ledger,
    UsedIdentifiers,
    account_ensure,
    as_balance,
    balance_rows,
    coin_of,
    identifier_record,
    validated_initial_krw,
)
from exchange.paper.fills import finish, match_open_orders, place_limit, place_market_buy, place_market_sell
from exchange.rules import DEFAULT_FEE_RATE, KRW_MAX_ORDER_TOTAL, KRW_MIN_ORDER_TOTAL, krw_tick_size
from exchange.types import (
    ZERO,
    Balance,
    Candle,
    Instrument,
    OrderBook,
    OrderBookLevel,
    OrderChance,
    OrderInfo,
    OrderRequest,
    SideName,
    Ticker,
    Trade,
)

MARKET_PATTERN = re.compile(r"KRW-[A-Z0-9]{1,15}")


class MarketData(Protocol):
    """Where the paper exchange reads the market: anything with Upbit's quotation calls."""

    def get_ticker(self, market: str) -> Ticker: ...

    def get_minute_candles(self, market: str, *, unit: int = 1, count: int = 200, to: datetime | None = None) -> list[Candle]: ...

    def get_day_candles(self, market: str, *, count: int = 200, to: datetime | None = None) -> list[Candle]: ...

    def get_orderbook(self, market: str) -> OrderBook: ...


def _order_info(order: PaperOrder, trades: Sequence[PaperTrade] | None = None) -> OrderInfo:
    if trades is None:
        trades = list(order.trades.order_by("created_at", "id"))
    trade_infos = tuple(
        Trade(
            uuid=trade.uuid,
            market=trade.market,
            side="buy" if trade.side == "buy" else "sell",
            price=trade.price,
            volume=trade.volume,
            funds=trade.funds,
            created_at=trade.created_at,
            fee=trade.fee,
        )
        for trade in trades
    )
    raw: dict[str, Any] = {
        "paper": True,
        "uuid": order.uuid,
        "identifier": order.identifier,
        "market": order.market,
        "side": order.side,
        "ord_type": order.ord_type,
        "state": order.state,
        "price": _text(order.price),
        "volume": _text(order.volume),
        "remaining_volume": _text(order.remaining_volume),
        "executed_volume": _text(order.executed_volume),
        "executed_funds": _text(order.executed_funds),
        "reserved_fee": _text(order.reserved_fee),
        "remaining_fee": _text(order.remaining_fee),
        "paid_fee": _text(order.paid_fee),
        "locked": _text(order.locked),
        "trades_count": len(trade_infos),
        "created_at": order.created_at.isoformat(),
    }
    if order.time_in_force:
        raw["time_in_force"] = order.time_in_force
    return OrderInfo(
        uuid=order.uuid,
        market=order.market,
        side="buy" if order.side == "buy" else "sell",
        ord_type=order.ord_type,  # type: ignore[arg-type]  # constrained by the table's check constraint
        state=order.state,  # type: ignore[arg-type]
        created_at=order.created_at,
        identifier=order.identifier,
        price=order.price,
        volume=order.volume,
        remaining_volume=order.remaining_volume,
        executed_volume=order.executed_volume,
        executed_funds=order.executed_funds,
        reserved_fee=order.reserved_fee,
        remaining_fee=order.remaining_fee,
        paid_fee=order.paid_fee,
        locked=order.locked,
        trades_count=len(trade_infos),
        trades=trade_infos,
        raw=raw,
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


class PaperExchange:
    """Trades on paper: the `Exchange` interface over real market data and a simulated, persisted account."""

    is_paper = True
    account = PAPER_ACCOUNT

    def __init__(
        self,
        market_data: MarketData,
        *,
        initial_krw: Decimal,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.market_data = market_data
        self.clock = clock
        """The time every order and trade is stamped with (a replay passes its simulated clock)."""
        self.initial_krw = validated_initial_krw(initial_krw)
        if not fee_rate.is_finite() or not ZERO <= fee_rate < 1:
            raise ValueError(f"fee rate must be from 0 to below 1, not {fee_rate}")
        self.fee_rate = fee_rate
        # market → {("ask" | "bid", price): volume paper orders already took at that level}
        self._taken: dict[str, dict[tuple[str, Decimal], Decimal]] = {}
        self._account_ready = False

    def __repr__(self) -> str:
        return f"PaperExchange(initial_krw={self.initial_krw}, fee_rate={self.fee_rate})"

    # --- market data: straight from the real source --------------------------------------------------

    def get_ticker(self, market: str) -> Ticker:
        return self.market_data.get_ticker(market)

    def get_minute_candles(self, market: str, *, unit: int = 1, count: int = 200, to: datetime | None = None) -> list[Candle]:
        return self.market_data.get_minute_candles(market, unit=unit, count=count, to=to)

    def get_day_candles(self, market: str, *, count: int = 200, to: datetime | None = None) -> list[Candle]:
        return self.market_data.get_day_candles(market, count=count, to=to)

    def get_orderbook(self, market: str) -> OrderBook:
        return self.market_data.get_orderbook(market)

    def get_instrument(self, market: str) -> Instrument:
        """The source's tick size when it states one (Upbit does); otherwise the built-in table's at the last price."""
        source = getattr(self.market_data, "get_instrument", None)
        if callable(source):
            instrument: Instrument = source(market)
            return instrument
        price = self.market_data.get_ticker(market).trade_price
        return Instrument(market=market, quote_currency=market.partition("-")[0], tick_size=krw_tick_size(price))

    # --- account ------------------------------------------------------------------------------------

    def _account(self) -> None:
        """Create the account on first use. Once it exists it is never removed (a reset keeps the row), so later
        calls need no query."""
        if not self._account_ready:
            account_ensure(initial_krw=self.initial_krw)
            self._account_ready = True

    def _fresh_levels(self, market: str, levels: Sequence[OrderBookLevel]) -> tuple[OrderBookLevel, ...]:
        """The book as paper orders may still use it: sizes minus what they already took at each price."""
        present = {("ask", level.ask_price) for level in levels} | {("bid", level.bid_price) for level in levels}
        taken = {key: amount for key, amount in self._taken.get(market, {}).items() if key in present}
        self._taken[market] = taken
        return tuple(
            OrderBookLevel(
                level.ask_price,
                max(ZERO, level.ask_size - taken.get(("ask", level.ask_price), ZERO)),
                level.bid_price,
                max(ZERO, level.bid_size - taken.get(("bid", level.bid_price), ZERO)),
            )
            for level in levels
        )

    def _remember_taken(self, market: str, before: Sequence[OrderBookLevel], after: Sequence[OrderBookLevel]) -> None:
        taken = self._taken.setdefault(market, {})
        for old, new in zip(before, after, strict=True):
            for key, used in (
                (("ask", old.ask_price), old.ask_size - new.ask_size),
                (("bid", old.bid_price), old.bid_size - new.bid_size),
            ):
                if used > 0:
                    taken[key] = taken.get(key, ZERO) + used

    def _match(self, market: str) -> tuple[OrderBookLevel, ...] | None:
        """Match the market's resting orders against a fresh book; None when none are open (no HTTP).
        Returns the book left for new orders."""
        if not PaperOrder.objects.filter(market=market, state=PaperOrder.State.WAIT).exists():
            return None
        book = self.market_data.get_orderbook(market)
        levels = self._fresh_levels(market, book.levels)
        remaining = match_open_orders(market, levels, self.fee_rate, self.clock())
        self._remember_taken(market, levels, remaining)
        return remaining

    def _match_all(self) -> None:
        markets = PaperOrder.objects.filter(state=PaperOrder.State.WAIT).values_list("market", flat=True).distinct()
        for market in sorted(set(markets)):
            self._match(market)

    def get_accounts(self) -> list[Balance]:
        """KRW always, and every coin the account holds (free or locked)."""
        self._account()
        self._match_all()
        return [as_balance(row) for row in balance_rows() if row.currency == KRW or row.balance > 0 or row.locked > 0]

    def get_order_chance(self, market: str) -> OrderChance:
        self._check_market(market, rejected=False)
        self._account()
        self._match(market)
        rows = {row.currency: row for row in balance_rows()}
        coin = coin_of(market)
        krw_row = rows.get(KRW)
        coin_row = rows.get(coin)
        return OrderChance(
            market=market,
            bid_fee=self.fee_rate,
            ask_fee=self.fee_rate,
            min_total=KRW_MIN_ORDER_TOTAL,
            max_total=KRW_MAX_ORDER_TOTAL,
            bid_account=as_balance(krw_row) if krw_row else Balance(currency=KRW, balance=ZERO, locked=ZERO),
            ask_account=as_balance(coin_row) if coin_row else Balance(currency=coin, balance=ZERO, locked=ZERO),
        )

    # --- orders -------------------------------------------------------------------------------------

    @staticmethod
    def _check_market(market: str, *, rejected: bool) -> None:
        if not MARKET_PATTERN.fullmatch(market or ""):
            message = f"the paper exchange trades KRW markets only (KRW-XXX), not {market!r}"
            raise (OrderRejected if rejected else InvalidRequest)(message, name="notfoundmarket", status=400)

    def place_order(self, request: OrderRequest) -> OrderInfo:
        """Validate like Upbit, then fill against the current book. Raises OrderRejected with Upbit's
        error names; market-data failures (RetryLater) happen before anything is written."""
        try:
            self._check_market(request.market, rejected=True)
        except OrderRejected:
            identifier_record(request.identifier)
            raise
        self._account()
        try:
            book = self.market_data.get_orderbook(request.market)
        except InvalidRequest as error:
            identifier_record(request.identifier)
            raise OrderRejected(f"unknown market {request.market}: {error.message}", name="notfoundmarket", status=400) from error
        # Resting orders were on the book first: they take the liquidity before the new order does.
        fresh = self._fresh_levels(request.market, book.levels)
        levels = match_open_orders(request.market, fresh, self.fee_rate, self.clock())
        self._remember_taken(request.market, fresh, levels)
        try:
            with transaction.atomic():
                ledger = Ledger(request.market)
                validate_order(
                    request,
                    levels=levels,
                    krw_balance=ledger.krw.balance,
                    coin_balance=ledger.coin.balance,
                    fee_rate=self.fee_rate,
                    used_identifiers=UsedIdentifiers(),
                )
                if request.identifier:
                    PaperIdentifier.objects.create(identifier=request.identifier)
                if request.ord_type == "price":
                    order = place_market_buy(request, levels, ledger, self.fee_rate, self.clock())
                elif request.ord_type == "market":
                    order = place_market_sell(request, levels, ledger, self.fee_rate, self.clock())
                else:
                    order = place_limit(request, levels, ledger, self.fee_rate, self.clock())
                ledger.save()
        except OrderRejected:
            identifier_record(request.identifier)
            raise
        except IntegrityError as error:
            if not (request.identifier and request.identifier in UsedIdentifiers()):
                raise
            # Two processes sent the same identifier at once: the second loses, as on Upbit.
            raise OrderRejected(
                f"identifier {request.identifier!r} was already used", name="duplicated_identifier", status=400
            ) from error
        side: SideName = "buy" if request.side == "buy" else "sell"
        self._remember_taken(request.market, levels, take_volume(levels, side, order.executed_volume))
        return _order_info(order)

    @staticmethod
    def _find(uuid: str | None, identifier: str | None) -> PaperOrder:
        if uuid:
            order = PaperOrder.objects.filter(uuid=uuid).first()
        elif identifier:
            order = PaperOrder.objects.filter(identifier=identifier).first()
        else:
            raise InvalidRequest("give the order's uuid or identifier", name="validation_error", status=400)
        if order is None:
            raise OrderNotFound(
                f"no paper order with {'uuid ' + uuid if uuid else 'identifier ' + str(identifier)}",
                name="order_not_found",
                status=404,
            )
        return order

    def get_order(self, *, uuid: str | None = None, identifier: str | None = None) -> OrderInfo:
        order = self._find(uuid, identifier)
        if order.state == PaperOrder.State.WAIT:
            self._match(order.market)
            order.refresh_from_db()
        return _order_info(order)

    def get_orders_by_identifiers(self, identifiers: Sequence[str], *, market: str | None = None) -> list[OrderInfo]:
        """The orders among `identifiers` that exist (unknown identifiers are simply absent)."""
        wanted = [identifier for identifier in dict.fromkeys(identifiers) if identifier]
        queryset = PaperOrder.objects.filter(identifier__in=wanted)
        if market:
            queryset = queryset.filter(market=market)
        for open_market in sorted(set(queryset.filter(state=PaperOrder.State.WAIT).values_list("market", flat=True))):
            self._match(open_market)
        return [_order_info(order) for order in queryset.order_by("-created_at", "-id")]

    def cancel_order(self, *, uuid: str | None = None, identifier: str | None = None) -> OrderInfo:
        """Cancel an open order. Like Upbit, the answer is the order as it stood when the cancel was
        accepted (state `wait`); the cancel itself is already done, so `get_order` shows `cancel`.
        Fills the book allowed before the cancel are booked first. An order that is no longer open
        raises OrderNotFound (`order_not_found`), as the sandbox does: the caller then reads the
        order's final state with `get_order`."""
        order = self._find(uuid, identifier)
        if order.state == PaperOrder.State.WAIT:
            self._match(order.market)
        with transaction.atomic():
            order = PaperOrder.objects.select_for_update().get(pk=order.pk)
            if order.state != PaperOrder.State.WAIT:
                raise OrderNotFound(
                    f"order {order.uuid} is already {order.state}; only open orders can be cancelled",
                    name="order_not_found",
                    status=404,
                )
            trades = list(order.trades.order_by("created_at", "id"))
            snapshot = _order_info(order, trades)
            ledger = Ledger(order.market)
            finish(order, PaperOrder.State.CANCEL, ledger, self.clock())
            order.save()
            ledger.save()
        return snapshot

    def get_open_orders(self, market: str) -> list[OrderInfo]:
        self._match(market)
        orders = PaperOrder.objects.filter(market=market, state=PaperOrder.State.WAIT).order_by("-created_at", "-id")
        return [_order_info(order) for order in orders]
