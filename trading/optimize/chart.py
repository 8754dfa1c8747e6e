"""The objective of every trial as a standalone SVG (drawn by hand like the backtest's equity curve): a dot per
finished trial on the training period, a grey dot for its test period, and the best-so-far line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from trading.backtest.report import _nice_step

WIDTH = 960
HEIGHT = 320
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 36, 46
TRAIN_COLOUR = "#1f6feb"
TEST_COLOUR = "#9a9a9a"
BEST_COLOUR = "#1a7f37"


def objective_svg(points: Sequence[tuple[int, float, float | None]], *, objective: str, title: str) -> str:
    """`points`: (trial number, training objective, test objective or None) of each finished trial."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="15" font-weight="600" fill="#1f2328">{escape(title)}</text>',
    ]
    values = [v for _, train, test in points for v in (train, test) if v is not None and math.isfinite(v)]
    if not values:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#57606a">no finished trial yet</text></svg>'
        )
        return "".join(parts)
    y_min, y_max = min(values), max(values)
    if y_max - y_min < 1e-12:
        y_min, y_max = y_min - 1, y_max + 1
    pad = (y_max - y_min) * 0.05
    y_min, y_max = y_min - pad, y_max + pad
    x_max = max(max(number for number, _, _ in points), 1)

    def px(number: float) -> float:
        return LEFT + number / x_max * plot_w

    def py(value: float) -> float:
        return TOP + (1 - (value - y_min) / (y_max - y_min)) * plot_h

    step = _nice_step(y_max - y_min, 5)
    tick = math.ceil(y_min / step) * step
    while tick <= y_max:
        parts.append(f'<line x1="{LEFT}" y1="{py(tick):.1f}" x2="{WIDTH - RIGHT}" y2="{py(tick):.1f}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{py(tick) + 4:.1f}" text-anchor="end" fill="#57606a">{tick:.3g}</text>')
        tick += step
    for i in range(6):
        number = round(x_max * i / 5)
        parts.append(
            f'<text x="{px(number):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" fill="#57606a">#{number}</text>'
        )
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d7de"/>')
    best: list[str] = []
    running = -math.inf
    for number, train, test in sorted(points):
        if test is not None and math.isfinite(test):
            parts.append(f'<circle cx="{px(number):.1f}" cy="{py(test):.1f}" r="2.5" fill="{TEST_COLOUR}"/>')
        parts.append(f'<circle cx="{px(number):.1f}" cy="{py(train):.1f}" r="3" fill="{TRAIN_COLOUR}"/>')
        running = max(running, train)
        best.append(f"{px(number):.1f},{py(running):.1f}")
    parts.append(f'<polyline fill="none" stroke="{BEST_COLOUR}" stroke-width="1.6" points="{" ".join(best)}"/>')
    legend_y = HEIGHT - 10
    parts.append(f'<circle cx="{LEFT + 5}" cy="{legend_y - 4}" r="3" fill="{TRAIN_COLOUR}"/>')
    parts.append(f'<text x="{LEFT + 14}" y="{legend_y}" fill="#1f2328">{escape(objective)} on the training period</text>')
    parts.append(f'<circle cx="{LEFT + 245}" cy="{legend_y - 4}" r="2.5" fill="{TEST_COLOUR}"/>')
    parts.append(f'<text x="{LEFT + 254}" y="{legend_y}" fill="#1f2328">on the test period</text>')
    line_y = legend_y - 4
    best_line = f'x1="{LEFT + 390}" y1="{line_y}" x2="{LEFT + 412}" y2="{line_y}"'
    parts.append(f'<line {best_line} stroke="{BEST_COLOUR}" stroke-width="2"/>')
    parts.append(f'<text x="{LEFT + 418}" y="{legend_y}" fill="#1f2328">best so far (training)</text>')
    parts.append("</svg>")
    return "".join(parts)
