"""The paper exchange: real market data, simulated orders and balances that persist in the database.

`PaperExchange` implements `exchange.base.Exchange` with `is_paper = True`. Ticker, candles and order
book come from a real market-data source (in production a keyless `UpbitClient`); orders are filled
with `exchange.matching`, the same rules the sandbox and the backtest use, and every balance, order
and trade is written to the paper ledger (`exchange.models`) in one transaction per change, so the
account survives restarts.

Matching is lazy. A paper order is not on Upbit's book, so nothing tells it when the market moves
through its price; instead, open orders of a market are matched against the current order book
whenever they are looked at: `place_order` (before the new order), `get_order`, `get_open_orders`,
`cancel_order` (a fill that happened before the cancel wins), `get_accounts` and `get_order_chance`.
The engine polls its open orders every cycle, so a resting order fills within one loop interval of
the book crossing it.

A paper order cannot remove liquidity from the real book, so the exchange remembers, per market and
price level, how much its orders already took; later looks see a level's size minus that amount.
An unchanged book therefore never fills the same size twice. The memory of a price is dropped once
that price leaves the book (new liquidity at that price later counts in full); it lives in the
process, so after a restart one already-used size could be matched once more.

The order book is always fetched before a transaction opens: no database transaction is ever held
across an HTTP call.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from exchange.exceptions import InvalidRequest, OrderNotFound, OrderRejected
from exchange.matching import (
    LevelFill,
    consume_levels,
    crosses,
    floor_volume,
    limit_bid_locked,
    limit_fill,
    market_buy_fill,
    market_sell_fill,
    take_volume,
    validate_order,
)
from exchange.models import PaperAccount, PaperBalance, PaperIdentifier, PaperOrder, PaperTrade
from exchange.rules import (
    DEFAULT_FEE_RATE,
    KRW_MAX_ORDER_TOTAL,
    KRW_MIN_ORDER_TOTAL,
    average_buy_price,
    fee_for,
    quantize_krw,
)
from exchange.types import (
    ZERO,
    Balance,
    Candle,
    OrderBook,
    OrderBookLevel,
    OrderChance,
    OrderInfo,
    OrderRequest,
    Ticker,
    Trade,
)

KRW = "KRW"
MARKET_PATTERN = re.compile(r"KRW-[A-Z0-9]{1,15}")
MAX_INITIAL_KRW = Decimal("100000000000")


class MarketData(Protocol):
    """Where the paper exchange reads the market: anything with Upbit's quotation calls."""

    def get_ticker(self, market: str) -> Ticker: ...

    def get_minute_candles(self, market: str, *, unit: int = 1, count: int = 200, to: datetime | None = None) -> list[Candle]: ...

    def get_day_candles(self, market: str, *, count: int = 200, to: datetime | None = None) -> list[Candle]: ...

    def get_orderbook(self, market: str) -> OrderBook: ...


@dataclass(frozen=True, slots=True)
class ResetResult:
    initial_krw: Decimal
    cancelled_orders: int
    previous_balances: tuple[Balance, ...]
    """What the account held just before the reset, for the record of who reset what."""


# --- The ledger -------------------------------------------------------------------------------------


def _validated_initial_krw(initial_krw: Decimal) -> Decimal:
    if not isinstance(initial_krw, Decimal) or not initial_krw.is_finite():
        raise ValueError(f"initial KRW must be a finite Decimal, not {initial_krw!r}")
    if not KRW_MIN_ORDER_TOTAL <= initial_krw <= MAX_INITIAL_KRW:
        raise ValueError(f"initial KRW must be from {KRW_MIN_ORDER_TOTAL} to {MAX_INITIAL_KRW}, not {initial_krw}")
    if initial_krw != quantize_krw(initial_krw):
        raise ValueError(f"initial KRW has more than 8 decimals: {initial_krw}")
    return initial_krw


def account_ensure(*, initial_krw: Decimal) -> PaperAccount:
    """The paper account, created with `initial_krw` KRW if it does not exist yet (never re-funded)."""
    account = PaperAccount.objects.filter(pk=PaperAccount.SINGLETON_PK).first()
    if account is not None:
        return account
    _validated_initial_krw(initial_krw)
    try:
        with transaction.atomic():
            account = PaperAccount.objects.create(pk=PaperAccount.SINGLETON_PK, initial_krw=initial_krw)
            PaperBalance.objects.create(currency=KRW, balance=initial_krw)
            return account
    except IntegrityError:
        # Another process created it first: use theirs.
        return PaperAccount.objects.get(pk=PaperAccount.SINGLETON_PK)


def _balance_rows() -> list[PaperBalance]:
    return list(PaperBalance.objects.order_by("currency"))


def _as_balance(row: PaperBalance) -> Balance:
    return Balance(currency=row.currency, balance=row.balance, locked=row.locked, avg_buy_price=row.avg_buy_price)


def reset_account(initial_krw: Decimal) -> ResetResult:
    """Start the paper account over: every open paper order is cancelled, every coin balance is
    removed and KRW is set to `initial_krw` (nothing locked). Order and trade history is kept, and
    used identifiers stay used, as on Upbit. Raises ValueError for an unusable amount."""
    _validated_initial_krw(initial_krw)
    now = timezone.now()
    with transaction.atomic():
        account = PaperAccount.objects.select_for_update().filter(pk=PaperAccount.SINGLETON_PK).first()
        # Orders before balances: the same lock order as matching and cancelling, so they cannot deadlock.
        list(PaperOrder.objects.select_for_update().filter(state=PaperOrder.State.WAIT).values_list("pk", flat=True))
        previous = tuple(_as_balance(row) for row in PaperBalance.objects.select_for_update().order_by("currency"))
        cancelled = PaperOrder.objects.filter(state=PaperOrder.State.WAIT).update(
            state=PaperOrder.State.CANCEL, finished_at=now, updated_at=now
        )
        PaperBalance.objects.exclude(currency=KRW).delete()
        PaperBalance.objects.update_or_create(
            currency=KRW, defaults={"balance": initial_krw, "locked": ZERO, "avg_buy_price": ZERO}
        )
        if account is None:
            PaperAccount.objects.create(pk=PaperAccount.SINGLETON_PK, initial_krw=initial_krw, reset_at=now, reset_count=1)
        else:
            account.initial_krw = initial_krw
            account.reset_at = now
            account.reset_count += 1
            account.save(update_fields=["initial_krw", "reset_at", "reset_count"])
    return ResetResult(initial_krw=initial_krw, cancelled_orders=cancelled, previous_balances=previous)


class _UsedIdentifiers:
    """`identifier in used` answered by the ledger, for `validate_order`."""

    def __contains__(self, identifier: object) -> bool:
        return isinstance(identifier, str) and PaperIdentifier.objects.filter(identifier=identifier).exists()


def _identifier_record(identifier: str) -> None:
    if not identifier:
        return
    try:
        with transaction.atomic():
            PaperIdentifier.objects.get_or_create(identifier=identifier)
    except IntegrityError:
        pass  # recorded concurrently: it is used either way


def _locked_balance(currency: str) -> PaperBalance:
    row = PaperBalance.objects.select_for_update().filter(currency=currency).first()
    if row is None:
        row = PaperBalance.objects.create(currency=currency)
    return row


def _coin_of(market: str) -> str:
    return market.split("-", 1)[1]


def _new_uuid() -> str:
    return str(uuid_module.uuid4())


# --- Order bookkeeping ------------------------------------------------------------------------------


class _Ledger:
    """The balances one transaction touches (KRW and one coin), saved together at the end."""

    def __init__(self, market: str) -> None:
        self.krw = _locked_balance(KRW)
        self.coin = _locked_balance(_coin_of(market))

    def bought(self, volume: Decimal, funds: Decimal) -> None:
        if volume > 0:
            held = self.coin.balance + self.coin.locked
            self.coin.avg_buy_price = average_buy_price(held, self.coin.avg_buy_price, volume, funds)
        self.coin.balance += volume

    def sold_from_locked(self, volume: Decimal, proceeds: Decimal) -> None:
        self.coin.locked -= volume
        self.krw.balance += proceeds
        self._clear_average_if_empty()

    def _clear_average_if_empty(self) -> None:
        if self.coin.balance + self.coin.locked == 0:
            self.coin.avg_buy_price = ZERO

    def save(self) -> None:
        self._clear_average_if_empty()
        self.krw.save()
        self.coin.save()


def _record_trades(order: PaperOrder, fills: Sequence[LevelFill], now: datetime) -> None:
    PaperTrade.objects.bulk_create(
        PaperTrade(
            uuid=_new_uuid(),
            order=order,
            market=order.market,
            side=order.side,
            price=fill.price,
            volume=fill.volume,
            funds=fill.funds,
            fee=fill.fee,
            created_at=now,
        )
        for fill in fills
    )


def _apply_limit_fills(order: PaperOrder, fills: Sequence[LevelFill], ledger: _Ledger, now: datetime) -> None:
    """Book fills of a limit order (placed or resting) against its lock; finish it when fully filled."""
    if not fills:
        return
    volume = sum((fill.volume for fill in fills), ZERO)
    funds = sum((fill.funds for fill in fills), ZERO)
    fee = sum((fill.fee for fill in fills), ZERO)
    _record_trades(order, fills, now)
    order.executed_volume += volume
    order.executed_funds += funds
    order.paid_fee += fee
    order.remaining_volume = (order.remaining_volume or ZERO) - volume
    if order.side == "buy":
        order.remaining_fee = order.reserved_fee - order.paid_fee
        new_locked = limit_bid_locked(order.price or ZERO, order.remaining_volume, order.reserved_fee, order.paid_fee)
        released = order.locked - new_locked
        # The lock shrinks by the value of the filled part at the limit price plus its fee; what the
        # fill did not cost (a better price) returns to the free balance.
        ledger.krw.locked -= released
        ledger.krw.balance += released - (funds + fee)
        order.locked = new_locked
        ledger.bought(volume, funds)
    else:
        ledger.sold_from_locked(volume, funds - fee)
        order.locked = order.remaining_volume
    if order.remaining_volume == 0:
        _finish(order, PaperOrder.State.DONE, ledger, now)


def _finish(order: PaperOrder, state: str, ledger: _Ledger, now: datetime) -> None:
    """End an order and hand back whatever it still holds. `locked` then shows what was released,
    like Upbit's finished market buy (`locked` = dust + unused fee)."""
    if order.side == "buy":
        ledger.krw.locked -= order.locked
        ledger.krw.balance += order.locked
    else:
        ledger.coin.locked -= order.locked
        ledger.coin.balance += order.locked
    order.state = state
    order.finished_at = now


def _match_open_orders(
    market: str, levels: Sequence[OrderBookLevel], fee_rate: Decimal, now: datetime
) -> tuple[OrderBookLevel, ...]:
    """Fill the market's resting orders the book crosses, best price first then oldest first. Returns
    the book with the liquidity they took removed."""
    remaining_book = tuple(levels)
    with transaction.atomic():
        open_orders = list(
            PaperOrder.objects.select_for_update()
            .filter(market=market, state=PaperOrder.State.WAIT, ord_type="limit")
            .order_by("created_at", "id")
        )
        if not open_orders:
            return remaining_book
        ledger = _Ledger(market)
        buys = sorted((o for o in open_orders if o.side == "buy"), key=lambda o: -(o.price or ZERO))
        sells = sorted((o for o in open_orders if o.side == "sell"), key=lambda o: o.price or ZERO)
        for order in [*buys, *sells]:
            side = "buy" if order.side == "buy" else "sell"
            fill = limit_fill(
                side,
                order.price or ZERO,
                order.remaining_volume or ZERO,
                remaining_book,
                fee_rate,
                resting=True,
                executed_funds=order.executed_funds,
            )
            if not fill.fills:
                continue
            _apply_limit_fills(order, fill.fills, ledger, now)
            order.save()
            remaining_book = consume_levels(remaining_book, side, fill.fills)
        ledger.save()
    return remaining_book


# --- Placing ----------------------------------------------------------------------------------------


def _new_order(request: OrderRequest, now: datetime) -> PaperOrder:
    return PaperOrder(
        uuid=_new_uuid(),
        identifier=request.identifier or None,
        market=request.market,
        side=request.side,
        ord_type=request.ord_type,
        time_in_force=request.time_in_force or "",
        price=request.price,
        volume=request.volume,
        created_at=now,
    )


def _place_market_buy(
    request: OrderRequest, levels: Sequence[OrderBookLevel], ledger: _Ledger, fee_rate: Decimal, now: datetime
) -> PaperOrder:
    total = request.price or ZERO
    fill = market_buy_fill(levels, total, fee_rate)
    order = _new_order(request, now)
    order.volume = None
    order.executed_volume = fill.executed_volume
    order.executed_funds = fill.executed_funds
    order.reserved_fee = fill.reserved_fee
    order.paid_fee = fill.paid_fee
    order.remaining_fee = fill.remaining_fee
    order.locked = fill.returned
    order.state = fill.state
    order.finished_at = now
    order.save()
    _record_trades(order, fill.fills, now)
    ledger.krw.balance -= fill.krw_spent
    ledger.bought(fill.executed_volume, fill.executed_funds)
    return order


def _place_market_sell(
    request: OrderRequest, levels: Sequence[OrderBookLevel], ledger: _Ledger, fee_rate: Decimal, now: datetime
) -> PaperOrder:
    volume = request.volume or ZERO
    fill = market_sell_fill(levels, volume, fee_rate)
    order = _new_order(request, now)
    order.price = None
    order.remaining_volume = fill.remaining_volume
    order.executed_volume = fill.executed_volume
    order.executed_funds = fill.executed_funds
    order.paid_fee = fill.paid_fee
    # A sell larger than the book (validation refuses that) would keep its unsold part.
    order.locked = fill.remaining_volume
    order.state = fill.state
    order.finished_at = now
    order.save()
    _record_trades(order, fill.fills, now)
    ledger.coin.balance -= fill.executed_volume
    ledger.krw.balance += fill.proceeds
    return order


def _place_limit(
    request: OrderRequest, levels: Sequence[OrderBookLevel], ledger: _Ledger, fee_rate: Decimal, now: datetime
) -> PaperOrder:
    """A limit order (or a `best` order, which is a limit at the best opposite price with ioc/fok).

    It locks its funds, takes what the book offers at or better than its price, then rests (plain
    limit), or cancels the rest (ioc), or fills completely or not at all (fok). A post_only order
    that would take liquidity is cancelled without trading."""
    side = "buy" if request.side == "buy" else "sell"
    order = _new_order(request, now)
    best = levels[0] if levels else None
    if request.ord_type == "best":
        # Validation guaranteed the opposite side has a price.
        assert best is not None
        price = best.ask_price if side == "buy" else best.bid_price
        volume = floor_volume((request.price or ZERO) / price) if side == "buy" else request.volume or ZERO
    else:
        price = request.price or ZERO
        volume = request.volume or ZERO
    order.remaining_volume = volume
    if side == "buy":
        # A best buy reserves its KRW total like a market buy; a limit buy reserves price × volume.
        total = (request.price or ZERO) if request.ord_type == "best" else quantize_krw(price * volume)
        order.reserved_fee = fee_for(total, fee_rate)
        order.remaining_fee = order.reserved_fee
        order.locked = total + order.reserved_fee
        ledger.krw.balance -= order.locked
        ledger.krw.locked += order.locked
    else:
        order.locked = volume
        ledger.coin.balance -= volume
        ledger.coin.locked += volume
    order.save()

    tif = request.time_in_force
    opposite = (best.ask_price if side == "buy" else best.bid_price) if best else ZERO
    if tif == "post_only" and crosses(side, price, opposite):
        _finish(order, PaperOrder.State.CANCEL, ledger, now)
        order.save()
        return order
    fill = limit_fill(side, price, volume, levels, fee_rate, resting=False) if volume > 0 else None
    fills = fill.fills if fill is not None else ()
    if tif == "fok" and (fill is None or not fill.complete):
        fills = ()
    if request.ord_type == "best":
        _apply_best_fills(order, fills, ledger, now)
    else:
        _apply_limit_fills(order, fills, ledger, now)
    if order.state == PaperOrder.State.WAIT and tif in ("ioc", "fok"):
        _finish(order, PaperOrder.State.CANCEL, ledger, now)
    order.save()
    return order


def _apply_best_fills(order: PaperOrder, fills: Sequence[LevelFill], ledger: _Ledger, now: datetime) -> None:
    """Book the fills of a `best` order. It never rests, so whatever its lock did not pay for is
    released when it ends."""
    volume = sum((fill.volume for fill in fills), ZERO)
    funds = sum((fill.funds for fill in fills), ZERO)
    fee = sum((fill.fee for fill in fills), ZERO)
    _record_trades(order, fills, now)
    order.executed_volume = volume
    order.executed_funds = funds
    order.paid_fee = fee
    if order.side == "buy":
        order.remaining_volume = None
        order.volume = None
        order.remaining_fee = order.reserved_fee - fee
        order.locked -= funds + fee
        ledger.krw.locked -= funds + fee
        ledger.bought(volume, funds)
        # Like a market buy: done only when the whole total was spent, otherwise cancel with dust back.
        complete = funds == order.price
    else:
        order.remaining_volume = (order.volume or ZERO) - volume
        order.locked = order.remaining_volume
        ledger.sold_from_locked(volume, funds - fee)
        complete = order.remaining_volume == 0
    _finish(order, PaperOrder.State.DONE if complete else PaperOrder.State.CANCEL, ledger, now)


# --- Reading ----------------------------------------------------------------------------------------


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


# --- The exchange -----------------------------------------------------------------------------------


class PaperExchange:
    """Trades on paper: the `Exchange` interface over real market data and a simulated, persisted account."""

    is_paper = True

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
        self.initial_krw = _validated_initial_krw(initial_krw)
        if not fee_rate.is_finite() or not ZERO <= fee_rate < 1:
            raise ValueError(f"fee rate must be from 0 to below 1, not {fee_rate}")
        self.fee_rate = fee_rate
        # market → {("ask" | "bid", price): volume paper orders already took at that level}
        self._taken: dict[str, dict[tuple[str, Decimal], Decimal]] = {}

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

    # --- account ------------------------------------------------------------------------------------

    def _account(self) -> PaperAccount:
        return account_ensure(initial_krw=self.initial_krw)

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
        for old, new in zip(before, after):
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
        remaining = _match_open_orders(market, levels, self.fee_rate, self.clock())
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
        return [_as_balance(row) for row in _balance_rows() if row.currency == KRW or row.balance > 0 or row.locked > 0]

    def get_order_chance(self, market: str) -> OrderChance:
        self._check_market(market, rejected=False)
        self._account()
        self._match(market)
        rows = {row.currency: row for row in _balance_rows()}
        coin = _coin_of(market)
        krw_row = rows.get(KRW)
        coin_row = rows.get(coin)
        return OrderChance(
            market=market,
            bid_fee=self.fee_rate,
            ask_fee=self.fee_rate,
            min_total=KRW_MIN_ORDER_TOTAL,
            max_total=KRW_MAX_ORDER_TOTAL,
            bid_account=_as_balance(krw_row) if krw_row else Balance(currency=KRW, balance=ZERO, locked=ZERO),
            ask_account=_as_balance(coin_row) if coin_row else Balance(currency=coin, balance=ZERO, locked=ZERO),
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
            _identifier_record(request.identifier)
            raise
        self._account()
        try:
            book = self.market_data.get_orderbook(request.market)
        except InvalidRequest as error:
            _identifier_record(request.identifier)
            raise OrderRejected(f"unknown market {request.market}: {error.message}", name="notfoundmarket", status=400) from error
        # Resting orders were on the book first: they take the liquidity before the new order does.
        fresh = self._fresh_levels(request.market, book.levels)
        levels = _match_open_orders(request.market, fresh, self.fee_rate, self.clock())
        self._remember_taken(request.market, fresh, levels)
        try:
            with transaction.atomic():
                ledger = _Ledger(request.market)
                validate_order(
                    request,
                    levels=levels,
                    krw_balance=ledger.krw.balance,
                    coin_balance=ledger.coin.balance,
                    fee_rate=self.fee_rate,
                    used_identifiers=_UsedIdentifiers(),
                )
                if request.identifier:
                    PaperIdentifier.objects.create(identifier=request.identifier)
                if request.ord_type == "price":
                    order = _place_market_buy(request, levels, ledger, self.fee_rate, self.clock())
                elif request.ord_type == "market":
                    order = _place_market_sell(request, levels, ledger, self.fee_rate, self.clock())
                else:
                    order = _place_limit(request, levels, ledger, self.fee_rate, self.clock())
                ledger.save()
        except OrderRejected:
            _identifier_record(request.identifier)
            raise
        except IntegrityError as error:
            if not (request.identifier and request.identifier in _UsedIdentifiers()):
                raise
            # Two processes sent the same identifier at once: the second loses, as on Upbit.
            raise OrderRejected(
                f"identifier {request.identifier!r} was already used", name="duplicated_identifier", status=400
            ) from error
        side = "buy" if request.side == "buy" else "sell"
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
            ledger = _Ledger(order.market)
            _finish(order, PaperOrder.State.CANCEL, ledger, self.clock())
            order.save()
            ledger.save()
        return snapshot

    def get_open_orders(self, market: str) -> list[OrderInfo]:
        self._match(market)
        orders = PaperOrder.objects.filter(market=market, state=PaperOrder.State.WAIT).order_by("-created_at", "-id")
        return [_order_info(order) for order in orders]
