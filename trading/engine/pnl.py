"""Balances and profit: average-cost realized PnL from fills, mark-to-market unrealized PnL, daily rows.

Definitions (also in docs/ENGINE.md):

- Trading day: the local calendar day in settings.TIME_ZONE (00:00-24:00 KST by default), not Upbit's
  09:00 KST candle day.
- Cost basis (average cost, `trading.round_trips`, which the dashboard's round trips share): a buy adds
  its funds plus its fee to the cost and its volume to the position. A sell takes `cost × sold / held`
  out of the cost. A sell's realized PnL is its funds minus its fee minus that cost. Volume sold beyond
  what the fills account for (coins bought outside autocoin) has no known cost: that part realizes 0.
- Unrealized PnL of a day: how much the open position's mark-to-market value (at the last price, net
  of the fee a sell would pay, minus its remaining cost basis) changed since the day began. For a
  position held at local midnight the day's baseline is its value at the close of the last candle
  before midnight (`day_baseline`); for a position opened today the baseline is 0 (so it is the gain
  since entry). The engine stores that close with the day's row; while it cannot be read, the day's
  unrealized PnL is unknown (never guessed from the current price) and new entries are blocked.
- Daily PnL (for the loss limit and /metrics) = realized + unrealized of the day. Days add up: the sum
  of every day's PnL is the total PnL, and a sale today of a coin bought yesterday counts in today's
  PnL only the price move since midnight (realized at cost minus the carried-in unrealized part).
- Max drawdown: the largest fall of equity (KRW + coin × price) from the day's running peak.

`replay_fills` is the one function both the engine (incrementally) and `rebuildpnl` (from scratch)
use, so both give the same realized numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from exchange.account import mode_of
from exchange.exceptions import ExchangeError, RateLimited, StopTrading
from exchange.rules import DEFAULT_FEE_RATE
from exchange.types import Balance, SideName, side_name
from trading import events
from trading.engine.claim import Claim, ClaimLost
from trading.engine.days import trading_day
from trading.models import MONEY, BalanceSnapshot, Fill, Order, PnlDaily
from trading.round_trips import is_dust, mark_to_market, sell_from_position
from trading.strategies.market_model import CANDLE_CLOSE_MARGIN_SEC

logger = logging.getLogger("autocoin.engine.pnl")

ZERO = Decimal("0")
Q8 = Decimal("0.00000001")


def q8(value: Decimal) -> Decimal:
    return value.quantize(Q8)


def local_day(ts: datetime) -> date:
    """The trading day `ts` falls on, in settings.TIME_ZONE."""
    return trading_day(ts, settings.TIME_ZONE)


def day_start_utc(day: date) -> datetime:
    tz = ZoneInfo(settings.TIME_ZONE)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(ZoneInfo("UTC"))


@dataclass
class FillRecord:
    """The parts of a fill PnL needs (so the replay runs on plain values, fast, with no model objects)."""

    id: int
    ts: datetime
    side: SideName
    volume: Decimal
    funds: Decimal
    fee: Decimal


@dataclass
class DayTotals:
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    trades: int = 0


@dataclass
class Book:
    """The position the fills account for, with its average-cost basis (fees included)."""

    volume: Decimal = ZERO
    cost: Decimal = ZERO
    last_key: tuple[datetime, int] | None = None
    max_id: int = 0
    days: dict[date, DayTotals] = field(default_factory=dict)
    day_open: dict[date, tuple[Decimal, Decimal]] = field(default_factory=dict)
    """(volume, cost) held when each day's first fill came: the position carried into that day."""
    entry_at: datetime | None = None
    """When the position the fills account for was opened: the first buy fill after the book was last
    flat (a remainder worth less than Upbit's minimum order, at the last sell's price, counts as flat)."""

    def carried_into(self, day: date) -> tuple[Decimal, Decimal]:
        """The (volume, cost) held at the start of `day` (the current book when `day` has no fill yet)."""
        return self.day_open.get(day, (self.volume, self.cost))

    @property
    def avg_price(self) -> Decimal:
        return self.cost / self.volume if self.volume > 0 else ZERO

    def apply(self, fill: FillRecord) -> Decimal:
        """Apply one fill; returns the PnL it realized."""
        ts, fee, fill_volume = fill.ts, fill.fee, fill.volume
        fill_day = local_day(ts)
        day = self.days.get(fill_day)
        if day is None:
            day = self.days[fill_day] = DayTotals()
        if fill_day not in self.day_open:
            self.day_open[fill_day] = (self.volume, self.cost)
        day.fees += fee
        day.trades += 1
        realized = ZERO
        if fill.side == "buy":
            if self.entry_at is None:
                self.entry_at = ts
            self.volume += fill_volume
            self.cost += fill.funds + fee
        else:
            sold = sell_from_position(self.volume, self.cost, fill.volume, fill.funds, fill.fee)
            realized = sold.realized
            self.volume -= sold.covered
            self.cost -= sold.cost_out
            if self.volume <= 0:
                self.volume, self.cost = ZERO, ZERO
            price = fill.funds / fill.volume if fill.volume > 0 else ZERO
            if is_dust(self.volume, price):
                self.entry_at = None  # sold out (or down to dust): the next buy opens a new position
        day.realized += realized
        self.last_key = (ts, fill.id)
        if fill.id > self.max_id:
            self.max_id = fill.id
        return realized

    def unrealized(self, price: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> Decimal:
        return mark_to_market(self.volume, self.cost, price, fee_rate)


def day_baseline(volume: Decimal, cost: Decimal, start_price: Decimal | None, fee_rate: Decimal) -> Decimal | None:
    """The unrealized PnL carried into a day: the position held at local midnight (`volume` bought for `cost`)
    valued at `start_price`, the close of the last candle before midnight. 0 when nothing was carried; None
    when something was but that close is not known — the day's PnL is then unknown, never valued at another price.

    The engine and the backtest both value the day's start with this function (docs/DECISIONS.md)."""
    if volume <= 0:
        return ZERO
    if start_price is None or start_price <= 0:
        return None
    return mark_to_market(volume, cost, start_price, fee_rate)


_STORED_QUANTUM = Decimal(1).scaleb(-MONEY["decimal_places"])
_STORED_DIGITS = 15


def _stored_as_is(value: Decimal) -> bool:
    """The database gives `value` back unchanged: no more decimal places than the column keeps, and no more
    significant digits than SQLite's numbers hold (15). A value the database would round is read back instead,
    so the book always holds what `pnl_rebuild` reads."""
    if value != value.quantize(_STORED_QUANTUM):
        return False
    return len(value.normalize().as_tuple().digits) <= _STORED_DIGITS


def fill_records(*, market: str, account: str) -> Iterable[FillRecord]:
    """Fills of one market and account, oldest first."""
    ordered = Fill.objects.filter(order__market=market, order__account=account).order_by("ts", "id")
    for pk, ts, side, volume, funds, fee in ordered.values_list("id", "ts", "order__side", "volume", "funds", "fee").iterator(
        chunk_size=5000
    ):
        yield FillRecord(id=pk, ts=ts, side=side_name(side), volume=volume, funds=funds, fee=fee)


def fills_after(*, market: str, account: str, min_id: int) -> tuple[list[FillRecord], int]:
    """Fills of one market and account with an id above `min_id`, oldest first, and the largest id read (of any
    account): every fill up to it has been looked at.

    The read walks the primary key (new fills only) and filters market and account here: asking the database
    to join first would scan every order on a large history."""
    rows = list(
        Fill.objects.filter(id__gt=min_id)
        .order_by("id")
        .values_list("id", "ts", "order__side", "volume", "funds", "fee", "order__market", "order__account")
    )
    picked = [row[:6] for row in rows if row[6] == market and row[7] == account]
    picked.sort(key=lambda row: (row[1], row[0]))
    records = [
        FillRecord(id=pk, ts=ts, side=side_name(side), volume=volume, funds=funds, fee=fee)
        for pk, ts, side, volume, funds, fee in picked
    ]
    return records, (rows[-1][0] if rows else min_id)


def newest_fill_id() -> int:
    return Fill.objects.aggregate(newest=Max("id"))["newest"] or 0


def replay_fills(fills: Iterable[FillRecord], book: Book | None = None) -> Book:
    """Replay fills (oldest first) into a book: the single definition of realized PnL."""
    book = book or Book()
    for fill in fills:
        book.apply(fill)
    return book


# ---------------------------------------------------------------------------------------------------
# rebuildpnl
# ---------------------------------------------------------------------------------------------------
def pnl_rebuild(*, market: str | None = None, account: str | None = None) -> list[PnlDaily]:
    """Recompute realized PnL, fees and trade counts of every day from the fills, account by account.

    Unrealized PnL, equity and drawdown are observations of the market made by the engine at the time;
    they cannot be derived from fills and are left as recorded."""
    pairs = Order.objects.filter(fills__isnull=False).values_list("market", "account").distinct()
    if market:
        pairs = pairs.filter(market=market)
    if account:
        pairs = pairs.filter(account=account)
    rows: list[PnlDaily] = []
    for pair_market, pair_account in sorted(set(pairs)):
        book = replay_fills(fill_records(market=pair_market, account=pair_account))
        with transaction.atomic():
            for day, totals in sorted(book.days.items()):
                row, _ = PnlDaily.objects.get_or_create(
                    date=day, market=pair_market, account=pair_account, defaults={"mode": mode_of(pair_account)}
                )
                row.realized, row.fees, row.trades = q8(totals.realized), q8(totals.fees), totals.trades
                row.save(update_fields=["realized", "fees", "trades", "updated_at"])
                rows.append(row)
            # Days that have a row but (no longer) any fill realized nothing.
            PnlDaily.objects.filter(market=pair_market, account=pair_account).exclude(date__in=list(book.days)).update(
                realized=ZERO, fees=ZERO, trades=0
            )
    return rows


# ---------------------------------------------------------------------------------------------------
# The engine's incremental tracker
# ---------------------------------------------------------------------------------------------------
@dataclass
class Holdings:
    """KRW and the market's coin, free plus locked (`krw`, `coin`) and free to order (`*_free`)."""

    krw: Decimal
    coin: Decimal
    avg_buy_price: Decimal
    krw_free: Decimal = ZERO
    coin_free: Decimal = ZERO

    def equity(self, price: Decimal) -> Decimal:
        return self.krw + self.coin * price


def holdings_from_balances(balances: Iterable[Balance], market: str) -> Holdings:
    quote, base = market.split("-", 1)
    krw = coin = avg = krw_free = coin_free = ZERO
    for balance in balances:
        if balance.currency == quote:
            krw, krw_free = balance.total, balance.balance
        elif balance.currency == base:
            coin, avg, coin_free = balance.total, balance.avg_buy_price, balance.balance
    return Holdings(krw=krw, coin=coin, avg_buy_price=avg, krw_free=krw_free, coin_free=coin_free)


@dataclass
class PnlUpdate:
    day: date
    realized: Decimal
    unrealized: Decimal
    total: Decimal
    equity: Decimal
    max_drawdown: Decimal
    new_day: bool
    previous_day: date | None
    day_start_known: bool = True
    """False while the position carried into the day has no midnight value: `unrealized` is then the last
    figure stored (not today's) and the daily loss limit cannot be judged."""


CLOSE_MARGIN = timedelta(seconds=CANDLE_CLOSE_MARGIN_SEC)
DAY_START_BACKOFF_CAP_SEC = 60.0
"""The longest pause between two requests for the midnight price after Upbit answered 429."""


class PnlTracker:
    """Keeps the fill book in memory (replayed once at start), folds in new fills, and maintains the
    day's PnlDaily row. Its realized numbers equal `pnl_rebuild`'s because both call `Book.apply`.

    The price that values the position carried into a day is read once (`establish_day_start`, called every
    cycle until it succeeds) and stored with the day's row, so a restart reuses it without asking again."""

    def __init__(
        self,
        *,
        market: str,
        account: str,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
        price_at: Callable[[datetime], Decimal | None] | None = None,
        claim: Claim | None = None,
    ) -> None:
        self.market = market
        self.account = account
        self.claim = claim
        """With a claim, the day's row is written only while the claim holds (in the same UPDATE): a process frozen
        past its claim and woken after a takeover must not write its stale book over the new owner's figures."""
        self.fee_rate = fee_rate
        self.price_at = price_at
        """Gives the market price at a moment (the close of the candle before it), or None when there is none;
        raises the exchange's errors. Used for day baselines."""
        self.book, self._seen_id = self._book_read()
        self._row: PnlDaily | None = None
        self._day: date | None = None
        self._last_written: tuple[object, ...] | None = None
        self._start_prices: dict[date, Decimal] = {}
        self._retry_at: datetime | None = None
        self._rate_limited = 0

    # --- the day's starting value ----------------------------------------------------------------------
    def start_price(self, day: date) -> Decimal | None:
        """The stored close before local midnight that values the position carried into `day` (None: not known)."""
        price = self._start_prices.get(day)
        if price is None:
            price = (
                PnlDaily.objects.filter(date=day, market=self.market, account=self.account)
                .values_list("start_price", flat=True)
                .first()
            )
            if price is not None:
                self._start_prices[day] = price
        return price

    def carried_unrealized(self, day: date) -> Decimal | None:
        """The unrealized PnL of the position carried into `day`, valued at local midnight (None: not known yet)."""
        volume, cost = self.book.carried_into(day)
        if volume <= 0:
            return ZERO  # flat at midnight: no price needed
        return day_baseline(volume, cost, self.start_price(day), self.fee_rate)

    def establish_day_start(self, now: datetime) -> bool:
        """Make sure the day of `now` has its midnight value when a position was carried into it; True when it has.

        One request at most, and none while Upbit's 429 pause lasts (doubling up to DAY_START_BACKOFF_CAP_SEC).
        A failure, or an answer without a candle, leaves the day unknown: recorded on the day's row and in one
        event per episode (also across restarts), and asked again next cycle. A ban or refused keys propagate:
        the engine stops on them as on any call."""
        day = local_day(now)
        volume, cost = self.book.carried_into(day)
        if volume <= 0 or self.start_price(day) is not None:
            return True
        midnight = day_start_utc(day)
        if now < midnight + CLOSE_MARGIN:
            return False  # the candle before midnight may still take its last trades
        if self.price_at is None or (self._retry_at is not None and now < self._retry_at):
            return False
        try:
            price = self.price_at(midnight)
        except StopTrading:
            raise
        except ExchangeError as error:
            if isinstance(error, RateLimited):
                self._rate_limited += 1
                pause = min(DAY_START_BACKOFF_CAP_SEC, float(settings.LOOP_INTERVAL_SEC) * 2 ** (self._rate_limited - 1))
                self._retry_at = now + timedelta(seconds=pause)
            logger.warning("price at the start of %s unavailable (%s): new entries are blocked", day, error)
            self._start_unknown(day, midnight, now, f"{type(error).__name__}: {error}")
            return False
        self._rate_limited, self._retry_at = 0, None
        if price is None or price <= 0:
            self._start_unknown(day, midnight, now, "the exchange returned no candle before midnight")
            return False
        self._start_known(day, price, mark_to_market(volume, cost, price, self.fee_rate))
        return True

    def _start_unknown(self, day: date, midnight: datetime, now: datetime, error: str) -> None:
        row, _ = PnlDaily.objects.get_or_create(
            date=day, market=self.market, account=self.account, defaults={"mode": mode_of(self.account)}
        )
        if row.start_unknown_since is None:
            # Once per episode: a restarted process finds the mark and stays quiet.
            PnlDaily.objects.filter(pk=row.pk).update(start_unknown_since=now)
            events.day_start_unknown(day=day, midnight=midnight, error=error)

    def _start_known(self, day: date, price: Decimal, carried: Decimal) -> None:
        row, _ = PnlDaily.objects.get_or_create(
            date=day, market=self.market, account=self.account, defaults={"mode": mode_of(self.account)}
        )
        PnlDaily.objects.filter(pk=row.pk).update(start_price=q8(price), start_unknown_since=None)
        self._start_prices[day] = q8(price)
        if row.start_unknown_since is not None:
            events.day_start_established(day=day, price=q8(price), carried=q8(carried))

    # --- the day's figures -----------------------------------------------------------------------------
    def _unrealized(self, day: date, price: Decimal) -> Decimal | None:
        carried = self.carried_unrealized(day)
        return None if carried is None else self.book.unrealized(price, self.fee_rate) - carried

    def today(self, price: Decimal, now: datetime | None = None) -> tuple[Decimal, Decimal | None]:
        """(realized, unrealized) of the current trading day; unrealized is None while the day's start is unknown."""
        day = local_day(now or timezone.now())
        totals = self.book.days.get(day, DayTotals())
        return totals.realized, self._unrealized(day, price)

    def _book_read(self) -> tuple[Book, int]:
        """The book from every fill of the market and account, and the id up to which every fill was looked at
        (taken first: only this process records fills, so none below it can appear later)."""
        seen = newest_fill_id()
        book = replay_fills(fill_records(market=self.market, account=self.account))
        return book, max(seen, book.max_id)

    def absorb_new_fills(self) -> int:
        """Fold fills recorded since the last call into the book (fills are found by id, which only grows).

        A new fill dated before the newest one already applied (an adopted order's late report) forces a
        full replay, so fills are always applied in time order, exactly as `pnl_rebuild` does."""
        new, seen = fills_after(market=self.market, account=self.account, min_id=self._seen_id)
        if not new:
            self._seen_id = seen
            return 0
        if self.book.last_key is not None and (new[0].ts, new[0].id) < self.book.last_key:
            logger.info("a fill dated before the last applied one arrived: replaying the %s %s book", self.market, self.account)
            self.book, self._seen_id = self._book_read()
        else:
            self.book = replay_fills(new, self.book)
            self._seen_id = seen
        return len(new)

    def absorb_fills(self, fills: list[Fill]) -> int:
        """Fold fills this process just recorded into the book without reading them back, when nothing can be
        missing: their ids follow the last one looked at without a gap (ids only grow, so no fill recorded by anyone
        else lies in between) and they come after the last applied fill in time. Otherwise, and for fills of
        another market or account, the table is read as `absorb_new_fills` does."""
        ordered = sorted(fills, key=lambda fill: fill.pk)
        consecutive = all(fill.pk == self._seen_id + offset for offset, fill in enumerate(ordered, start=1))
        records = [
            FillRecord(
                id=fill.pk, ts=fill.ts, side=side_name(fill.order.side), volume=fill.volume, funds=fill.funds, fee=fill.fee
            )
            for fill in ordered
            if fill.order.market == self.market and fill.order.account == self.account
        ]
        exact = all(_stored_as_is(value) for record in records for value in (record.volume, record.funds, record.fee))
        if not consecutive or not exact or len(records) != len(ordered):
            return self.absorb_new_fills()
        records.sort(key=lambda record: (record.ts, record.id))
        if records and self.book.last_key is not None and (records[0].ts, records[0].id) < self.book.last_key:
            return self.absorb_new_fills()
        self.book = replay_fills(records, self.book)
        self._seen_id = ordered[-1].pk if ordered else self._seen_id
        return len(records)

    def _load_row(self, day: date) -> PnlDaily:
        if self._row is None or self._day != day:
            self._row, _ = PnlDaily.objects.get_or_create(
                date=day, market=self.market, account=self.account, defaults={"mode": mode_of(self.account)}
            )
            self._day = day
            self._last_written = None
        return self._row

    def forget_written(self) -> None:
        """The day's row as last written was rolled back: the next `update` writes it again, changed or not."""
        self._last_written = None

    def today_total(self, price: Decimal, now: datetime | None = None) -> Decimal | None:
        realized, unrealized = self.today(price, now)
        return None if unrealized is None else realized + unrealized

    def update(self, *, price: Decimal, equity: Decimal | None, now: datetime | None = None) -> PnlUpdate:
        now = now or timezone.now()
        day = local_day(now)
        previous = self._day
        new_day = previous is not None and previous != day
        row = self._load_row(day)
        totals = self.book.days.get(day, DayTotals())
        unrealized = self._unrealized(day, price)
        row.realized, row.fees, row.trades = q8(totals.realized), q8(totals.fees), totals.trades
        if unrealized is not None:
            row.unrealized = q8(unrealized)
        if equity is not None:
            equity = q8(equity)
            if row.equity_start is None:
                row.equity_start = equity
            row.equity_peak = max(row.equity_peak or equity, equity)
            row.equity_last = equity
            row.max_drawdown = max(row.max_drawdown or ZERO, row.equity_peak - equity)
        key = (row.realized, row.fees, row.trades, row.unrealized, row.equity_start, row.equity_peak, row.equity_last)
        if key != self._last_written:
            # The day's start fields are written by establish_day_start alone.
            if self.claim is None:
                row.save(update_fields=[*_PNL_FIGURES, "updated_at"])
            else:
                figures = {name: getattr(row, name) for name in _PNL_FIGURES}
                held = PnlDaily.objects.filter(pk=row.pk).filter(self.claim.held())
                if not held.update(**figures, updated_at=timezone.now()):
                    raise self.claim.lost_to() or ClaimLost(self.claim, "", -1)
            self._last_written = key
        return PnlUpdate(
            day=day,
            realized=row.realized,
            unrealized=row.unrealized,
            total=row.realized + row.unrealized,
            equity=equity if equity is not None else ZERO,
            max_drawdown=row.max_drawdown,
            new_day=new_day,
            previous_day=previous if new_day else None,
            day_start_known=unrealized is not None,
        )


_PNL_FIGURES = ("realized", "fees", "trades", "unrealized", "equity_start", "equity_peak", "equity_last", "max_drawdown")


class SnapshotKeeper:
    """Stores a BalanceSnapshot when holdings change and at least every BALANCE_SNAPSHOT_INTERVAL_SEC."""

    def __init__(self, *, account: str, market: str) -> None:
        self.account = account
        self.symbol = market.split("-", 1)[1]
        last = BalanceSnapshot.objects.filter(account=account).order_by("-ts", "-id").first()
        self._last_key = (last.krw, last.coin_volume) if last else None
        self._last_at = last.ts if last else None

    def due(self, holdings: Holdings, now: datetime) -> bool:
        """Whether a snapshot is due at `now`: the holdings changed, or the interval has passed."""
        key = (q8(holdings.krw), q8(holdings.coin))
        interval = timedelta(seconds=settings.BALANCE_SNAPSHOT_INTERVAL_SEC)
        return key != self._last_key or self._last_at is None or now - self._last_at >= interval

    def maybe_store(self, holdings: Holdings, price: Decimal, now: datetime | None = None) -> BalanceSnapshot | None:
        now = now or timezone.now()
        return self.store(holdings, price, now) if self.due(holdings, now) else None

    def store(self, holdings: Holdings, price: Decimal, now: datetime) -> BalanceSnapshot:
        """Write the snapshot (the caller has found it `due`)."""
        key = (q8(holdings.krw), q8(holdings.coin))
        snapshot = BalanceSnapshot.objects.create(
            ts=now,
            mode=mode_of(self.account),
            account=self.account,
            krw=key[0],
            coin_symbol=self.symbol,
            coin_volume=key[1],
            avg_buy_price=q8(holdings.avg_buy_price),
            price=q8(price),
            total_krw=q8(holdings.equity(price)),
        )
        self._last_key, self._last_at = key, now
        return snapshot
