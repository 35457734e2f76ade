"""Server-side SVG charts (no JavaScript, no inline styles: CSP-safe), escaped like any other output."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

MODE_COLOURS = {
    "faq": "#2f855a",
    "generated": "#2b6cb0",
    "clarify": "#b7791f",
    "fallback": "#c53030",
    "smalltalk": "#6b46c1",
}


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step * 4:
            return float(step * 4)
    return float(value)


def bar_chart(
    data: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 720,
    height: int = 220,
    label_every: int = 1,
    colour: str = "#3b6fd1",
) -> Markup:
    """Vertical bars with a y axis of four gridlines; every ``label_every``-th x label shown."""
    left, bottom, top, right = 40, 28, 12, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((v for _, v in data), default=0))
    n = max(1, len(data))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.72)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{peak * i / 4:g}</text>')
    for i, (label, value) in enumerate(data):
        h = plot_h * (value / peak) if peak else 0
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="2" fill="{colour}">'
            f"<title>{escape(str(label))}: {value:g}</title></rect>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 8}" class="axis" text-anchor="middle">'
                f"{escape(str(label))}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bar(data: Sequence[tuple[str, float]], *, title: str, width: int = 720, height: int = 36) -> Markup:
    """One horizontal bar split by share (the mode mix), with a legend underneath in HTML."""
    total = sum(v for _, v in data) or 1
    parts = [
        f'<svg class="chart stacked" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    x = 0.0
    for label, value in data:
        w = width * value / total
        if w <= 0:
            continue
        colour = MODE_COLOURS.get(label, "#718096")
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}">'
            f"<title>{escape(label)}: {value:g} ({100 * value / total:.0f}%)</title></rect>"
        )
        x += w
    parts.append("</svg>")
    return Markup("".join(parts))
