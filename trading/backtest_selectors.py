"""Reads for the console's backtest pages: the jobs, their metrics as a person reads them, trades for the CSV."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_lazy

from trading.backtest_job_models import BacktestJob
from trading.models import BacktestRun, StrategyConfig


def jobs_recent(limit: int = 50) -> QuerySet[BacktestJob]:
    # The chart data and the run's SVG are large and not shown in a list.
    return BacktestJob.objects.select_related("run").defer("chart", "run__equity_svg")[:limit]


def jobs_done_other_than(job: BacktestJob, limit: int = 50) -> QuerySet[BacktestJob]:
    """Finished runs to compare `job` with, newest first."""
    return BacktestJob.objects.filter(status=BacktestJob.Status.DONE).exclude(pk=job.pk).defer("chart")[:limit]


def run_equity_svg(pk: int) -> str:
    """A backtest run's stored equity chart ("" when the run is unknown or has none)."""
    return BacktestRun.objects.filter(pk=pk).values_list("equity_svg", flat=True).first() or ""


def job_get(pk: int) -> BacktestJob | None:
    return BacktestJob.objects.select_related("run").filter(pk=pk).first()


def strategy_params_stored(strategy: str) -> dict[str, Any]:
    """The stored parameters of `strategy` ({} when none are stored: every parameter at its default)."""
    stored = StrategyConfig.objects.filter(strategy=strategy).values_list("params", flat=True).first()
    return stored if isinstance(stored, dict) else {}


def _number(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def krw_text(value: Any, *, signed: bool = False) -> str:
    """Whole won with separators: 1,234,567 KRW (with a sign when `signed`)."""
    number = _number(value)
    if number is None:
        return "—"
    whole = number.quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    text = f"{abs(whole):,f}"
    sign = "-" if whole < 0 else ("+" if signed and whole > 0 else "")
    return f"{sign}{text} KRW"


def pct_text(ratio: Any, *, signed: bool = True) -> str:
    """A ratio as a percentage with two decimals: 0.01234 → +1.23%."""
    number = _number(ratio)
    if number is None:
        return "—"
    value = (number * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{'+' if signed and value > 0 else ''}{value}%"


def plain_text(value: Any, places: int = 2) -> str:
    number = _number(value)
    if number is None:
        return "—"
    return f"{number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,f}"


@dataclass(frozen=True)
class MetricRow:
    label: str
    text: str
    tone: str = ""
    """"up" / "down" for a figure whose sign matters, else empty."""


def _tone(value: Any) -> str:
    number = _number(value)
    if number is None or number == 0:
        return ""
    return "up" if number > 0 else "down"


METRIC_LABELS = {
    "final_equity": gettext_lazy("Final equity"),
    "total_return": gettext_lazy("Return"),
    "buy_and_hold_return": gettext_lazy("Buy and hold"),
    "cagr": gettext_lazy("Annualised return"),
    "max_drawdown": gettext_lazy("Max drawdown"),
    "max_drawdown_krw": gettext_lazy("Max drawdown (KRW)"),
    "sharpe": gettext_lazy("Sharpe ratio"),
    "win_rate": gettext_lazy("Win rate"),
    "round_trips": gettext_lazy("Round trips"),
    "orders": gettext_lazy("Orders"),
    "fees_krw": gettext_lazy("Fees"),
    "exposure": gettext_lazy("Time in the market"),
    "candles": gettext_lazy("Candles"),
}


def metric_rows(job: BacktestJob) -> list[MetricRow]:
    """The run's figures, formatted: KRW with separators, percentages with two decimals."""
    if job.run is None:
        return []
    metrics: dict[str, Any] = job.run.metrics or {}
    profit = (job.run.final_equity - job.run.initial_krw) if job.run.initial_krw else None
    rows = [
        MetricRow(str(METRIC_LABELS["final_equity"]), krw_text(job.run.final_equity)),
        MetricRow(gettext("Profit"), krw_text(profit, signed=True), _tone(profit)),
        MetricRow(str(METRIC_LABELS["total_return"]), pct_text(metrics.get("total_return")), _tone(metrics.get("total_return"))),
        MetricRow(str(METRIC_LABELS["buy_and_hold_return"]), pct_text(metrics.get("buy_and_hold_return"))),
        MetricRow(str(METRIC_LABELS["cagr"]), pct_text(metrics.get("cagr"))),
        MetricRow(str(METRIC_LABELS["max_drawdown"]), pct_text(-(_number(metrics.get("max_drawdown")) or 0))),
        MetricRow(str(METRIC_LABELS["max_drawdown_krw"]), krw_text(metrics.get("max_drawdown_krw"))),
        MetricRow(str(METRIC_LABELS["sharpe"]), plain_text(metrics.get("sharpe"))),
        MetricRow(str(METRIC_LABELS["win_rate"]), pct_text(metrics.get("win_rate"), signed=False)),
        MetricRow(str(METRIC_LABELS["round_trips"]), f"{metrics.get('round_trips', 0):,}"),
        MetricRow(str(METRIC_LABELS["orders"]), f"{metrics.get('orders', 0):,}"),
        MetricRow(str(METRIC_LABELS["fees_krw"]), krw_text(metrics.get("fees_krw"))),
        MetricRow(str(METRIC_LABELS["exposure"]), pct_text(metrics.get("exposure"), signed=False)),
        MetricRow(str(METRIC_LABELS["candles"]), f"{metrics.get('candles', 0):,}"),
    ]
    return rows


@dataclass(frozen=True)
class ComparedMetric:
    label: str
    left: MetricRow
    right: MetricRow


def compare_rows(left: BacktestJob, right: BacktestJob) -> list[ComparedMetric]:
    return [ComparedMetric(a.label, a, b) for a, b in zip(metric_rows(left), metric_rows(right), strict=True)]


def job_summary(job: BacktestJob) -> str:
    """ "macd on KRW-BTC 60m, 2025-01-01 → 2025-03-31" (Seoul dates)."""
    asked = job.request
    zone = ZoneInfo(settings.TIME_ZONE)
    try:
        start = datetime.fromisoformat(asked["start"]).astimezone(zone)
        last = datetime.fromisoformat(asked["end"]).astimezone(zone)
        unit = "day" if int(asked["unit"]) == 1440 else f"{int(asked['unit'])}m"
    except (KeyError, TypeError, ValueError):
        return str(job)
    # The period ends at the next day's midnight: the last day included is the one before.
    return (
        f"{asked.get('strategy', '')} · {asked.get('market', '')} {unit} · {start:%Y-%m-%d} → {last - timedelta(days=1):%Y-%m-%d}"
    )


def job_params_text(params: dict[str, Any] | None) -> str:
    return ", ".join(f"{name}={value}" for name, value in (params or {}).items() if value not in (None, ""))


def trade_rows(job: BacktestJob) -> list[dict[str, Any]]:
    """The trades for the page's table: Seoul time, side, reason, price, volume, amount, fee, profit."""
    return _local_rows((job.chart or {}).get("trades", []))


def _local_rows(trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
    zone = ZoneInfo(settings.TIME_ZONE)
    return [{**trade, "local": datetime.fromisoformat(trade["ts"]).astimezone(zone)} for trade in trades]


TRADES_PER_PAGE = 100
"""Trades on one page of a run's results: a year of minutes makes tens of thousands (the CSV has them all)."""


@dataclass(frozen=True)
class TradePage:
    rows: list[dict[str, Any]]
    number: int
    pages: int
    total: int
    first: int
    """The 1-based position of the page's first trade (0 when there are none)."""
    last: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def trade_page(job: BacktestJob, requested: str | None) -> TradePage:
    """One page of the run's trades, oldest first. A page number that is not a number reads as the first page, and
    one past either end as the nearest page there is."""
    trades = (job.chart or {}).get("trades", [])
    total = len(trades)
    pages = max(1, -(-total // TRADES_PER_PAGE))
    number = int(requested) if requested and requested.isdigit() else 1
    number = min(max(number, 1), pages)
    start = (number - 1) * TRADES_PER_PAGE
    shown = trades[start : start + TRADES_PER_PAGE]
    return TradePage(_local_rows(shown), number, pages, total, start + 1 if shown else 0, start + len(shown))


def chart_for_page(job: BacktestJob) -> dict[str, Any]:
    """What a page's chart draws: the bars, and the trades as markers, one per bar and side with how many trades it
    stands for. A year of minutes makes tens of thousands of trades on some 1,500 bars: their full records would
    weigh megabytes and a marker each would bury the candles."""
    chart = job.chart or {}
    markers: dict[tuple[int, str], dict[str, Any]] = {}
    for trade in chart.get("trades", []):
        key = (int(trade["t"]), str(trade["side"]))
        marker = markers.get(key)
        if marker is None:
            markers[key] = {"t": key[0], "side": key[1], "count": 1, "reason": trade["reason"]}
        else:
            marker["count"] += 1
    return {
        "unit_sec": chart.get("unit_sec"),
        "grouped": chart.get("grouped"),
        "bars": chart.get("bars", []),
        "markers": list(markers.values()),
        "trades": len(chart.get("trades", [])),
    }


CSV_HEADER = ("time (Asia/Seoul)", "side", "reason", "price", "volume", "amount KRW", "fee KRW", "realized PnL KRW", "equity KRW")


def trades_csv_rows(job: BacktestJob) -> Iterator[list[str]]:
    """The trades as CSV rows (header first): Seoul times with seconds, plain numbers as the backtester wrote them."""
    yield list(CSV_HEADER)
    for trade in trade_rows(job):
        yield [
            trade["local"].strftime("%Y-%m-%d %H:%M:%S"),
            trade["side"],
            trade["reason"],
            trade["price"],
            trade["volume"],
            trade["funds"],
            trade["fee"],
            trade["pnl"],
            trade["equity"],
        ]
