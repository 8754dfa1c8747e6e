"""What a backtest leaves behind for a person: an equity-curve SVG and a trades CSV.

The SVG is drawn here, by hand, so the project needs no plotting library: one self-contained file
(no scripts, no external references) that any browser opens and the admin can show inline.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from trading.backtest.engine import TradeRecord

WIDTH = 960
HEIGHT = 400
MARGIN_LEFT = 92
MARGIN_RIGHT = 24
MARGIN_TOP = 44
MARGIN_BOTTOM = 46
MAX_POINTS = 1600
MAX_MARKERS = 400
EQUITY_COLOUR = "#1f6feb"
HOLD_COLOUR = "#9a9a9a"
BUY_COLOUR = "#1a7f37"
SELL_COLOUR = "#cf222e"


def _nice_step(span: float, target: int) -> float:
    """A 1-2-5 step that cuts `span` into about `target` parts."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _krw(value: float) -> str:
    if abs(value) >= 1e7:
        return f"{value / 1e6:,.1f}M"
    return f"{value:,.0f}"


def downsample(
    x: npt.NDArray[np.int64], y: npt.NDArray[np.float64], max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points that keep each bucket's low and high, so drawdowns stay visible."""
    n = int(x.size)
    if n <= max_points:
        return x, y
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    xs: list[int] = []
    ys: list[float] = []
    for left, right in pairwise(edges):
        if right <= left:
            continue
        chunk = y[left:right]
        low, high = int(np.argmin(chunk)), int(np.argmax(chunk))
        for index in sorted({low, high}):
            xs.append(int(x[left + index]))
            ys.append(float(chunk[index]))
    return np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.float64)


def equity_svg(
    *,
    start: npt.NDArray[np.int64],
    equity: npt.NDArray[np.float64],
    title: str,
    subtitle: str = "",
    benchmark: npt.NDArray[np.float64] | None = None,
    trades: Sequence[TradeRecord] = (),
    tz: str = "Asia/Seoul",
) -> str:
    """The equity curve (and a buy-and-hold line) as a standalone SVG document."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{MARGIN_LEFT}" y="20" font-size="15" font-weight="600" fill="#1f2328">{escape(title)}</text>',
    ]
    if subtitle:
        parts.append(f'<text x="{MARGIN_LEFT}" y="36" fill="#57606a">{escape(subtitle)}</text>')
    if start.size == 0:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#57606a">no candles</text></svg>')
        return "".join(parts)

    series = [equity] + ([benchmark] if benchmark is not None and benchmark.size == equity.size else [])
    y_min = min(float(np.nanmin(s)) for s in series)
    y_max = max(float(np.nanmax(s)) for s in series)
    if y_max - y_min < 1e-9:
        y_min, y_max = y_min - 1, y_max + 1
    pad = (y_max - y_min) * 0.05
    y_min, y_max = y_min - pad, y_max + pad
    x_min, x_max = int(start[0]), int(start[-1])
    if x_max == x_min:
        x_max = x_min + 1

    def px(t: float) -> float:
        return MARGIN_LEFT + (t - x_min) / (x_max - x_min) * plot_w

    def py(v: float) -> float:
        return MARGIN_TOP + (1 - (v - y_min) / (y_max - y_min)) * plot_h

    # Horizontal grid with KRW labels.
    step = _nice_step(y_max - y_min, 6)
    tick = math.ceil(y_min / step) * step
    while tick <= y_max:
        y = py(tick)
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">{escape(_krw(tick))}</text>')
        tick += step

    # Vertical grid with local dates.
    zone = ZoneInfo(tz)
    span_days = (x_max - x_min) / 86400
    date_format = "%Y-%m-%d" if span_days > 3 else "%m-%d %H:%M"
    for i in range(7):
        t = x_min + (x_max - x_min) * i / 6
        x = px(t)
        label = datetime.fromtimestamp(t, tz=UTC).astimezone(zone).strftime(date_format)
        parts.append(f'<line x1="{x:.1f}" y1="{MARGIN_TOP}" x2="{x:.1f}" y2="{HEIGHT - MARGIN_BOTTOM}" stroke="#f3f4f6"/>')
        anchor = "start" if i == 0 else "end" if i == 6 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 18}" text-anchor="{anchor}" fill="#57606a">{label}</text>')
    parts.append(f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d7de"/>')

    def polyline(values: npt.NDArray[np.float64], colour: str, extra: str = "") -> str:
        xs, ys = downsample(start, values)
        points = " ".join(f"{px(float(a)):.1f},{py(float(b)):.1f}" for a, b in zip(xs, ys, strict=True))
        return f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" {extra} points="{points}"/>'

    if len(series) == 2:
        parts.append(polyline(series[1], HOLD_COLOUR, 'stroke-dasharray="4 3"'))
    parts.append(polyline(equity, EQUITY_COLOUR))

    if 0 < len(trades) <= MAX_MARKERS:
        positions = np.searchsorted(start, [trade.ts_epoch for trade in trades], side="right") - 1
        for trade, index in zip(trades, positions, strict=True):
            index = int(min(max(index, 0), equity.size - 1))
            x, y = px(trade.ts_epoch), py(float(equity[index]))
            if trade.side == "buy":
                parts.append(f'<path d="M{x:.1f},{y - 7:.1f} l-4,7 h8 z" fill="{BUY_COLOUR}" opacity="0.8"/>')
            else:
                parts.append(f'<path d="M{x:.1f},{y + 7:.1f} l-4,-7 h8 z" fill="{SELL_COLOUR}" opacity="0.8"/>')

    legend_y = HEIGHT - 10
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{legend_y - 4}" x2="{MARGIN_LEFT + 22}" y2="{legend_y - 4}" '
        f'stroke="{EQUITY_COLOUR}" stroke-width="2"/>'
    )
    parts.append(f'<text x="{MARGIN_LEFT + 28}" y="{legend_y}" fill="#1f2328">equity (KRW, {escape(tz)} dates)</text>')
    if len(series) == 2:
        parts.append(
            f'<line x1="{MARGIN_LEFT + 230}" y1="{legend_y - 4}" x2="{MARGIN_LEFT + 252}" y2="{legend_y - 4}" '
            f'stroke="{HOLD_COLOUR}" stroke-width="2" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{MARGIN_LEFT + 258}" y="{legend_y}" fill="#1f2328">buy and hold</text>')
    if 0 < len(trades) <= MAX_MARKERS:
        parts.append(f'<path d="M{MARGIN_LEFT + 370},{legend_y - 9} l-4,7 h8 z" fill="{BUY_COLOUR}"/>')
        parts.append(f'<text x="{MARGIN_LEFT + 378}" y="{legend_y}" fill="#1f2328">buy</text>')
        parts.append(f'<path d="M{MARGIN_LEFT + 420},{legend_y} l-4,-7 h8 z" fill="{SELL_COLOUR}"/>')
        parts.append(f'<text x="{MARGIN_LEFT + 428}" y="{legend_y}" fill="#1f2328">sell</text>')
    parts.append("</svg>")
    return "".join(parts)


TRADE_COLUMNS = (
    "time_utc",
    "time_local",
    "side",
    "reason",
    "decided_at_utc",
    "price",
    "volume",
    "funds",
    "fee",
    "realized_pnl",
    "krw_after",
    "coin_after",
    "equity_after",
)


# A field with one of these needs csv quoting; the times and Decimal strings never have one.
_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def write_trades_csv(path: Path, trades: Sequence[TradeRecord], tz: str = "Asia/Seoul") -> Path:
    """One row per fill; money columns as exact decimal strings.

    The rows are what `csv.writer` writes (comma, CRLF, minimal quoting); they are joined here directly
    because a year of minute trades has tens of thousands of them, and only a side or reason with a
    comma, quote or line break goes through the csv module to be quoted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    zone = ZoneInfo(tz)
    lines = [",".join(TRADE_COLUMNS)]
    append = lines.append
    special = _CSV_SPECIAL.search
    for trade in trades:
        ts, decided_at = trade.ts, trade.decided_at
        side, reason = trade.side, trade.reason
        if special(side) or special(reason):
            buffer = io.StringIO()
            csv.writer(buffer).writerow(_trade_row(trade, zone))
            append(buffer.getvalue()[:-2])
            continue
        ts_text = ts.isoformat()
        # Filled at the open right after the decision's close, the two times are usually the same moment.
        decided_text = ts_text if decided_at == ts and decided_at.tzinfo is ts.tzinfo else decided_at.isoformat()
        append(
            ",".join(
                (
                    ts_text,
                    ts.astimezone(zone).isoformat(),
                    side,
                    reason,
                    decided_text,
                    str(trade.price),
                    str(trade.volume),
                    str(trade.funds),
                    str(trade.fee),
                    str(trade.realized_pnl),
                    str(trade.krw_after),
                    str(trade.coin_after),
                    str(trade.equity_after),
                )
            )
        )
    append("")
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write("\r\n".join(lines))
    return path


def _trade_row(trade: TradeRecord, zone: ZoneInfo) -> tuple[object, ...]:
    return (
        trade.ts.isoformat(),
        trade.ts.astimezone(zone).isoformat(),
        trade.side,
        trade.reason,
        trade.decided_at.isoformat(),
        trade.price,
        trade.volume,
        trade.funds,
        trade.fee,
        trade.realized_pnl,
        trade.krw_after,
        trade.coin_after,
        trade.equity_after,
    )
