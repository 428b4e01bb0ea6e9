"""SVG charts for the eval report, drawn by pygal (the chart stack insights uses too): rendered on the
server, inlined into the HTML, with no script and nothing fetched — readable offline and in any browser."""

from __future__ import annotations

import re

import pygal
from markupsafe import Markup
from pygal.style import Style

VERDICTS = ("pass", "flaky", "fail", "error")
COLOURS = {"pass": "#2e7d32", "flaky": "#f9a825", "fail": "#c62828", "error": "#6d4c41"}
BLUE = "#1565c0"
# pygal writes an inline <script> that configures its tooltip script; with js=[] that script is never
# loaded, so the configuration is dead weight (and a report must carry no script at all).
_DEAD = re.compile(r"<!--.*?-->|<script\b.*?</script>", re.DOTALL)


def _style(*colours: str) -> Style:
    return Style(background="#ffffff", plot_background="#ffffff", foreground="#333333",
                 foreground_strong="#111111", foreground_subtle="#777777", colors=colours,
                 font_family="system-ui, sans-serif", label_font_size=11, major_label_font_size=11,
                 legend_font_size=12, value_font_size=11, title_font_size=13)


def _chart(kind: type[pygal.graph.graph.Graph], colours: tuple[str, ...], **options: object) -> pygal.graph.graph.Graph:
    # js=[] drops pygal's tooltip script, which would otherwise be loaded from a CDN.
    base: dict[str, object] = {"style": _style(*colours), "js": [], "disable_xml_declaration": True,
                               "width": 530, "height": 240, "margin": 12, "legend_at_bottom": True}
    return kind(**(base | options))


def _render(chart: pygal.graph.graph.Graph) -> Markup:
    """The chart's SVG, safe to place in an autoescaped template (pygal escapes the labels itself)."""
    return Markup(_DEAD.sub("", chart.render(is_unicode=True)))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def stacked_bars(rows: list[tuple[str, dict[str, int]]]) -> Markup:
    """One horizontal bar per suite, split by verdict; each label ends with the suite's pass rate."""
    chart = _chart(pygal.HorizontalStackedBar, tuple(COLOURS[v] for v in VERDICTS),
                   height=80 + 32 * max(1, len(rows)), print_values=True, print_zeroes=False)
    labels = []
    for label, counts in rows:
        decided = sum(counts.get(v, 0) for v in ("pass", "fail", "flaky"))
        labels.append(f"{label} ({_percent(counts.get('pass', 0) / decided if decided else None)} pass)")
    chart.x_labels = labels
    for verdict in VERDICTS:
        chart.add(verdict, [counts.get(verdict, 0) or None for _, counts in rows])
    return _render(chart)


def histogram(values: list[float], bins: int = 10) -> Markup:
    """Distribution of case scores in [0, 1]."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    chart = _chart(pygal.Bar, (BLUE,), show_legend=False, print_values=True, print_zeroes=False,
                   x_title="mean score per case", x_label_rotation=0)
    chart.x_labels = [f"{i / bins:.1f}" for i in range(bins)]
    chart.add("cases", counts)
    return _render(chart)


def trend(points: list[tuple[str, float | None]]) -> Markup:
    """Pass rate over recent runs, oldest first; runs with no decided case are gaps."""
    chart = _chart(pygal.Line, (BLUE,), show_legend=False, range=(0, 1), allow_interruptions=True,
                   value_formatter=lambda v: f"{v:.1%}", x_title="run id (pass rate of decided cases)")
    chart.y_labels = [0, 0.25, 0.5, 0.75, 1]
    chart.x_labels = [label for label, _ in points]
    chart.add("pass rate", [rate for _, rate in points])
    return _render(chart)


def _rate_colour(rate: float) -> str:
    return COLOURS["pass"] if rate >= 0.9 else COLOURS["flaky"] if rate >= 0.6 else COLOURS["fail"]


def rate_bars(rows: list[tuple[str, float | None, bool]]) -> Markup:
    """Pass rate per scorer; informational metrics (not pass/fail, e.g. MRR) show their mean in blue."""
    chart = _chart(pygal.HorizontalBar, (COLOURS["pass"], BLUE), height=80 + 24 * max(1, len(rows)),
                   range=(0, 1), print_values=True, value_formatter=lambda v: f"{v:.3g}")
    chart.x_labels = [label for label, _, _ in rows]
    chart.add("pass rate", [{"value": rate, "color": _rate_colour(rate)} if is_rate and rate is not None else None
                            for _, rate, is_rate in rows])
    chart.add("mean (informational)", [None if is_rate else rate for _, rate, is_rate in rows])
    return _render(chart)
