"""Running a replay as a person asks for it: validate and load in the user's database, replay in one of its own.

`replay_config_build` checks the request and loads the candles from the current database (the user's),
with the backtest's own rules and messages. `replay_in_own_database` then hands the candles to a child
process whose `default` database is a fresh SQLite file (migrated there and deleted afterwards, unless
kept): the engine writes orders, fills, signals and events as it always does, and none of it reaches
the user's database, whether that is SQLite or PostgreSQL. `replay_execute` is what runs in that child:
the replay, the trades CSV, and with `compare` the backtest on the same candles, trade by trade.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from trading.backtest.engine import BacktestConfig, BacktestError, backtest_limits, run_backtest
from trading.backtest.options import metrics_lines, rules_line
from trading.backtest.report import equity_svg, write_trades_csv
from trading.backtest.services import run_candles, run_request_check, strategy_params
from trading.candles import unit_label
from trading.replay.compare import compare_trades, difference_lines
from trading.replay.runner import ReplayConfig, ReplayError, ReplayResult, replay_run
from trading.strategies.indicators import CandleArrays
from trading.strategies.registry import get_strategy

ERROR_EXIT = 2
"""The child's exit status for a replay that could not run (its message is in the report)."""
DIFFERENCE_EXIT = 1
"""The child's exit status when --compare found a difference."""
_LIMIT_DECIMALS = ("max_order_krw", "max_daily_loss_krw", "max_position_ratio")


def default_output_dir() -> Path:
    return Path(settings.BASE_DIR) / "var" / "replays"


def replay_config_build(
    *,
    market: str,
    unit: int | None,
    strategy: str,
    params: Mapping[str, Any] | None,
    start: datetime,
    end: datetime,
    initial_krw: Decimal,
    fees: bool = True,
    limits: bool = True,
    limit_overrides: Mapping[str, Any] | None = None,
) -> ReplayConfig:
    """The replay asked for, with its candles loaded. Raises ReplayError with the backtest's one-line messages."""
    try:
        run_request_check(start=start, end=end, initial_krw=initial_krw)
        clean_params = strategy_params(strategy, params, unit=unit)
        unit = int(clean_params.get("candle_unit") or get_strategy(strategy).default_candle_unit)
        try:
            backtest_limits(fees=fees, limits=limits, overrides=dict(limit_overrides or {}))
        except (TypeError, ValueError) as error:
            raise BacktestError(f"bad limit: {error}") from None
        arrays = run_candles(market=market, unit=unit, start=start, end=end)
    except BacktestError as error:
        raise ReplayError(str(error)) from None
    return ReplayConfig(
        market=market,
        unit=unit,
        strategy=strategy,
        params=clean_params,
        start=start,
        end=end,
        initial_krw=initial_krw,
        fees=fees,
        limits=limits,
        limit_overrides=dict(limit_overrides or {}),
        arrays=arrays,
    )


# ---------------------------------------------------------------------------------------------------
# In the child process (the replay's own database)
# ---------------------------------------------------------------------------------------------------
@dataclass
class ReplayReport:
    """What a replay leaves for the person: the lines to print, the CSV, and whether --compare agreed."""

    lines: list[str]
    trades_csv: str
    identical: bool | None = None
    """None without --compare."""
    error: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    """candles, cycles, trades, loop_seconds, loop_cpu_seconds (for benchmarks)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "trades_csv": self.trades_csv,
            "identical": self.identical,
            "error": self.error,
            "figures": self.figures,
        }


def _unique_path(directory: Path, stem: str) -> Path:
    candidate, counter = directory / f"{stem}-trades.csv", 1
    while candidate.exists():
        counter += 1
        candidate = directory / f"{stem}-{counter}-trades.csv"
    return candidate


def summary_lines(result: ReplayResult) -> list[str]:
    config, metrics = result.config, result.metrics
    first = datetime.fromtimestamp(int(result.arrays.start[0]), tz=UTC)
    last = datetime.fromtimestamp(int(result.arrays.start[-1]), tz=UTC)
    lines = [
        f"{config.strategy} on {config.market} {unit_label(config.unit)}: {metrics.candles:,} candles through the engine",
        f"  candles      {first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC",
        f"  params       {', '.join(f'{k}={v}' for k, v in config.params.items() if v is not None)}",
        rules_line(fees=config.fees, limits=result.limits, limits_on=config.limits),
        *metrics_lines(initial_krw=config.initial_krw, final_equity=result.final_equity, metrics=metrics, fees=result.fees),
    ]
    if result.blocked:
        counts: dict[str, int] = {}
        for block in result.blocked:
            counts[block.rule] = counts.get(block.rule, 0) + 1
        lines.append(f"  blocked      {len(result.blocked)} orders: {', '.join(f'{r} {c}' for r, c in sorted(counts.items()))}")
    if result.kill_switches:
        lines.append(
            f"  kill-switch  tripped {len(result.kill_switches)} time(s), reset at once each time "
            f"(first {result.kill_switches[0].ts:%Y-%m-%d %H:%M} UTC: {result.kill_switches[0].rule or 'kill-switch'})"
        )
    loop = result.seconds.get("loop", 0.0)
    lines.append(
        f"  speed        {result.cycles:,} engine cycles in {loop:.1f} s: {result.candles_per_second:,.1f} candles/s "
        f"({result.cycles / loop if loop else 0:,.0f} cycles/s)"
    )
    return lines


def _equity_svg(result: ReplayResult) -> str:
    arrays, metrics = result.arrays, result.metrics
    config = result.config
    subtitle = (
        f"replay through the engine · return {metrics.total_return * 100:+.2f}% · max drawdown "
        f"{metrics.max_drawdown * 100:.2f}% · {metrics.round_trips} round trips · fees {result.fees:,.0f} KRW"
    )
    benchmark = float(config.initial_krw) * arrays.close / arrays.close[0] if arrays.close[0] > 0 else None
    return equity_svg(
        start=arrays.start,
        equity=result.equity,
        title=f"{config.strategy} on {config.market} {unit_label(config.unit)}",
        subtitle=subtitle,
        benchmark=benchmark,
        trades=result.trades,
        tz=result.limits.time_zone,
    )


def replay_execute(config: ReplayConfig, *, compare: bool = False, out_dir: Path | None = None) -> ReplayReport:
    """Replay in the current database, write the trades CSV and the equity SVG, and (with `compare`) compare
    with the backtest."""
    result = replay_run(config, progress=_progress)
    directory = Path(out_dir) if out_dir is not None else default_output_dir()
    stem = f"{timezone.now():%Y%m%dT%H%M%SZ}-{config.market}-{unit_label(config.unit)}-{config.strategy}-replay"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = write_trades_csv(_unique_path(directory, stem), result.trades, tz=result.limits.time_zone)
        svg_path = path.with_name(path.name.removesuffix("-trades.csv") + "-equity.svg")
        svg_path.write_text(_equity_svg(result), encoding="utf-8")
    except OSError as error:
        raise ReplayError(f"cannot write the report to {directory}: {error.strerror}") from None
    lines = summary_lines(result)
    lines.append(f"  trades CSV   {path}")
    lines.append(f"  equity SVG   {svg_path}")
    identical: bool | None = None
    if compare:
        backtest = run_backtest(
            BacktestConfig(
                market=config.market,
                unit=config.unit,
                strategy=config.strategy,
                params=config.params,
                start=config.start,
                end=config.end,
                initial_krw=config.initial_krw,
                limits=config.risk_limits(),
                fees=config.fees,
            ),
            result.arrays,
        )
        comparison = compare_trades(
            backtest.trades,
            result.trades,
            backtest_blocked=backtest.blocked,
            replay_blocked=result.blocked,
            kill_switches=result.kill_switches,
            unit_sec=result.arrays.unit_sec,
        )
        identical = comparison.identical
        lines.append(f"compared with the backtest ({len(backtest.trades)} trades) and the replay ({len(result.trades)} trades):")
        lines.extend(difference_lines(comparison))
    figures = {
        "candles": len(result.arrays),
        "cycles": result.cycles,
        "trades": len(result.trades),
        "loop_seconds": result.seconds.get("loop", 0.0),
        "loop_cpu_seconds": result.seconds.get("loop_cpu", 0.0),
    }
    return ReplayReport(lines=lines, trades_csv=str(path), identical=identical, figures=figures)


def _progress(done: int, total: int) -> None:
    if done % 2000 == 0:
        print(f"replayed {done:,} of {total:,} candles", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# Handing a replay to a child process with a database of its own
# ---------------------------------------------------------------------------------------------------
def config_write(config: ReplayConfig, directory: Path) -> Path:
    """The config as a JSON spec beside the candles (an .npz file of the columns); returns the spec's path."""
    arrays = config.arrays
    if arrays is None:
        raise ReplayError("the replay's candles are not loaded")
    np.savez(
        directory / "candles.npz",
        start=arrays.start,
        open=arrays.open,
        high=arrays.high,
        low=arrays.low,
        close=arrays.close,
        volume=arrays.volume,
        unit_sec=np.asarray([arrays.unit_sec]),
    )
    spec = {
        "market": config.market,
        "unit": config.unit,
        "strategy": config.strategy,
        "params": config.params,
        "start": config.start.isoformat(),
        "end": config.end.isoformat(),
        "initial_krw": str(config.initial_krw),
        "fees": config.fees,
        "limits": config.limits,
        "limit_overrides": dict(config.limit_overrides),
        "candles": "candles.npz",
    }
    path = directory / "spec.json"
    path.write_text(json.dumps(spec, cls=DjangoJSONEncoder), encoding="utf-8")
    return path


def config_read(path: Path) -> ReplayConfig:
    from trading.strategies.registry import validate_params

    spec = json.loads(path.read_text(encoding="utf-8"))
    with np.load(path.parent / spec["candles"]) as columns:
        arrays = CandleArrays.from_columns(
            open=columns["open"],
            high=columns["high"],
            low=columns["low"],
            close=columns["close"],
            volume=columns["volume"],
            start=columns["start"],
            unit_sec=int(columns["unit_sec"][0]),
        )
    overrides = dict(spec["limit_overrides"])
    for name in _LIMIT_DECIMALS:
        if name in overrides:
            overrides[name] = Decimal(str(overrides[name]))
    if "cooldown_sec" in overrides:
        overrides["cooldown_sec"] = int(overrides["cooldown_sec"])
    return ReplayConfig(
        market=spec["market"],
        unit=int(spec["unit"]),
        strategy=spec["strategy"],
        params=validate_params(spec["strategy"], spec["params"]),
        start=datetime.fromisoformat(spec["start"]),
        end=datetime.fromisoformat(spec["end"]),
        initial_krw=Decimal(spec["initial_krw"]),
        fees=bool(spec["fees"]),
        limits=bool(spec["limits"]),
        limit_overrides=overrides,
        arrays=arrays,
    )


@dataclass
class OwnDatabaseOutcome:
    report: ReplayReport
    exit_status: int
    database: Path | None
    """The replay's database when it was kept."""


def _database_folder() -> Path:
    # A memory-backed folder when the machine has one: the replay's database is thrown away anyway.
    shm = Path("/dev/shm")  # noqa: S108 - a private folder is made inside it with mkdtemp
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="autocoin-replay-", dir=base))


def replay_in_own_database(
    config: ReplayConfig, *, compare: bool = False, out_dir: Path | None = None, keep_db: Path | None = None
) -> OwnDatabaseOutcome:
    """Run `replay_execute` in a child process whose database is a fresh SQLite file (see the module docstring)."""
    folder = _database_folder()
    try:
        spec = config_write(config, folder)
        database = folder / "replay.sqlite3"
        report_path = folder / "report.json"
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DJANGO_SETTINGS_MODULE": "autocoin.settings"}
        command = [sys.executable, "-m", "trading.replay.worker", str(spec), str(report_path)]
        if out_dir is not None:
            command += ["--out", str(Path(out_dir).resolve())]
        if compare:
            command.append("--compare")
        completed = subprocess.run(command, env=env, cwd=settings.BASE_DIR, check=False)  # noqa: S603 - our own module
        if not report_path.exists():
            raise ReplayError(f"the replay process ended with status {completed.returncode} without a report")
        data = json.loads(report_path.read_text(encoding="utf-8"))
        report = ReplayReport(
            lines=list(data["lines"]),
            trades_csv=data["trades_csv"],
            identical=data["identical"],
            error=data["error"],
            figures=dict(data.get("figures") or {}),
        )
        kept: Path | None = None
        if keep_db is not None and database.exists():
            kept = Path(keep_db)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(database, kept)
        return OwnDatabaseOutcome(report=report, exit_status=completed.returncode, database=kept)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
