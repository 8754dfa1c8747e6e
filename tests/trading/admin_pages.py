"""Helpers the admin tests share: an engine process that looks alive, admin URLs, the messages shown."""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from trading.models import EngineState


def engine_process_alive() -> None:
    """What a running `runengine` writes: its claim and a fresh heartbeat (Start needs one)."""
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(owner="testhost:4242", heartbeat_at=timezone.now())


def admin_url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:trading_{model._meta.model_name}_{view}", args=args)


def messages_shown(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]
