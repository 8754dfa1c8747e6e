from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = _("Trading")

    def ready(self) -> None:
        # `runserver` listens with a backlog of 10: a burst of requests from scripts or several tabs would
        # see connection resets before Django ever saw them. A deeper queue lets them wait their turn.
        from django.core.servers.basehttp import WSGIServer

        WSGIServer.request_queue_size = 256

        from django.db.backends.signals import connection_created

        from trading.files import private_files_on_connection

        # The database's first connection is when its files exist and this process may read them.
        connection_created.connect(private_files_on_connection, dispatch_uid="trading.private_files")
