"""The paper ledger, read-only: it changes only through the paper exchange (and its reset).

Registered by the console (not by `exchange/`) so it shows money, volumes and times like every other table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from exchange.models import PaperAccount, PaperBalance, PaperIdentifier, PaperOrder, PaperTrade
from trading.admin.console import AuditAdmin, money_column, time_column
from trading.formatting import number_text


@admin.register(PaperAccount)
class PaperAccountAdmin(AuditAdmin):
    list_display = ("id", "initial_fmt", "created", "reset", "reset_count")

    initial_fmt = money_column("initial_krw", _("initial KRW"))
    created = time_column("created_at", _("created at"))
    reset = time_column("reset_at", _("reset at"))


@admin.register(PaperBalance)
class PaperBalanceAdmin(AuditAdmin):
    list_display = ("currency", "balance_fmt", "locked_fmt", "avg_buy_price_fmt", "updated")

    @admin.display(description=_("balance"))
    def balance_fmt(self, obj: PaperBalance) -> str:
        return self._amount(obj, obj.balance)

    @admin.display(description=_("locked"))
    def locked_fmt(self, obj: PaperBalance) -> str:
        return self._amount(obj, obj.locked)

    @staticmethod
    def _amount(obj: PaperBalance, value: Any) -> str:
        # KRW is money; every other currency is a coin volume.
        return number_text("krw" if obj.currency == "KRW" else "volume", value, empty="-")

    avg_buy_price_fmt = money_column("avg_buy_price", _("average buy price"))
    updated = time_column("updated_at", _("updated at"))


@admin.register(PaperOrder)
class PaperOrderAdmin(AuditAdmin):
    list_display = (
        "created",
        "market",
        "side",
        "ord_type",
        "price_fmt",
        "volume_fmt",
        "state",
        "executed_volume_fmt",
        "paid_fee_fmt",
        "uuid",
    )
    list_filter = ("state", "side", "ord_type", "market")
    search_fields = ("uuid", "identifier")
    date_hierarchy = "created_at"

    created = time_column("created_at", _("created at"), ordering="created_at")
    price_fmt = money_column("price", _("price"))
    volume_fmt = money_column("volume", _("volume"))
    executed_volume_fmt = money_column("executed_volume", _("executed volume"))
    paid_fee_fmt = money_column("paid_fee", _("paid fee"))


@admin.register(PaperTrade)
class PaperTradeAdmin(AuditAdmin):
    list_display = ("created", "market", "side", "price_fmt", "volume_fmt", "funds_fmt", "fee_fmt", "uuid")
    list_filter = ("side", "market")
    search_fields = ("uuid", "order__uuid")
    list_select_related = ("order",)
    date_hierarchy = "created_at"

    created = time_column("created_at", _("created at"), ordering="created_at")
    price_fmt = money_column("price", _("price"))
    volume_fmt = money_column("volume", _("volume"))
    funds_fmt = money_column("funds", _("funds (KRW)"))
    fee_fmt = money_column("fee", _("fee (KRW)"))


@admin.register(PaperIdentifier)
class PaperIdentifierAdmin(AuditAdmin):
    list_display = ("identifier", "created")
    search_fields = ("identifier",)

    created = time_column("created_at", _("created at"))
