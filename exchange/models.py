"""The paper exchange's own ledger: one simulated account, its balances, orders and trades.

It lives in the `exchange` app (not `trading`) so the exchange layer stays self-contained. The rows
are written only by `exchange.paper`; everything else reads them through the `Exchange` interface.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, overload

from django.db import models
from django.db.models import Q
from django.db.models.expressions import Combinable
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

ZERO = Decimal("0")

_MoneyIn = str | float | Decimal | Combinable


@overload
def money_field(*, null: Literal[False] = False, **kwargs: Any) -> models.DecimalField[_MoneyIn, Decimal]: ...


@overload
def money_field(*, null: Literal[True], **kwargs: Any) -> models.DecimalField[_MoneyIn | None, Decimal | None]: ...


def money_field(*, null: bool = False, **kwargs: Any) -> models.DecimalField[Any, Any]:
    """Money and volumes: 24 digits, 8 of them decimals (Upbit's precision)."""
    return models.DecimalField(max_digits=24, decimal_places=8, null=null, **kwargs)


class PaperAccount(models.Model):
    """The one simulated account (pk 1), created with `PAPER_INITIAL_KRW` the first time it is used."""

    SINGLETON_PK = 1

    id = models.PositiveSmallIntegerField(_("ID"), primary_key=True, default=SINGLETON_PK, editable=False)
    initial_krw = money_field(verbose_name=_("initial KRW"), help_text=_("KRW the account started with (or was last reset to)"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    reset_at = models.DateTimeField(_("reset at"), null=True, blank=True)
    reset_count = models.PositiveIntegerField(_("reset count"), default=0)

    class Meta:
        verbose_name = _("paper account")
        verbose_name_plural = _("paper account")
        constraints = (
            models.CheckConstraint(condition=Q(id=1), name="paper_account_singleton"),
            models.CheckConstraint(condition=Q(initial_krw__gt=0), name="paper_account_positive_initial_krw"),
        )

    def __str__(self) -> str:
        return str(_("Paper account (started with %(krw)s KRW)") % {"krw": f"{self.initial_krw.normalize():,f}"})


class PaperBalance(models.Model):
    """One currency of the paper account. `balance` is free to order, `locked` is held by open orders."""

    currency = models.CharField(_("currency"), max_length=16, unique=True)
    balance = money_field(verbose_name=_("balance"), default=ZERO)
    locked = money_field(verbose_name=_("locked"), default=ZERO)
    avg_buy_price = money_field(verbose_name=_("average buy price"), default=ZERO)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("paper balance")
        verbose_name_plural = _("paper balances")
        ordering = ("currency",)
        constraints = (
            models.CheckConstraint(condition=Q(balance__gte=0), name="paper_balance_not_negative"),
            models.CheckConstraint(condition=Q(locked__gte=0), name="paper_locked_not_negative"),
            models.CheckConstraint(condition=Q(avg_buy_price__gte=0), name="paper_avg_buy_price_not_negative"),
        )

    def __str__(self) -> str:
        return f"{self.currency} {self.balance} (+{self.locked} locked)"


class PaperIdentifier(models.Model):
    """Every client identifier ever sent, accepted or not: like Upbit, an identifier is single-use
    even when its order was rejected, and a reset does not make it usable again."""

    identifier = models.CharField(_("identifier"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("paper order identifier")
        verbose_name_plural = _("paper order identifiers")

    def __str__(self) -> str:
        return self.identifier


class PaperOrder(models.Model):
    class State(models.TextChoices):
        WAIT = "wait", _("Open")
        DONE = "done", _("Filled")
        CANCEL = "cancel", _("Cancelled")

    uuid = models.CharField(_("UUID"), max_length=36, unique=True)
    identifier = models.CharField(_("identifier"), max_length=64, unique=True, null=True, blank=True)
    market = models.CharField(_("market"), max_length=32)
    side = models.CharField(_("side"), max_length=4)
    ord_type = models.CharField(_("order type"), max_length=8)
    time_in_force = models.CharField(_("time in force"), max_length=16, blank=True, default="")
    price = money_field(
        verbose_name=_("price"), null=True, blank=True, help_text=_("unit price (limit) or KRW total (market and best buy)")
    )
    volume = money_field(verbose_name=_("volume"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.WAIT)
    remaining_volume = money_field(verbose_name=_("remaining volume"), null=True, blank=True)
    executed_volume = money_field(verbose_name=_("executed volume"), default=ZERO)
    executed_funds = money_field(verbose_name=_("executed funds"), default=ZERO)
    reserved_fee = money_field(verbose_name=_("reserved fee"), default=ZERO)
    remaining_fee = money_field(verbose_name=_("remaining fee"), default=ZERO)
    paid_fee = money_field(verbose_name=_("paid fee"), default=ZERO)
    locked = money_field(
        verbose_name=_("locked"),
        default=ZERO,
        help_text=_("held by the order while open (KRW for a buy, coin for a sell); once final, what was released"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("paper order")
        verbose_name_plural = _("paper orders")
        ordering = ("-created_at", "-id")
        indexes = (models.Index(fields=["market", "state"], name="paper_order_market_state"),)
        constraints = (
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="paper_order_known_side"),
            models.CheckConstraint(
                condition=Q(ord_type__in=["limit", "price", "market", "best"]), name="paper_order_known_ord_type"
            ),
            models.CheckConstraint(condition=Q(state__in=["wait", "done", "cancel"]), name="paper_order_known_state"),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gt=0), name="paper_order_positive_price"),
            models.CheckConstraint(condition=Q(volume__isnull=True) | Q(volume__gt=0), name="paper_order_positive_volume"),
            models.CheckConstraint(
                condition=Q(remaining_volume__isnull=True) | Q(remaining_volume__gte=0),
                name="paper_order_remaining_not_negative",
            ),
            models.CheckConstraint(condition=Q(executed_volume__gte=0), name="paper_order_executed_not_negative"),
            models.CheckConstraint(condition=Q(paid_fee__gte=0), name="paper_order_paid_fee_not_negative"),
            models.CheckConstraint(condition=Q(remaining_fee__gte=0), name="paper_order_remaining_fee_not_negative"),
            models.CheckConstraint(condition=Q(locked__gte=0), name="paper_order_locked_not_negative"),
        )

    def __str__(self) -> str:
        return f"{self.side} {self.ord_type} {self.market} {self.uuid} ({self.state})"


class PaperTrade(models.Model):
    uuid = models.CharField(_("UUID"), max_length=36, unique=True)
    order = models.ForeignKey(PaperOrder, verbose_name=_("order"), on_delete=models.PROTECT, related_name="trades")
    market = models.CharField(_("market"), max_length=32)
    side = models.CharField(_("side"), max_length=4)
    price = money_field(verbose_name=_("price"))
    volume = money_field(verbose_name=_("volume"))
    funds = money_field(verbose_name=_("funds"))
    fee = money_field(verbose_name=_("fee"), default=ZERO)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("paper trade")
        verbose_name_plural = _("paper trades")
        ordering = ("created_at", "id")
        constraints = (
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="paper_trade_known_side"),
            models.CheckConstraint(condition=Q(price__gt=0), name="paper_trade_positive_price"),
            models.CheckConstraint(condition=Q(volume__gt=0), name="paper_trade_positive_volume"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="paper_trade_fee_not_negative"),
        )

    def __str__(self) -> str:
        return f"{self.side} {self.volume} @ {self.price} ({self.uuid})"
