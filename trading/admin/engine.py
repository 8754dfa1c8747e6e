"""The engine's page (one row, opened directly, with Start / Stop / Reset / Reset paper account buttons)
and the strategy parameters (a field per parameter, stored through the service)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from trading import control, housekeeping, pause_services, selectors, services
from trading.admin.console import ConsoleAdmin, admin_actor, money, pretty_json, shorten, time_column
from trading.auth import CONTROL_ENGINE, user_can
from trading.forms import StrategyConfigForm, strategy_config_form
from trading.labels import code_label
from trading.models import EngineState, StrategyConfig
from trading.param_fields import param_rows
from trading.pause_selectors import entries_pause_status
from trading.sentences import shown_sentence
from trading.strategies.registry import STRATEGIES as STRATEGY_NAMES


# ---------------------------------------------------------------------------------------------------
# Engine state: one row, opened directly, with Start / Stop / Reset / Reset paper account buttons.
# ---------------------------------------------------------------------------------------------------
@admin.register(EngineState)
class EngineStateAdmin(ConsoleAdmin):
    change_form_template = "admin/trading/enginestate/change_form.html"
    actions = ()
    # The stored reasons are English sentences: each is shown in the reader's language, as on the dashboard.
    fields = (
        "state",
        "state_since",
        "state_reason_shown",
        "state_changed_by",
        "last_error_shown",
        "consecutive_failures",
        "consecutive_order_failures",
        "iteration",
        "owner",
        "heartbeat_at",
        "claim_generation",
        "last_cycle_at",
        "last_price",
        "kill_switch",
        "kill_switch_reason_shown",
        "kill_switch_at",
        "entries_paused",
        "entries_paused_reason_shown",
        "entries_paused_by",
        "entries_paused_at",
        "market_offline_at",
        "metrics_pretty",
    )
    readonly_fields = (
        "state_reason_shown",
        "last_error_shown",
        "kill_switch_reason_shown",
        "entries_paused_reason_shown",
        "metrics_pretty",
    )

    CONTROLS = ("start", "stop", "reset", "paper_reset", "pause_entries", "resume_entries")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Every field is the engine's to write; people act through the buttons.
        return False

    def may_control(self, request: HttpRequest) -> bool:
        return user_can(request.user, CONTROL_ENGINE)

    @admin.display(description=_("metrics"))
    def metrics_pretty(self, obj: EngineState) -> str:
        return pretty_json(obj.metrics or {})

    @admin.display(description=_("state reason"))
    def state_reason_shown(self, obj: EngineState) -> str:
        return shown_sentence(obj.state_reason)

    @admin.display(description=_("last error"))
    def last_error_shown(self, obj: EngineState) -> str:
        return shown_sentence(obj.last_error)

    @admin.display(description=_("kill-switch reason"))
    def kill_switch_reason_shown(self, obj: EngineState) -> str:
        return shown_sentence(obj.kill_switch_reason)

    @admin.display(description=_("pause reason"))
    def entries_paused_reason_shown(self, obj: EngineState) -> str:
        return shown_sentence(obj.entries_paused_reason)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        state = EngineState.load()
        return redirect(reverse("admin:trading_enginestate_change", args=[state.pk]))

    def get_urls(self) -> list[Any]:
        urls = [
            path(
                f"control/{name}/",
                self.admin_site.admin_view(require_POST(self._control_view(name))),
                name=f"trading_enginestate_{name}",
            )
            for name in self.CONTROLS
        ]
        return urls + super().get_urls()

    def _control_view(self, name: str) -> Any:
        def view(request: HttpRequest) -> HttpResponse:
            return self.control(request, name)

        return view

    def control(self, request: HttpRequest, name: str) -> HttpResponse:
        if not self.may_control(request):
            raise PermissionDenied
        actor = admin_actor(request)
        try:
            if name in ("pause_entries", "resume_entries"):
                self.message_user(request, self._entries(name, actor))
            elif name == "paper_reset":
                reset = housekeeping.paper_account_reset(actor=actor)
                self.message_user(
                    request,
                    gettext("Paper account reset to %(krw)s KRW; %(count)s open paper order(s) cancelled.")
                    % {"krw": money(reset.initial_krw), "count": reset.cancelled_orders},
                )
            else:
                # The same rules as the dashboard and the API: Start needs a live engine process, and a Stop
                # while it is offline completes at once.
                result = control.engine_command(action=name, actor=actor, reason=f"{name.capitalize()} pressed in the admin")
                done = {
                    "start": gettext("Engine started: RUNNING. The engine process trades from its next cycle."),
                    "stop": gettext("Stop requested: STOPPING until the engine finishes its current cycle."),
                    "reset": gettext("Engine reset: IDLE, kill-switch re-armed."),
                }[name]
                if result.note:
                    stopped = code_label(result.transition.new, "state")
                    done = gettext("Engine stopped: %(state)s.") % {"state": stopped} + " " + gettext(result.note)
                self.message_user(request, done)
        except services.TransitionNotAllowed as refusal:
            self.message_user(request, refusal.text(), level=messages.ERROR)
        except services.InvalidInput as error:
            self.message_user(request, f"{error.field}: {error.text()}", level=messages.ERROR)
        return redirect(reverse("admin:trading_enginestate_change", args=[EngineState.SINGLETON_PK]))

    def _entries(self, name: str, actor: str) -> str:
        if name == "pause_entries":
            change = pause_services.entries_pause(actor=actor, reason="paused in the admin")
            return (
                gettext("New entries paused: exits, protective stops and manual orders still run.")
                if change.changed
                else (gettext("New entries were already paused."))
            )
        change = pause_services.entries_resume(actor=actor)
        return gettext("New entries resumed.") if change.changed else gettext("New entries were not paused.")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        state = control.engine_stopping_settle(actor=control.LOOKED_AT_BY_WEB, state=EngineState.load())
        online = selectors.engine_online(state)
        allowed = selectors.allowed_actions(state.state, engine_online=online)
        extra = {
            "engine": state,
            "engine_online": online,
            "heartbeat_age": selectors.heartbeat_age_sec(state),
            "allowed": allowed,
            "may_control": self.may_control(request),
            "may_export": self.has_export_permission(request),
            "paper_reset_allowed": state.state not in (EngineState.State.RUNNING, EngineState.State.STOPPING),
            "paper_mode": settings.PAPER_MODE,
            "account_label": selectors.account_current_label(),
            "live_problem": services.live_mode_problem(),
            "entries": entries_pause_status(state),
            "title": gettext("Engine: %(state)s") % {"state": code_label(state.state, "state")},
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


# ---------------------------------------------------------------------------------------------------
# Strategy parameters: one field per parameter with its help, default and range, validated like the engine
# validates them, stored through the service. Every registered strategy is listed: a strategy with no row yet
# (running on its defaults) is named above the table with a link to set its parameters; saving creates the row.
# ---------------------------------------------------------------------------------------------------
@admin.register(StrategyConfig)
class StrategyConfigAdmin(ConsoleAdmin):
    form = StrategyConfigForm
    change_list_template = "admin/trading/strategyconfig/change_list.html"
    list_display = ("strategy", "engine_marker", "params_short", "updated", "updated_by")
    search_fields = ("strategy",)
    ordering = ("strategy",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("strategy", "updated_at", "updated_by") if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _new_strategy(self, request: HttpRequest) -> str:
        """The strategy an add page is for (`?strategy=`), else the first registered one without a row."""
        asked = request.POST.get("strategy") or request.GET.get("strategy") or ""
        if asked in STRATEGY_NAMES:
            return asked
        stored = set(StrategyConfig.objects.values_list("strategy", flat=True))
        return next((name for name in STRATEGY_NAMES if name not in stored), settings.STRATEGY)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = strategy_config_form(obj if obj is not None else StrategyConfig(strategy=self._new_strategy(request)))
        return super().get_form(request, obj, change, **kwargs)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        stored = set(StrategyConfig.objects.values_list("strategy", flat=True))
        unconfigured = [
            {"name": name, "title": gettext(strategy.title), "marker": self._marker(name)}
            for name, strategy in STRATEGY_NAMES.items()
            if name not in stored
        ]
        return super().changelist_view(request, {"unconfigured": unconfigured, **(extra_context or {})})

    def _marker(self, strategy: str) -> str:
        if strategy != settings.STRATEGY:
            return ""
        if EngineState.objects.filter(state=EngineState.State.RUNNING).exists():
            return gettext("▶ running")
        return gettext("selected (engine not running)")

    @admin.display(description=_("engine"))
    def engine_marker(self, obj: StrategyConfig) -> str:
        return self._marker(obj.strategy)

    @admin.display(description=_("parameters"))
    def params_short(self, obj: StrategyConfig) -> str:
        rows = param_rows(obj.strategy, obj.params) if obj.strategy in STRATEGY_NAMES else []
        shown = ", ".join(f"{row.spec.name}={row.current}" for row in rows if row.current)
        return shorten(shown or json.dumps(obj.params, default=str), 160)

    updated = time_column("updated_at", _("updated"), ordering="updated_at")

    def save_model(self, request: HttpRequest, obj: StrategyConfig, form: Any, change: bool) -> None:
        """Stored through `services.strategy_config_update`, which validates again and records the change."""
        try:
            stored = services.strategy_config_update(
                strategy=obj.strategy, params=form.cleaned_data.get("params") or {}, actor=admin_actor(request)
            )
        except services.InvalidInput as error:
            # Validated in the form already; only a change of the rules between the two could land here.
            raise PermissionDenied(f"{error.field}: {error.message}") from None
        obj.pk = stored.pk
        obj.params = stored.params
        obj.updated_at = stored.updated_at
        obj.updated_by = stored.updated_by
