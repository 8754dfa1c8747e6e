"""The paper ledger in the admin, read-only: it changes only through the paper exchange (and its reset)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from exchange.models import PaperAccount, PaperBalance, PaperIdentifier, PaperOrder, PaperTrade

# ModelAdmin is generic only in django-stubs; at run time it cannot be subscripted.
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class ReadOnlyAdmin(_ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PaperAccount)
class PaperAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "initial_krw", "created_at", "reset_at", "reset_count")


@admin.register(PaperBalance)
class PaperBalanceAdmin(ReadOnlyAdmin):
    list_display = ("currency", "balance", "locked", "avg_buy_price", "updated_at")


@admin.register(PaperOrder)
class PaperOrderAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "market", "side", "ord_type", "price", "volume", "state", "executed_volume", "paid_fee", "uuid")
    list_filter = ("state", "side", "ord_type", "market")
    search_fields = ("uuid", "identifier")
    date_hierarchy = "created_at"


@admin.register(PaperTrade)
class PaperTradeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "market", "side", "price", "volume", "funds", "fee", "uuid")
    list_filter = ("side", "market")
    search_fields = ("uuid", "order__uuid")
    list_select_related = ("order",)
    date_hierarchy = "created_at"


@admin.register(PaperIdentifier)
class PaperIdentifierAdmin(ReadOnlyAdmin):
    list_display = ("identifier", "created_at")
    search_fields = ("identifier",)
