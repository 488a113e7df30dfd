"""Small charts as inline SVG: bars, histograms and lines for the run report.

Why not matplotlib here: ``tracemint run`` builds its report after every run, and importing
matplotlib and rasterising five PNGs took longer than minting 2,000 traces against a fast
server (about 2 s of a 5 s run). The run report's charts are simple (counts in bins), so
they are drawn directly as SVG: no import cost, crisp at any zoom, a few KB each, still one
self-contained HTML file with no JavaScript. Plots that are written as image files (eval,
training curves) keep matplotlib.

Each function returns one ``<svg>`` element; ``figure`` wraps several side by side.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

_W, _H = 400.0, 240.0  # one panel, in px
_L, _R, _T, _B = 52.0, 12.0, 28.0, 44.0  # margins: left (y ticks), right, top (title), bottom


def _nice_step(span: float, target: int = 5, least: float = 0.0) -> float:
    """A 1-2-5 step that cuts ``span`` into about ``target`` intervals (at least ``least``:
    1 on a count axis, where 0.5 traces means nothing)."""
    if span <= 0:
        return max(1.0, least)
    raw = max(span / target, least)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag  # pragma: no cover - the loop always returns


def _ticks(lo: float, hi: float, target: int = 5, least: float = 0.0) -> list[float]:
    step = _nice_step(hi - lo, target, least)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def _label(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.3g}"


def _esc(s: str) -> str:
    return html.escape(s, quote=True)


class _Panel:
    """One set of axes: maps data coordinates to pixels and collects SVG elements."""

    def __init__(
        self,
        title: str,
        xlabel: str,
        ylabel: str,
        x0: float,
        x1: float,
        y1: float,
        counts: bool = True,
    ) -> None:
        self.x0, self.x1 = x0, (x1 if x1 > x0 else x0 + 1)
        self.least = 1.0 if counts else 0.0  # the y axis counts things: whole ticks only
        y1 = y1 if y1 > 0 else 1.0
        step = _nice_step(y1, least=self.least)
        self.y1 = math.ceil(y1 / step - 1e-9) * step  # the top gridline at or above the max
        self.parts: list[str] = []
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel

    def px(self, x: float) -> float:
        return _L + (x - self.x0) / (self.x1 - self.x0) * (_W - _L - _R)

    def py(self, y: float) -> float:
        return _H - _B - y / self.y1 * (_H - _T - _B)

    def rect(self, x0: float, x1: float, y: float, color: str, tip: str) -> None:
        left, right = self.px(x0), self.px(x1)
        top, base = self.py(y), self.py(0)
        self.parts.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{max(right - left, 0.5):.1f}" '
            f'height="{base - top:.1f}" fill="{color}"><title>{_esc(tip)}</title></rect>'
        )

    def svg(self, xticks: list[tuple[float, str]]) -> str:
        axis = "#555"
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W:.0f}" height="{_H:.0f}" '
            f'viewBox="0 0 {_W:.0f} {_H:.0f}" role="img" aria-label="{_esc(self.title)}" '
            'font-family="system-ui,sans-serif" font-size="11">',
            f'<text x="{_W / 2:.0f}" y="17" text-anchor="middle" font-size="13">'
            f"{_esc(self.title)}</text>",
        ]
        for v in _ticks(0, self.y1, least=self.least):
            y = self.py(v)
            out.append(
                f'<line x1="{_L:.0f}" x2="{_W - _R:.0f}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#e6e6e6"/>'
                f'<text x="{_L - 5:.0f}" y="{y + 4:.1f}" text-anchor="end">{_label(v)}</text>'
            )
        out.extend(self.parts)
        base = self.py(0)
        out.append(
            f'<line x1="{_L:.0f}" x2="{_W - _R:.0f}" y1="{base:.1f}" y2="{base:.1f}" '
            f'stroke="{axis}"/>'
        )
        for x, text in xticks:
            out.append(
                f'<text x="{self.px(x):.1f}" y="{base + 15:.1f}" text-anchor="middle">'
                f"{_esc(text)}</text>"
            )
        if self.xlabel:
            out.append(
                f'<text x="{(_L + _W - _R) / 2:.0f}" y="{_H - 6:.0f}" text-anchor="middle">'
                f"{_esc(self.xlabel)}</text>"
            )
        if self.ylabel:
            cy = (_T + _H - _B) / 2
            out.append(
                f'<text x="12" y="{cy:.0f}" text-anchor="middle" '
                f'transform="rotate(-90 12 {cy:.0f})">{_esc(self.ylabel)}</text>'
            )
        out.append("</svg>")
        return "".join(out)


def bars(
    labels: Sequence[str],
    heights: Sequence[float],
    *,
    title: str,
    ylabel: str = "",
    xlabel: str = "",
    colors: Sequence[str] | str = "#1565c0",
) -> str:
    """One bar per label (categories: verdicts, answer lengths)."""
    n = len(labels)
    panel = _Panel(title, xlabel, ylabel, 0, max(n, 1), max(heights, default=0))
    palette = [colors] * n if isinstance(colors, str) else list(colors)
    for i, (lab, h) in enumerate(zip(labels, heights, strict=True)):
        panel.rect(i + 0.15, i + 0.85, h, palette[i % len(palette)], f"{lab}: {_label(h)}")
    step = max(1, math.ceil(n / 12))  # at most ~12 category labels under the axis
    ticks = [(i + 0.5, str(lab)) for i, lab in enumerate(labels) if i % step == 0]
    return panel.svg(ticks)


def histogram(
    values: Sequence[float],
    *,
    bins: Sequence[float] | int = 30,
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    color: str = "#1565c0",
) -> str:
    """Counts of ``values`` in ``bins`` (edges, or a number of equal-width bins over the
    data's range). The last bin is closed on the right, as in numpy and matplotlib."""
    vals = [float(v) for v in values]
    if isinstance(bins, int):
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    else:
        edges = [float(e) for e in bins]
    counts = [0] * (len(edges) - 1)
    lo, hi, width = edges[0], edges[-1], len(counts)
    for v in vals:
        if v < lo or v > hi:
            continue
        # bisect by hand: edges are sorted; the right edge belongs to the last bin
        a, b = 0, width
        while b - a > 1:
            mid = (a + b) // 2
            if v >= edges[mid]:
                a = mid
            else:
                b = mid
        counts[a] += 1
    panel = _Panel(title, xlabel, ylabel, lo, hi, max(counts, default=0))
    for i, c in enumerate(counts):
        if c:
            panel.rect(
                edges[i], edges[i + 1], c, color, f"{_label(edges[i])}–{_label(edges[i + 1])}: {c}"
            )
    ticks = [(t, _label(t)) for t in _ticks(lo, hi) if lo <= t <= hi]
    return panel.svg(ticks)


def line(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    ymax: float | None = None,
    color: str = "#1565c0",
) -> str:
    """A line with a dot on each point (curves: early answering by share kept)."""
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    panel = _Panel(title, xlabel, ylabel, x0, x1, ymax or max(ys, default=1.0), counts=False)
    pts = " ".join(f"{panel.px(x):.1f},{panel.py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    if pts:
        panel.parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}"/>')
    for x, y in zip(xs, ys, strict=True):
        panel.parts.append(
            f'<circle cx="{panel.px(x):.1f}" cy="{panel.py(y):.1f}" r="3" fill="{color}">'
            f"<title>{_label(x)}: {_label(y)}</title></circle>"
        )
    ticks = [(t, _label(t)) for t in _ticks(x0, x1) if x0 <= t <= x1]
    return panel.svg(ticks)


def figure(name: str, *panels: str) -> str:
    """Panels side by side as one report figure (``data-plot`` names it for tests and links)."""
    return f'<figure data-plot="{_esc(name)}">{"".join(panels)}</figure>'
