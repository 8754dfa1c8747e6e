"""Control the engine from a terminal: the same services the dashboard's buttons call."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading import control, manual_requests, pause_services, selectors, services
from trading.errors import ManualOrderRefused, ManualRequestNotCancellable
from trading.pause_selectors import entries_pause_status


class Command(BaseCommand):
    help = (
        "Start, stop or reset the engine, pause or resume new entries, queue or cancel a manual order, "
        "or show the engine's status."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            choices=["status", "start", "stop", "reset", "pause", "resume", "buy", "sell", "sell-all", "close", "cancel-manual"],
        )
        parser.add_argument("request_id", nargs="?", type=int, help="cancel-manual: the manual request's number")
        parser.add_argument("--krw", help="buy: the KRW amount to spend")
        parser.add_argument("--volume", help="sell: the volume to sell")
        parser.add_argument("--reason", default="", help="why (recorded with the event)")

    def handle(self, *args: object, **options: object) -> None:
        actor = f"cli:{getpass.getuser()}"
        action = str(options["action"])
        reason = str(options["reason"] or "")
        try:
            if action == "start":
                services.engine_start(actor=actor, reason=reason)
            elif action == "stop":
                # With no engine process alive the stop completes at once, as on the dashboard.
                done = control.engine_command(action="stop", actor=actor, reason=reason)
                if done.note:
                    self.stdout.write(done.note)
            elif action == "reset":
                services.engine_reset(actor=actor, reason=reason)
            elif action == "pause":
                change = pause_services.entries_pause(actor=actor, reason=reason)
                self.stdout.write("new entries paused" if change.changed else "new entries were already paused")
            elif action == "resume":
                change = pause_services.entries_resume(actor=actor, reason=reason)
                self.stdout.write("new entries resumed" if change.changed else "new entries were not paused")
            elif action in ("buy", "sell", "sell-all", "close"):
                request = manual_requests.manual_order_request_create(
                    kind=action.replace("-", "_"), krw=options["krw"], volume=options["volume"], actor=actor
                )
                self.stdout.write(f"queued manual order #{request.pk}; the engine carries it out in its next cycle")
            elif action == "cancel-manual":
                if options["request_id"] is None:
                    raise CommandError("cancel-manual needs the request's number, e.g. enginectl cancel-manual 12")
                manual_requests.manual_order_request_cancel(request_id=int(str(options["request_id"])), actor=actor)
                self.stdout.write(f"cancelled manual order #{options['request_id']}")
        except (services.TransitionNotAllowed, ManualOrderRefused, ManualRequestNotCancellable) as refusal:
            raise CommandError(refusal.message) from None
        except services.InvalidInput as error:
            raise CommandError(f"--{error.field}: {error.message}") from None
        state = selectors.engine_state_get()
        online = selectors.engine_online(state)
        age = selectors.heartbeat_age_sec(state)
        self.stdout.write(
            f"engine {state.state}; process {'online' if online else 'offline'}"
            + (f" (heartbeat {age:.1f} s ago)" if age is not None else "")
            + (f"; kill-switch tripped: {state.kill_switch_reason}" if state.kill_switch else "")
            + _entries_text(entries_pause_status(state))
        )


def _entries_text(status: dict[str, Any]) -> str:
    """ "; entries paused (…)" when new entries are refused, naming why; "" otherwise."""
    if not status["entries_paused"]:
        return ""
    params = status["entries_paused_params"]
    why = {
        "manual": f"by {params.get('actor')}: {params.get('reason')}",
        "schedule": f"schedule window {params.get('label')!r} until {params.get('ends')} Seoul time",
        "market_offline": f"market offline (Upbit maintenance) until {params.get('until')} Seoul time",
    }[str(status["entries_paused_cause"])]
    return f"; entries paused ({why})"
