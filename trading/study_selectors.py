"""Reads of the parameter searches (`manage.py optimize`) for the console and the command."""

from __future__ import annotations

from django.db.models import F

from trading.models import OptimizationStudy, OptimizationTrial

BEST_TRIALS = 5


def studies_recent(*, limit: int = 50) -> list[OptimizationStudy]:
    return list(OptimizationStudy.objects.defer("chart_svg").order_by("-created_at", "-id")[:limit])


def study_get(*, pk: int) -> OptimizationStudy | None:
    return OptimizationStudy.objects.filter(pk=pk).first()


def study_best_trials(*, study: OptimizationStudy, limit: int = BEST_TRIALS) -> list[OptimizationTrial]:
    """The finished trials with the highest training objective (the earliest first among equals)."""
    return list(
        study.trials.filter(state=OptimizationTrial.State.COMPLETE, value__isnull=False).order_by(F("value").desc(), "number")[
            :limit
        ]
    )


def study_trial(*, study: OptimizationStudy, number: int | None) -> OptimizationTrial | None:
    if number is None:
        return None
    return study.trials.filter(number=number).first()
