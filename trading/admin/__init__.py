"""The operations console: every table, read-only audit trails, engine controls and streamed exports.

Each module registers its own admins; importing them here is what puts them on the site.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from trading.admin import audit, engine, orders, paper, schedule, studies

admin.site.site_header = _("autocoin operations console")
admin.site.site_title = "autocoin"
admin.site.index_title = _("Operations")

__all__ = ["audit", "engine", "orders", "paper", "schedule", "studies"]
