"""Line charts as inline SVG: the report is one file that opens offline, with no script.

Deliberately small: a few series on shared axes, "nice" tick values, a legend. Values
are escaped; the chart never reaches the network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "line_chart"]

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 32


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    color: str
    points: Sequence[tuple[float, float]]


def nice_ticks(upper: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `upper` (1, 2 or 5 times a power of ten apart)."""
    if upper <= 0:
        return [0.0, 1.0]
    raw = upper / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [step * index for index in range(math.ceil(upper / step) + 1)]


def line_chart(title: str, unit: str, series: Sequence[Series], x_label: str = "seconds") -> str:
    x_max = max((x for s in series for x, _ in s.points), default=1.0) or 1.0
    y_ticks = nice_ticks(max((y for s in series for _, y in s.points), default=0.0))
    y_max = y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + plot_w * x / x_max

    def sy(y: float) -> float:
        return TOP + plot_h * (1 - y / y_max)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg"'
        f' role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}'
        f'<tspan class="unit"> ({escape(unit)})</tspan></text>',
    ]
    for tick in y_ticks:
        y = sy(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{tick:g}</text>'
        )
    for tick in nice_ticks(x_max, 8):
        if tick > x_max:
            break
        x = sx(tick)
        parts.append(_text(x, HEIGHT - BOTTOM + 16, "middle", f"{tick:g}"))
    parts.append(_text(WIDTH - RIGHT, HEIGHT - 2, "end", escape(x_label)))
    legend_x = WIDTH - RIGHT
    for item in reversed(series):
        label_width = 8 * len(item.label) + 22
        legend_x -= label_width
        parts.append(
            f'<rect x="{legend_x}" y="7" width="12" height="4" fill="{item.color}"/>'
            f'<text x="{legend_x + 16}" y="14" class="legend">{escape(item.label)}</text>'
        )
        if item.points:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in item.points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{item.color}" stroke-width="2"'
                ' stroke-linejoin="round"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _text(x: float, y: float, anchor: str, content: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" class="tick" text-anchor="{anchor}">{content}</text>'
