"""The schedule of pause windows: times when the engine opens no new position (Upbit maintenance, FOMC, ...).

Stored in UTC like every timestamp; the admin enters and shows them in Asia/Seoul (TIME_ZONE). A window runs
from `starts_at` (included) to `ends_at` (excluded); with `repeats_weekly` it comes back every 7 days at the
same Seoul wall time (Seoul keeps no daylight saving time, so 7 days in UTC are 7 days on the Seoul clock).
Which window applies at a moment is worked out in `trading.pause_selectors`.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

WEEK = timedelta(days=7)


class PauseWindow(models.Model):
    label = models.CharField(_("label"), max_length=100, help_text=_("shown on the dashboard, e.g. Upbit maintenance"))
    note = models.TextField(_("note"), blank=True, default="")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    repeats_weekly = models.BooleanField(
        _("repeats weekly"), default=False, help_text=_("comes back every week on the same weekday and time")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.CharField(_("updated by"), max_length=150, blank=True, default="")

    class Meta:
        ordering = ("starts_at", "id")
        verbose_name = _("pause window")
        verbose_name_plural = _("pause windows")
        constraints = (models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="pause_window_ends_after_start"),)

    def __str__(self) -> str:
        start = timezone.localtime(self.starts_at)
        return f"{self.label} ({start:%Y-%m-%d %H:%M:%S})"

    def clean(self) -> None:
        if self.starts_at is None or self.ends_at is None:
            return
        if self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": gettext("The end must be after the start.")})
        if self.repeats_weekly and self.ends_at - self.starts_at >= WEEK:
            raise ValidationError({"ends_at": gettext("A weekly window must be shorter than a week.")})
