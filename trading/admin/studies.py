"""Parameter searches (`manage.py optimize`): read-only, exported like every table, linked to the console's study page."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from trading import exports
from trading.admin.console import AuditAdmin, local_time, pretty_json, time_column
from trading.admin_filters import BacktestStrategyFilter, MarketFilter
from trading.models import OptimizationStudy, OptimizationTrial


@admin.register(OptimizationStudy)
class OptimizationStudyAdmin(AuditAdmin):
    list_display = ("name", "strategy", "market", "unit", "objective", "state", "progress", "best_value", "created")
    list_filter = ("state", "objective", BacktestStrategyFilter, MarketFilter)
    search_fields = ("name",)
    ordering = ("-created_at", "-id")
    sortable_by = ("created",)
    exclude = ("chart_svg", "space", "fixed_params", "best_params", "importance", "options")
    readonly_fields = (
        "page_link",
        "periods",
        "chart",
        "space_pretty",
        "best_params_pretty",
        "importance_pretty",
        "options_pretty",
    )

    created = time_column("created_at", _("created"), ordering="created_at")

    def export_columns(self) -> list[exports.Column]:
        # The chart is a picture of the trials (exported from the trials table), not data.
        return [column for column in super().export_columns() if column.path != "chart_svg"]

    @admin.display(description=_("trials"))
    def progress(self, obj: OptimizationStudy) -> str:
        return f"{obj.trials_done}/{obj.n_trials}"

    @admin.display(description=_("console page"))
    def page_link(self, obj: OptimizationStudy) -> str:
        url = reverse("study_detail", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("best parameters, train vs test, apply"))

    @admin.display(description=_("periods"))
    def periods(self, obj: OptimizationStudy) -> str:
        text = gettext("train %(train_from)s → %(train_to)s; test %(test_from)s → %(test_to)s") % {
            "train_from": local_time(obj.train_from),
            "train_to": local_time(obj.train_to),
            "test_from": local_time(obj.test_from),
            "test_to": local_time(obj.test_to),
        }
        return text + ("; " + gettext("%(n)s folds") % {"n": obj.folds} if obj.folds > 1 else "")

    @admin.display(description=_("objective by trial"))
    def chart(self, obj: OptimizationStudy) -> str:
        """Shown as an image from its own same-origin address: an SVG inside <img> never runs scripts or loads
        anything, and the page's CSP allows neither data: images nor inline styles."""
        if not obj.chart_svg:
            return "-"
        return format_html(
            '<img class="admin-chart" src="{}" alt="{}">', reverse("study_chart", args=[obj.pk]), gettext("objective by trial")
        )

    @admin.display(description=_("search space"))
    def space_pretty(self, obj: OptimizationStudy) -> str:
        return pretty_json({"searched": obj.space, "fixed": obj.fixed_params})

    @admin.display(description=_("best parameters"))
    def best_params_pretty(self, obj: OptimizationStudy) -> str:
        return pretty_json(obj.best_params)

    @admin.display(description=_("parameter importance"))
    def importance_pretty(self, obj: OptimizationStudy) -> str:
        return pretty_json(obj.importance)

    @admin.display(description=_("options"))
    def options_pretty(self, obj: OptimizationStudy) -> str:
        return pretty_json(obj.options)


@admin.register(OptimizationTrial)
class OptimizationTrialAdmin(AuditAdmin):
    list_display = ("study", "number", "state", "value", "test_value", "collapsed", "params_text")
    list_filter = ("state", "collapsed")
    list_select_related = ("study",)
    search_fields = ("study__name",)
    search_help_text = _("A study name (or part of it).")
    ordering = ("-study_id", "number")
    sortable_by = ("number", "value", "test_value")
    export_extra = ("study__name", "study__objective")
    exclude = ("params", "train_metrics", "test_metrics", "folds")
    readonly_fields = ("params_pretty", "train_pretty", "test_pretty", "folds_pretty")

    @admin.display(description=_("parameters"))
    def params_text(self, obj: OptimizationTrial) -> str:
        return " ".join(f"{key}={value}" for key, value in obj.params.items())

    @admin.display(description=_("parameters"))
    def params_pretty(self, obj: OptimizationTrial) -> str:
        return pretty_json(obj.params)

    @admin.display(description=_("training figures"))
    def train_pretty(self, obj: OptimizationTrial) -> str:
        return pretty_json(obj.train_metrics)

    @admin.display(description=_("test figures"))
    def test_pretty(self, obj: OptimizationTrial) -> str:
        return pretty_json(obj.test_metrics)

    @admin.display(description=_("folds"))
    def folds_pretty(self, obj: OptimizationTrial) -> str:
        return pretty_json(obj.folds)
