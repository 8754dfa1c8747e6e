"""A backtest asked for from the console: what was asked, how far its worker process has come, and the result.

The row is written by the web (queued), then by the worker process `manage.py runbacktest --job N`
(running, its progress and heartbeat, then done with the chart data and a link to the BacktestRun it
made, or failed with the reason). A worker that dies is found out by the web from its pid and heartbeat
and the job is marked failed (trading/backtest_jobs.py)."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BacktestJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    requested_by = models.CharField(max_length=150, blank=True, default="")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent done, 0..100")
    error = models.TextField(blank=True, default="")
    request = models.JSONField(
        default=dict, encoder=DjangoJSONEncoder, help_text="what was asked: market, strategy, params, period, limits, fees"
    )
    worker = models.CharField(max_length=200, blank=True, default="", help_text="host:pid of the worker process")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey("trading.BacktestRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    chart = models.JSONField(
        default=dict, encoder=DjangoJSONEncoder, blank=True, help_text="the result's chart series and trades, for the console"
    )

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = _("console backtest")
        verbose_name_plural = _("console backtests")

    def __str__(self) -> str:
        return f"backtest #{self.pk} {self.request.get('strategy', '')} {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
