"""Shared by the optimize tests: four months of real hourly KRW-BTC candles, a study journal per test, and the command."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trading.candle_files import candles_import
from trading.optimize import storage

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upbit-krw-btc-60m-excerpt.csv"
# Train on December and January, test on February and March (Asia/Seoul days).
SPLIT = ["--unit", "60", "--train", "2024-12-01..2025-01-31", "--test", "2025-02-01..2025-03-31"]
MACD = ["--strategy", "macd", "--space", "fast=3:20", "--space", "slow=10:60", "--space", "signal=3:15"]


@pytest.fixture
def hourly() -> None:
    candles_import(path=FIXTURE, market="KRW-BTC")


@pytest.fixture(autouse=True)
def study_journal(tmp_path, monkeypatch) -> Path:
    """On SQLite each test gets its own Optuna journal, so a study of an earlier test run is never joined."""
    path = tmp_path / "studies.optuna-journal"
    monkeypatch.setattr(storage, "journal_path", lambda: path)
    return path


@dataclass
class Run:
    code: int
    out: str
    err: str


def optimize(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("optimize", *args, stdout=out, stderr=err)
    except CommandError as error:
        return Run(error.returncode, out.getvalue(), str(error))
    return Run(0, out.getvalue(), err.getvalue())
