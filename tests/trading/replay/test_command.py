"""The replay command: one-line errors for bad requests, and a whole run in processes of its own."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trading.backtest.report import TRADE_COLUMNS
from trading.candle_files import candles_import

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "upbit-krw-btc-1m-excerpt.csv"
RANGE = ("--from", "2018-02-01T00:20Z", "--to", "2018-02-01T01:00Z")
ARGS = ("--unit", "1", "--strategy", "sma_cross", "--param", "fast=3", "--param", "slow=8", *RANGE, "--no-limits")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--strategy", "nope", *RANGE), "nope"),
        (("--strategy", "sma_cross", "--from", "2018-02-02", "--to", "2018-02-01"), "is not before --to"),
        (("--strategy", "sma_cross", "--param", "fast", *RANGE), "--param 'fast' is not NAME=VALUE"),
        (("--strategy", "sma_cross", "--param", "fast=30", "--param", "slow=8", *RANGE), "must be less than slow"),
        (("--strategy", "sma_cross", "--initial-krw", "lots", *RANGE), "--initial-krw 'lots' is not a number"),
        (("--strategy", "sma_cross", "--unit", "1", "--from", "2017-01-01", "--to", "2017-01-02"), "no KRW-BTC 1m candles"),
    ],
)
def test_bad_requests_end_with_one_line(args, message, tmp_path):
    candles_import(path=FIXTURE, market="KRW-BTC")
    with pytest.raises(CommandError) as caught:
        call_command("replay", *args, "--out", str(tmp_path))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def _manage(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPBIT_", "PAPER_", "TELEGRAM_", "NOTIFY_", "STRATEGY"))}
    env["DATABASE_URL"] = f"sqlite:///{db}"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_command_replays_in_a_database_of_its_own(tmp_path):
    db = tmp_path / "main.sqlite3"
    # The user's database: migrated, with the fixture's candles (one process for both).
    setup = (
        "from django.core.management import call_command; "
        f"call_command('migrate', verbosity=0); call_command('importcandles', {str(FIXTURE)!r})"
    )
    assert _manage("shell", "-c", setup, db=db).returncode == 0
    kept = tmp_path / "kept" / "replay.sqlite3"

    done = _manage("replay", *ARGS, "--out", str(tmp_path / "out"), "--compare", "--keep-db", str(kept), db=db)

    out = done.stdout
    assert "sma_cross on KRW-BTC 1m: 40 candles through the engine" in out
    assert "rules        fees on; limits off" in out
    assert "160 engine cycles" in out
    (csv_path,) = (tmp_path / "out").glob("*-replay-trades.csv")
    with csv_path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == TRADE_COLUMNS
    svg = csv_path.with_name(csv_path.name.replace("-trades.csv", "-equity.svg"))
    assert svg.read_text().startswith("<svg")
    assert f"equity SVG   {svg}" in out
    assert f"{len(rows) - 1} orders" in out
    assert len(rows) > 1
    assert [row[2] for row in rows[1:3]] == ["buy", "sell"]
    # The comparison: identical (exit 0) or each difference listed (exit 1); never an unexplained failure.
    assert "compared with the backtest" in out
    if done.returncode == 0:
        assert "identical: " in out
    else:
        assert done.returncode == 1, done.stderr
        assert "difference(s)" in out
        assert "the replay and the backtest differ" in done.stderr
    # The engine's rows went to the replay's database, none to the user's.
    with sqlite3.connect(db) as main:
        assert main.execute("select count(*) from trading_order").fetchone() == (0,)
        assert main.execute("select count(*) from trading_candle").fetchone()[0] == 301
    with sqlite3.connect(kept) as replay:
        assert replay.execute("select count(*) from trading_fill").fetchone() == (len(rows) - 1,)


def test_a_bad_request_exits_non_zero_with_one_line(tmp_path):
    # Refused while reading the options, before any database is opened.
    done = _manage("replay", "--strategy", "sma_cross", "--param", "fast", *RANGE, db=tmp_path / "none.sqlite3")
    assert done.returncode != 0
    assert done.stderr.strip() == "CommandError: --param 'fast' is not NAME=VALUE, e.g. --param fast=12"
