from __future__ import annotations

from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        # `runserver` listens with a backlog of 10: a burst of requests from scripts or several tabs would
        # see connection resets before Django ever saw them. A deeper queue lets them wait their turn.
        from django.core.servers.basehttp import WSGIServer

        WSGIServer.request_queue_size = 256
