"""Charts as server-rendered SVG: no JavaScript, no CDN, works offline. Every mark links to its items.

Each function returns safe markup; every text that goes into it is escaped here.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = {
    "complaint": "#d92d20", "question": "#1570ef", "advocacy": "#079455", "other": "#98a2b3",
    "negative": "#d92d20", "neutral": "#98a2b3", "positive": "#079455", "none": "#d0d5dd",
    "median": "#3b5bdb", "p90": "#f79009", "open": "#6941c6",
}
FALLBACK = ("#3b5bdb", "#f79009", "#6941c6", "#0e9384", "#c11574", "#667085")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    links: Sequence[str | None] = ()  # one per x position; the mark links to the items behind it
    color: str | None = None


def color_for(name: str, index: int) -> str:
    return PALETTE.get(name, FALLBACK[index % len(FALLBACK)])


TICKS = 4  # gridlines above zero


def nice_max(value: float, steps: tuple[float, ...] = (1, 2, 3, 5), *, whole: bool = True) -> float:
    """An axis maximum at or above `value` whose TICKS equal steps are round numbers (whole ones for counts)."""
    if value <= 0:
        return float(TICKS)
    raw = value / TICKS
    if whole and raw <= 1:
        return float(TICKS)
    power: float = 10 ** math.floor(math.log10(raw))
    for step in (*steps, 10):
        if raw <= step * power * (1 + 1e-9):
            return step * power * TICKS
    return 10 * power * TICKS


def nice_duration_max(seconds: float) -> float:
    """Axis maximum for durations, with ticks on round seconds, minutes, hours or days."""
    if seconds <= 0:
        return 60.0 * TICKS
    tick = seconds / TICKS
    unit = 1 if tick <= 60 else 60 if tick <= 3600 else 3600 if tick <= 12 * 3600 else 86400
    return nice_max(seconds / unit, (1, 2, 3, 5, 6)) * unit


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.1f} days".replace(".0 days", " days")


def number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


class _Frame:
    """Plot area geometry shared by the chart kinds."""

    def __init__(self, width: int, height: int, count: int, y_max: float):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 56, 12, 12, 28
        self.count, self.y_max = max(count, 1), y_max or 1.0

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def x_center(self, i: int) -> float:
        return self.left + (i + 0.5) * self.plot_w / self.count

    def y(self, value: float) -> float:
        return self.top + self.plot_h * (1 - min(value, self.y_max) / self.y_max)

    def slot(self) -> float:
        return self.plot_w / self.count


def _open(title: str, width: int, height: int, css: str) -> list[str]:
    label = escape(title)
    return [f'<svg class="chart {css}" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{label}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
            f"<title>{label}</title>"]


def _axes(frame: _Frame, x_labels: Sequence[str], y_format: Callable[[float], str]) -> list[str]:
    parts = []
    for k in range(TICKS + 1):
        value = frame.y_max * k / TICKS
        y = frame.y(value)
        parts.append(f'<line class="grid" x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{escape(y_format(value))}</text>")
    every = max(1, math.ceil(len(x_labels) / 10))  # at most ~10 labels, whatever the range
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1 and len(x_labels) <= 10:
            parts.append(f'<text class="axis" x="{frame.x_center(i):.1f}" y="{frame.height - 8}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    return parts


def _link(href: str | None, inner: str) -> str:
    return f'<a href="{escape(href)}">{inner}</a>' if href else inner


def _legend(series: Sequence[Series]) -> str:
    items = []
    for i, s in enumerate(series):
        color = s.color or color_for(s.name, i)
        items.append(f'<span class="key"><i style="background:{escape(color)}"></i>{escape(s.name)}</span>')
    return f'<div class="legend">{"".join(items)}</div>'


def line_chart(title: str, x_labels: Sequence[str], series: Sequence[Series], *, width: int = 640,
               height: int = 220, y_format: Callable[[float], str] = number, durations: bool = False) -> Markup:
    """Lines over days; each point is a link (with a tooltip) to the items behind it."""
    values = [v for s in series for v in s.values if v is not None]
    top = max(values, default=0)
    frame = _Frame(width, height, len(x_labels), nice_duration_max(top) if durations else nice_max(top))
    parts = _open(title, width, height, "line") + _axes(frame, x_labels, y_format)
    for index, s in enumerate(series):
        color = escape(s.color or color_for(s.name, index))
        points = [(frame.x_center(i), frame.y(v), i, v) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for x, y, i, v in points:
            tip = f"{s.name}, {x_labels[i]}: {y_format(v)}"
            href = s.links[i] if i < len(s.links) else None
            parts.append(_link(href, f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}">'
                                     f"<title>{escape(tip)}</title></circle>"))
    if not values:
        parts.append(f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">No data in this '
                     "range</text>")
    parts.append("</svg>")
    return Markup("".join(parts) + _legend(series))


def stacked_bars(title: str, x_labels: Sequence[str], series: Sequence[Series], *, width: int = 640,
                 height: int = 220) -> Markup:
    """Counts per day stacked by series; each segment links to its items."""
    totals = [sum((s.values[i] or 0) for s in series) for i in range(len(x_labels))]
    frame = _Frame(width, height, len(x_labels), nice_max(max(totals, default=0)))
    parts = _open(title, width, height, "bars") + _axes(frame, x_labels, number)
    bar = max(1.0, frame.slot() * 0.7)
    for i in range(len(x_labels)):
        base = 0.0
        for index, s in enumerate(series):
            value = s.values[i] or 0
            if not value:
                continue
            y_top, y_bottom = frame.y(base + value), frame.y(base)
            color = escape(s.color or color_for(s.name, index))
            tip = f"{s.name}, {x_labels[i]}: {number(value)}"
            rect = (f'<rect x="{frame.x_center(i) - bar / 2:.1f}" y="{y_top:.1f}" width="{bar:.1f}" '
                    f'height="{max(y_bottom - y_top, 0.5):.1f}" fill="{color}"><title>{escape(tip)}</title></rect>')
            parts.append(_link(s.links[i] if i < len(s.links) else None, rect))
            base += value
    if not any(totals):
        parts.append(f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">No mentions in '
                     "this range</text>")
    parts.append("</svg>")
    return Markup("".join(parts) + _legend(series))


def bar_list(title: str, rows: Sequence[tuple[str, float | None, str | None]], *, width: int = 640,
             value_format: Callable[[float], str] = number, color: str = "#3b5bdb") -> Markup:
    """Horizontal bars, one per row (label, value, link), for comparing agents, queues, networks."""
    row_h, label_w = 22, 160
    height = max(row_h * len(rows) + 8, 30)
    top = nice_max(max((v or 0 for _, v, _ in rows), default=0))
    parts = _open(title, width, height, "hbars")
    for i, (label, value, href) in enumerate(rows):
        y = 4 + i * row_h
        length = 0 if not value else (width - label_w - 80) * value / top
        text = escape(f"{label}: {value_format(value) if value is not None else '—'}")
        parts.append(f'<text class="axis" x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(label[:24])}</text>')
        parts.append(_link(href, f'<rect x="{label_w}" y="{y + 3}" width="{max(length, 0.5):.1f}" height="{row_h - 8}" '
                                 f'fill="{escape(color)}"><title>{text}</title></rect>'))
        parts.append(f'<text class="value" x="{label_w + length + 6:.1f}" y="{y + 15}">'
                     f"{escape(value_format(value) if value is not None else '—')}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))
