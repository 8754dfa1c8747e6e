"""The paper account in the database: its balances, the identifiers used so far, creating and
resetting it, and the balances one order transaction locks and saves together."""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from exchange.models import PaperAccount, PaperBalance, PaperIdentifier, PaperOrder
from exchange.rules import KRW_MIN_ORDER_TOTAL, average_buy_price, quantize_krw
from exchange.types import ZERO, Balance

KRW = "KRW"
MAX_INITIAL_KRW = Decimal("100000000000")


@dataclass(frozen=True, slots=True)
class ResetResult:
    initial_krw: Decimal
    cancelled_orders: int
    previous_balances: tuple[Balance, ...]
    """What the account held just before the reset, for the record of who reset what."""


def validated_initial_krw(initial_krw: Decimal) -> Decimal:
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
    validated_initial_krw(initial_krw)
    try:
        with transaction.atomic():
            account = PaperAccount.objects.create(pk=PaperAccount.SINGLETON_PK, initial_krw=initial_krw)
            PaperBalance.objects.create(currency=KRW, balance=initial_krw)
            return account
    except IntegrityError:
        # Another process created it first: use theirs.
        return PaperAccount.objects.get(pk=PaperAccount.SINGLETON_PK)


def balance_rows() -> list[PaperBalance]:
    return list(PaperBalance.objects.order_by("currency"))


def as_balance(row: PaperBalance) -> Balance:
    return Balance(currency=row.currency, balance=row.balance, locked=row.locked, avg_buy_price=row.avg_buy_price)


def reset_account(initial_krw: Decimal) -> ResetResult:
    """Start the paper account over: every open paper order is cancelled, every coin balance is
    removed and KRW is set to `initial_krw` (nothing locked). Order and trade history is kept, and
    used identifiers stay used, as on Upbit. Raises ValueError for an unusable amount."""
    validated_initial_krw(initial_krw)
    now = timezone.now()
    with transaction.atomic():
        account = PaperAccount.objects.select_for_update().filter(pk=PaperAccount.SINGLETON_PK).first()
        # Orders before balances: the same lock order as matching and cancelling, so they cannot deadlock.
        list(PaperOrder.objects.select_for_update().filter(state=PaperOrder.State.WAIT).values_list("pk", flat=True))
        previous = tuple(as_balance(row) for row in PaperBalance.objects.select_for_update().order_by("currency"))
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


class UsedIdentifiers:
    """`identifier in used` answered by the ledger, for `validate_order`."""

    def __contains__(self, identifier: object) -> bool:
        return isinstance(identifier, str) and PaperIdentifier.objects.filter(identifier=identifier).exists()


def identifier_record(identifier: str) -> None:
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


def coin_of(market: str) -> str:
    return market.split("-", 1)[1]


def new_uuid() -> str:
    return str(uuid_module.uuid4())


class Ledger:
    """The balances one transaction touches (KRW and one coin), saved together at the end."""

    def __init__(self, market: str) -> None:
        self.krw = _locked_balance(KRW)
        self.coin = _locked_balance(coin_of(market))

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
