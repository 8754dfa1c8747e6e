"""Notifications: a webhook (`{"text": ...}`) and/or Telegram, sent from a background thread.

Trading never waits for a notifier: messages go into a bounded queue (a full queue drops the message
with a log line), each POST has a short timeout, and a failure becomes a WARNING event whose text
never contains the bot token or the webhook URL's secret path. Every configured secret is masked out of
the text before it is queued: a notification often quotes an exchange's or an exception's message.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import requests
from django.conf import settings
from django.db import close_old_connections, connection

from exchange.redact import mask_configured_secrets, mask_text, url_secrets
from trading import events

logger = logging.getLogger("autocoin.engine.notify")

QUEUE_SIZE = 100
TIMEOUT_SEC = (2.0, 3.0)


@dataclass(frozen=True)
class Channel:
    name: str
    url: str
    payload_key: str
    extra: tuple[tuple[str, str], ...] = ()


def configured_channels() -> list[Channel]:
    channels: list[Channel] = []
    if settings.NOTIFY_WEBHOOK_URL:
        channels.append(Channel(name="webhook", url=settings.NOTIFY_WEBHOOK_URL, payload_key="text"))
    if settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_CHAT_ID:
        url = f"{settings.TELEGRAM_API_BASE}/bot{settings.TELEGRAM_BOT_TOKEN}/sendMessage"
        channels.append(Channel(name="telegram", url=url, payload_key="text", extra=(("chat_id", settings.TELEGRAM_CHAT_ID),)))
    return channels


class Notifier:
    """Fire-and-forget sender. `send()` never blocks and never raises."""

    def __init__(self, channels: list[Channel] | None = None, *, record_failures: bool = True) -> None:
        self.channels = configured_channels() if channels is None else channels
        self.record_failures = record_failures
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
            self._thread.start()

    def send(self, text: str) -> bool:
        if not self.enabled:
            return False
        self.start()
        try:
            self._queue.put_nowait(mask_configured_secrets(text)[:3500])
        except queue.Full:
            self.dropped += 1
            logger.warning("notification queue full: message dropped")
            return False
        return True

    def close(self, timeout: float = 5.0, *, drain: bool = True) -> None:
        """Flush what is queued (up to `timeout`; `drain=False` drops it), then stop the thread."""
        if self._thread is None:
            return
        if not drain:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        try:
            while True:
                text = self._queue.get()
                if text is None:
                    return
                for channel in self.channels:
                    self._deliver(channel, text)
        finally:
            connection.close()

    def _deliver(self, channel: Channel, text: str) -> None:
        payload = {channel.payload_key: text, **dict(channel.extra)}
        try:
            response = self._session.post(channel.url, json=payload, timeout=TIMEOUT_SEC)
        except Exception as error:  # noqa: BLE001 - a notifier must never break trading
            self._failed(channel, f"{type(error).__name__}: {error}")
            return
        if response.status_code >= 400:
            self._failed(channel, f"RuntimeError: HTTP {response.status_code}")
            return
        self.sent += 1

    def _failed(self, channel: Channel, error: str) -> None:
        self.failed += 1
        # requests puts the URL, or only its path, into its messages: the Telegram token and a webhook's
        # credential are in the path, so every credential part of the channel's URL is masked too.
        detail = mask_text(mask_configured_secrets(error), url_secrets(channel.url))
        logger.warning("notification via %s failed: %s", channel.name, detail)
        if self.record_failures:
            self._record_failure(channel.name, detail)

    def _record_failure(self, channel: str, detail: str) -> None:
        try:
            close_old_connections()
            events.notification_failed(channel=channel, error=detail)
        except Exception:
            logger.exception("could not record a notification failure")
