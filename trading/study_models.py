"""Parameter searches (`manage.py optimize`): the study and each of its trials, mirrored from Optuna's storage.

Registered with Django through the import at the bottom of trading/models.py (which re-exports both), so
`from trading.models import OptimizationStudy` keeps working; this module imports nothing of trading/."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OptimizationStudy(models.Model):
    class State(models.TextChoices):
        RUNNING = "RUNNING", _("running")
        INTERRUPTED = "INTERRUPTED", _("interrupted")
        FINISHED = "FINISHED", _("finished")

    name = models.CharField(_("name"), max_length=200, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    strategy = models.CharField(_("strategy"), max_length=64)
    market = models.CharField(_("market"), max_length=32)
    unit = models.PositiveIntegerField(_("candle unit (minutes)"))
    objective = models.CharField(_("objective"), max_length=32)
    space = models.JSONField(_("space"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    fixed_params = models.JSONField(_("fixed parameters"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    train_from = models.DateTimeField(_("train from"))
    train_to = models.DateTimeField(_("train to"))
    test_from = models.DateTimeField(_("test from"))
    test_to = models.DateTimeField(_("test to"))
    folds = models.PositiveSmallIntegerField(
        _("folds"), default=0, help_text=_("0: one train/test split; K: rolling walk-forward")
    )
    options = models.JSONField(
        _("options"), default=dict, encoder=DjangoJSONEncoder, blank=True, help_text=_("money, fees, limits, seed")
    )
    n_trials = models.PositiveIntegerField(_("number of trials"))
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.RUNNING)
    storage = models.CharField(_("storage"), max_length=300, blank=True, default="", help_text=_("where Optuna keeps the study"))
    trials_done = models.PositiveIntegerField(_("trials done"), default=0)
    best_trial_number = models.IntegerField(_("best trial number"), null=True, blank=True)
    best_value = models.FloatField(_("best value"), null=True, blank=True)
    best_params = models.JSONField(_("best parameters"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    importance = models.JSONField(_("importance"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    chart_svg = models.TextField(_("chart (SVG)"), blank=True, default="")

    class Meta:
        verbose_name = _("optimization study")
        verbose_name_plural = _("optimization studies")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.name


class OptimizationTrial(models.Model):
    class State(models.TextChoices):
        COMPLETE = "COMPLETE", _("complete")
        PRUNED = "PRUNED", _("invalid parameters")
        FAIL = "FAIL", _("failed")
        RUNNING = "RUNNING", _("running")
        WAITING = "WAITING", _("waiting")

    study = models.ForeignKey(OptimizationStudy, verbose_name=_("study"), on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField(_("number"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    params = models.JSONField(_("parameters"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    value = models.FloatField(_("objective value"), null=True, blank=True, help_text=_("the objective on the training period"))
    test_value = models.FloatField(_("test value"), null=True, blank=True, help_text=_("the objective on the test period"))
    train_metrics = models.JSONField(_("train metrics"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    test_metrics = models.JSONField(_("test metrics"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    folds = models.JSONField(_("folds"), default=list, encoder=DjangoJSONEncoder, blank=True)
    collapsed = models.BooleanField(
        _("collapsed"), default=False, help_text=_("the test result collapses against the training result")
    )
    note = models.CharField(_("note"), max_length=300, blank=True, default="")
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("optimization trial")
        verbose_name_plural = _("optimization trials")
        ordering = ("study", "number")
        constraints = (models.UniqueConstraint(fields=["study", "number"], name="optimization_trial_unique_number"),)

    def __str__(self) -> str:
        return f"{self.study.name} #{self.number}"
