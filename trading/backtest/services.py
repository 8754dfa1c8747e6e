"""Running a backtest as a person asks for it: validate, load the candles, replay, write the report, keep a row."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from exchange.rules import KRW_MIN_ORDER_TOTAL
from trading.backtest.engine import BacktestConfig, BacktestError, BacktestResult, backtest_limits, run_backtest
from trading.backtest.report import equity_svg, write_trades_csv
from trading.candles import candle_arrays, candle_coverage, unit_label
from trading.models import BacktestRun, StrategyConfig
from trading.strategies.base import InvalidParams
from trading.strategies.indicators import CandleArrays
from trading.strategies.registry import get_strategy, validate_params


def default_output_dir() -> Path:
    return Path(settings.BASE_DIR) / "var" / "backtests"


def strategy_params(strategy: str, overrides: Mapping[str, Any] | None, *, unit: int | None = None) -> dict[str, Any]:
    """The live engine's parameters for `strategy` (its StrategyConfig row, if any) with `overrides` on top, validated.

    `candle_unit` is the parameter that tells the live engine which candles to fetch; a backtest on `unit`
    candles answers "what if the engine ran with candle_unit = unit", so `unit` replaces it."""
    try:
        get_strategy(strategy)
    except InvalidParams as error:
        raise BacktestError(str(error)) from None
    stored = StrategyConfig.objects.filter(strategy=strategy).values_list("params", flat=True).first() or {}
    merged = {**(stored if isinstance(stored, dict) else {}), **dict(overrides or {})}
    if unit is not None:
        asked = (overrides or {}).get("candle_unit")
        if asked is not None and str(asked).strip() != str(unit):
            raise BacktestError(f"--param candle_unit={asked} contradicts --unit {unit_label(unit)}; give one of them")
        merged["candle_unit"] = unit
    try:
        return validate_params(strategy, merged)
    except InvalidParams as error:
        if stored and not overrides:
            raise BacktestError(f"the stored parameters of {strategy} are not valid: {error}") from None
        raise BacktestError(str(error)) from None


def run_request_check(*, start: datetime, end: datetime, initial_krw: Decimal) -> None:
    """The range and the money of a run over stored candles (backtest or replay). Raises BacktestError."""
    if start.tzinfo is None or end.tzinfo is None:
        raise BacktestError("the range needs aware datetimes")
    if start >= end:
        raise BacktestError(f"the range is empty: from {start:%Y-%m-%d %H:%M} is not before to {end:%Y-%m-%d %H:%M} (UTC)")
    if not initial_krw.is_finite() or initial_krw < KRW_MIN_ORDER_TOTAL:
        raise BacktestError(f"initial KRW {initial_krw} is too small; use at least {KRW_MIN_ORDER_TOTAL} (Upbit's minimum order)")


def run_candles(*, market: str, unit: int, start: datetime, end: datetime) -> CandleArrays:
    """The stored candles with start in [start, end); none raises BacktestError saying what is stored."""
    arrays = candle_arrays(market=market, unit=unit, start=start, end=end)
    if len(arrays) == 0:
        count, first, last = candle_coverage(market=market, unit=unit)
        stored = (
            f"{count:,} are stored, from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
            if count and first and last
            else "none are stored; load some with fetchcandles or importcandles"
        )
        raise BacktestError(
            f"no {market} {unit_label(unit)} candles between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC; {stored}"
        )
    return arrays


@dataclass
class BacktestOutcome:
    run: BacktestRun
    result: BacktestResult
    trades_csv: Path
    equity_svg_path: Path
    load_seconds: float
    total_seconds: float


def _unique_stem(directory: Path, stem: str) -> str:
    candidate, counter = stem, 1
    while (directory / f"{candidate}-trades.csv").exists() or (directory / f"{candidate}-equity.svg").exists():
        counter += 1
        candidate = f"{stem}-{counter}"
    return candidate


def backtest_run_create(
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
    out_dir: Path | None = None,
    progress: Callable[[float], None] | None = None,
) -> BacktestOutcome:
    """Replay the stored `market`/`unit` candles with start in [start, end) and keep the result.

    `unit` None means the strategy's `candle_unit` parameter (what the live engine would fetch).
    Writes `<out_dir>/<stem>-trades.csv` and `<stem>-equity.svg` and a BacktestRun row holding the
    parameters, the metrics, the SVG and the CSV path. Raises BacktestError with a one-line message for
    anything a person asked that cannot run (unknown strategy or parameter, empty range, no candles).
    `progress` is told the share done (0..1): loading the candles is the first 10%, the replay up to 90%."""
    report = progress or (lambda share: None)
    began = time.perf_counter()
    run_request_check(start=start, end=end, initial_krw=initial_krw)
    clean_params = strategy_params(strategy, params, unit=unit)
    unit = int(clean_params.get("candle_unit") or get_strategy(strategy).default_candle_unit)
    try:
        risk_limits = backtest_limits(fees=fees, limits=limits, overrides=dict(limit_overrides or {}))
    except (TypeError, ValueError) as error:
        raise BacktestError(f"bad limit: {error}") from None

    load_started = time.perf_counter()
    arrays = run_candles(market=market, unit=unit, start=start, end=end)
    load_seconds = time.perf_counter() - load_started
    report(0.1)

    config = BacktestConfig(
        market=market,
        unit=unit,
        strategy=strategy,
        params=clean_params,
        start=start,
        end=end,
        initial_krw=initial_krw,
        limits=risk_limits,
        fees=fees,
        max_slippage_pct=settings.MAX_SLIPPAGE_PCT or None,
    )
    result = run_backtest(config, arrays, progress=lambda share: report(0.1 + 0.8 * share))
    report(0.9)

    report_started = time.perf_counter()
    directory = Path(out_dir) if out_dir is not None else default_output_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BacktestError(f"cannot create the output folder {directory}: {error.strerror}") from None
    stem = _unique_stem(directory, f"{timezone.now():%Y%m%dT%H%M%SZ}-{market}-{unit_label(unit)}-{strategy}")
    metrics = result.metrics
    title = f"{strategy} on {market} {unit_label(unit)}"
    subtitle = (
        f"return {metrics.total_return * 100:+.2f}% · max drawdown {metrics.max_drawdown * 100:.2f}% · "
        f"{metrics.round_trips} round trips · fees {result.fees:,.0f} KRW"
        + ("" if fees else " · fees off")
        + ("" if limits else " · limits off")
    )
    initial_f = float(initial_krw)
    benchmark = initial_f * arrays.close / arrays.close[0] if arrays.close[0] > 0 else None
    svg = equity_svg(
        start=arrays.start,
        equity=result.equity,
        title=title,
        subtitle=subtitle,
        benchmark=benchmark,
        trades=result.trades,
        tz=risk_limits.time_zone,
    )
    trades_path = directory / f"{stem}-trades.csv"
    svg_path = directory / f"{stem}-equity.svg"
    try:
        write_trades_csv(trades_path, result.trades, tz=risk_limits.time_zone)
        svg_path.write_text(svg, encoding="utf-8")
    except OSError as error:
        raise BacktestError(f"cannot write the report to {directory}: {error.strerror}") from None

    report_seconds = time.perf_counter() - report_started
    total_seconds = time.perf_counter() - began
    stored_metrics = {
        **metrics.as_dict(),
        "blocked": result.blocked_by_rule,
        "fees_on": fees,
        "limits_on": limits,
        "limits": {
            "max_order_krw": str(risk_limits.max_order_krw),
            "max_daily_loss_krw": str(risk_limits.max_daily_loss_krw),
            "max_position_ratio": str(risk_limits.max_position_ratio),
            "cooldown_sec": risk_limits.cooldown_sec,
            "fee_rate": str(config.fee_rate),
            "time_zone": risk_limits.time_zone,
        },
        "final_krw": str(result.final_krw),
        "final_coin": str(result.final_coin),
        "seconds": {
            "load": round(load_seconds, 3),
            **{k: round(v, 3) for k, v in result.seconds.items()},
            "report": round(report_seconds, 3),
        },
        "equity_svg_path": str(svg_path),
    }
    run = BacktestRun.objects.create(
        market=market,
        unit=unit,
        strategy=strategy,
        params=clean_params,
        date_from=start,
        date_to=end,
        initial_krw=initial_krw,
        final_equity=result.final_equity.quantize(Decimal("0.00000001")),
        metrics=stored_metrics,
        equity_svg=svg,
        trades_csv_path=str(trades_path),
        duration_sec=Decimal(f"{total_seconds:.3f}"),
    )
    return BacktestOutcome(
        run=run,
        result=result,
        trades_csv=trades_path,
        equity_svg_path=svg_path,
        load_seconds=load_seconds,
        total_seconds=total_seconds,
    )
