"""The schedule of pause windows (Upbit maintenance, FOMC, ...), entered and shown in Seoul time.

Every page of this admin runs in Asia/Seoul whatever TIME_ZONE says, so what a person types is Seoul time and
what they read is Seoul time; the database stores UTC. Editing needs Django's own pause window permissions:
the Operators group (who may also pause entries by hand) has them all, the Viewers group may look.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trading import pause_services
from trading.admin.console import ConsoleAdmin, admin_actor, time_column
from trading.schedule_models import PauseWindow

if TYPE_CHECKING:
    PauseWindowFormBase = forms.ModelForm[PauseWindow]  # generic in django-stubs only
else:
    PauseWindowFormBase = forms.ModelForm

SEOUL = ZoneInfo("Asia/Seoul")
SEOUL_HELP = _("Seoul time (Asia/Seoul, UTC+9), 24-hour: YYYY-MM-DD HH:MM:SS.")


class PauseWindowForm(PauseWindowFormBase):
    class Meta:
        model = PauseWindow
        fields = ("label", "starts_at", "ends_at", "repeats_weekly", "enabled", "note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("starts_at", "ends_at"):
            if name in self.fields:  # absent on a view-only page
                self.fields[name].help_text = SEOUL_HELP


@admin.register(PauseWindow)
class PauseWindowAdmin(ConsoleAdmin):
    form = PauseWindowForm
    list_display = ("label", "starts", "ends", "repeats_weekly", "enabled", "updated_by")
    list_filter = ("enabled", "repeats_weekly")
    search_fields = ("label",)
    ordering = ("starts_at",)
    readonly_fields = ("updated_at", "updated_by")

    starts = time_column("starts_at", _("starts (Seoul time)"), ordering="starts_at")
    ends = time_column("ends_at", _("ends (Seoul time)"), ordering="ends_at")

    # --- Seoul time on every page ------------------------------------------------------------------
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        with timezone.override(SEOUL):
            response = super().changelist_view(request, extra_context)
            return _rendered(response)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        with timezone.override(SEOUL):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            return _rendered(response)

    # --- writes through the services ---------------------------------------------------------------
    def save_model(self, request: HttpRequest, obj: PauseWindow, form: Any, change: bool) -> None:
        pause_services.pause_window_save(window=obj, actor=admin_actor(request))

    def delete_model(self, request: HttpRequest, obj: PauseWindow) -> None:
        pause_services.pause_window_delete(window=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for window in queryset:
            pause_services.pause_window_delete(window=window, actor=admin_actor(request))


def _rendered(response: HttpResponse) -> HttpResponse:
    """Render a template response now, while Seoul time is in force (it would render after the override ends)."""
    render = getattr(response, "render", None)
    if callable(render) and not getattr(response, "is_rendered", True):
        render()
    return response
