"""Writes a person makes from a parameter search's page: applying its best parameters to the live strategy."""

from __future__ import annotations

from django.db import transaction

from trading import events, services
from trading.errors import InvalidInput
from trading.models import OptimizationStudy, StrategyConfig


def study_best_params_apply(*, study: OptimizationStudy, actor: str) -> StrategyConfig:
    """Write the study's best parameters to its strategy through the strategy-parameter service (which validates
    them and records the change), and record which study and trial they came from. The engine uses them from
    its next cycle."""
    if not study.best_params or study.best_trial_number is None:
        raise InvalidInput("params", "invalid_params", problem=f"study {study.name} has no finished trial to apply")
    with transaction.atomic():
        config = services.strategy_config_update(strategy=study.strategy, params=dict(study.best_params), actor=actor)
        events.study_params_applied(
            actor=actor, study=study.name, trial=study.best_trial_number, strategy=study.strategy, params=dict(config.params)
        )
    return config
