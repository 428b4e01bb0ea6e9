"""Inline SVG charts for the HTML report: no scripts, no CDN, readable offline and in any browser."""

from __future__ import annotations

from html import escape

COLOURS = {"pass": "#2e7d32", "flaky": "#f9a825", "fail": "#c62828", "error": "#6d4c41"}
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def stacked_bars(rows: list[tuple[str, dict[str, int]]], width: int = 530) -> str:
    """One horizontal bar per row, split by verdict, with the pass rate at the end."""
    label_w, bar_w, row_h = 110, width - 190, 28
    height = row_h * len(rows) + 34
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="verdicts per suite" {FONT}>']
    for i, (label, counts) in enumerate(rows):
        y = 8 + i * row_h
        total = sum(counts.get(k, 0) for k in COLOURS) or 1
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        x = float(label_w)
        for verdict, colour in COLOURS.items():
            n = counts.get(verdict, 0)
            if not n:
                continue
            w = bar_w * n / total
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="20" fill="{colour}">'
                         f'<title>{verdict}: {n}</title></rect>')
            if w > 22:
                parts.append(f'<text x="{x + w / 2:.1f}" y="{y + 14}" fill="#fff" text-anchor="middle">{n}</text>')
            x += w
        decided = counts.get("pass", 0) + counts.get("fail", 0) + counts.get("flaky", 0)
        rate = f"{counts.get('pass', 0) / decided:.0%}" if decided else "n/a"
        parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{rate} pass</text>')
    legend_y = height - 10
    for j, (verdict, colour) in enumerate(COLOURS.items()):
        lx = label_w + j * 90
        parts.append(f'<rect x="{lx}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="{legend_y}">{verdict}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(values: list[float], bins: int = 10, width: int = 530, height: int = 200) -> str:
    """Distribution of case scores in [0, 1]."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    top = max(counts) or 1
    left, bottom, plot_w, plot_h = 40, height - 28, width - 60, height - 48
    bar = plot_w / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="score distribution" {FONT}>',
             f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#999"/>']
    for i, n in enumerate(counts):
        h = plot_h * n / top
        x = left + i * bar
        parts.append(f'<rect x="{x + 2:.1f}" y="{bottom - h:.1f}" width="{bar - 4:.1f}" height="{h:.1f}" '
                     f'fill="#1565c0"><title>{i / bins:.1f}-{(i + 1) / bins:.1f}: {n} cases</title></rect>')
        if n:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{bottom - h - 4:.1f}" text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{i / bins:.1f}</text>')
    parts.append(f'<text x="{left + plot_w:.1f}" y="{bottom + 16}" text-anchor="middle">1.0</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 1}" text-anchor="middle" fill="#555">'
                 "mean score per case</text></svg>")
    return "".join(parts)


def trend(points: list[tuple[str, float | None]], width: int = 530, height: int = 220) -> str:
    """Pass rate over recent runs, oldest first; runs with no decided case are gaps."""
    left, top, plot_w, plot_h = 44, 14, width - 70, height - 58
    bottom = top + plot_h
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="pass rate trend" {FONT}>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - plot_h * tick
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    step = plot_w / max(1, len(points) - 1)
    coords = []
    for i, (label, rate) in enumerate(points):
        x = left + (i * step if len(points) > 1 else plot_w / 2)
        parts.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{escape(label)}</text>')
        if rate is not None:
            coords.append((x, bottom - plot_h * rate, label, rate))
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>')
    for x, y, label, rate in coords:
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#1565c0"><title>run {escape(label)}: '
                     f'{rate:.1%}</title></circle>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" fill="#555">'
                 "run id (pass rate of decided cases)</text></svg>")
    return "".join(parts)


def rate_bars(rows: list[tuple[str, float | None, bool]], width: int = 530) -> str:
    """Pass rate per scorer; informational metrics (not pass/fail, e.g. MRR) show their mean in blue."""
    label_w, bar_w, row_h = 150, width - 240, 22
    height = row_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="pass rate per scorer" {FONT}>']
    for i, (label, rate, is_rate) in enumerate(rows):
        y = 4 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="16" fill="#eeeeee"/>')
        if rate is not None:
            colour = "#1565c0" if not is_rate else \
                COLOURS["pass"] if rate >= 0.9 else COLOURS["flaky"] if rate >= 0.6 else COLOURS["fail"]
            parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w * rate:.1f}" height="16" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 13}">'
                     f'{"n/a" if rate is None else f"{rate:.0%}" if is_rate else f"mean {rate:.3f}"}</text>')
    parts.append("</svg>")
    return "".join(parts)
