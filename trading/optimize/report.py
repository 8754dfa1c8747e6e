"""What `optimize` prints: the progress line while it runs, then the best trials with train and test side by side."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from trading.models import OptimizationStudy, OptimizationTrial
from trading.optimize.objective import COLLAPSE_RATIO, collapsed

TOP = 5
BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


class ProgressLine:
    """One stderr line rewritten in place: trials done, the best so far and the time left at the current pace."""

    def __init__(
        self, stream: TextIO, *, total: int, objective: str, done_at_start: int, clock: Callable[[], float] = time.monotonic
    ):
        self.stream = stream
        self.total = total
        self.objective = objective
        self.done_at_start = done_at_start
        self.clock = clock
        self.started = clock()
        self.width = 0

    def show(self, done: int, best: float | None, best_number: int | None) -> None:
        done = min(done, self.total)
        filled = round(BAR_WIDTH * done / self.total) if self.total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        elapsed = self.clock() - self.started
        made = done - self.done_at_start
        left = "?" if made <= 0 else _duration(elapsed / made * (self.total - done))
        best_text = "-" if best is None else f"{best:.4g} (#{best_number})"
        line = (
            f"[{bar}] {done}/{self.total} trials · best {self.objective} {best_text} · {_duration(elapsed)} elapsed, {left} left"
        )
        pad = max(self.width - len(line), 0)
        self.width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        if self.width:
            self.stream.write("\n")
            self.stream.flush()


def _number(value: Any, *, percent: bool = False) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value * 100:+.2f}%" if percent else f"{value:.3f}"


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in params.items())


def collapse_warning(study: OptimizationStudy, trial: OptimizationTrial) -> str | None:
    if not collapsed(trial.value, trial.test_value):
        return None
    return (
        f"warning: trial #{trial.number}'s test {study.objective} {_number(trial.test_value)} collapses against its training "
        f"{_number(trial.value)} (below {COLLAPSE_RATIO:.0%} of it, or the sign flipped): the parameters may fit the training "
        "period only"
    )


def result_lines(study: OptimizationStudy, best: list[OptimizationTrial]) -> list[str]:
    objective = study.objective
    lines = [
        f"best {len(best)} of {study.trials_done} trials by {objective} on the training period (train | test):",
        f"  {'trial':>6}  {'train ' + objective:>14}  {'test ' + objective:>14}  {'train return':>12}  "
        f"{'test return':>12}  {'trips':>9}  parameters",
    ]
    for trial in best:
        train, test = trial.train_metrics, trial.test_metrics
        trips = f"{train.get('round_trips', '-')}|{test.get('round_trips', '-')}"
        lines.append(
            f"  {'#' + str(trial.number):>6}  {_number(trial.value):>14}  {_number(trial.test_value):>14}  "
            f"{_number(train.get('return'), percent=True):>12}  {_number(test.get('return'), percent=True):>12}  "
            f"{trips:>9}  {_params_text(trial.params)}"
        )
        if trial.folds:
            per_fold = ", ".join(_number(fold.get("test", {}).get("objective")) for fold in trial.folds)
            lines.append(f"  {'':>6}  test {objective} per fold: {per_fold}")
    for trial in best:
        warning = collapse_warning(study, trial)
        if warning:
            lines.append(warning)
    if study.importance:
        ranked = sorted(study.importance.items(), key=lambda item: -item[1])
        lines.append("parameter importance: " + ", ".join(f"{name} {value:.2f}" for name, value in ranked))
    if study.best_params:
        lines.append("best parameters: " + _params_text({k: v for k, v in study.best_params.items() if v is not None}))
    return lines
