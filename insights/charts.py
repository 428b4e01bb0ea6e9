"""Inline SVG charts for the HTML digest (pygal), with no script or stylesheet fetched from anywhere."""

from __future__ import annotations

import re

import pygal
from pygal.style import Style

from insights.schemas import Health, Summary

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#333333", foreground_strong="#111111",
    foreground_subtle="#777777", colors=("#3b6ea5", "#d1495b", "#66a182", "#edae49", "#8d6a9f"),
    font_family="Helvetica, Arial, sans-serif", title_font_size=16, label_font_size=11,
    major_label_font_size=11, legend_font_size=12, value_font_size=10,
)


def _options(**extra: object) -> dict[str, object]:
    # js=[] drops pygal's tooltip script, which would otherwise be loaded from a CDN.
    base: dict[str, object] = {
        "style": STYLE, "js": [], "disable_xml_declaration": True, "width": 760, "height": 300,
        "legend_at_bottom": True, "print_values": False, "margin": 16,
    }
    base.update(extra)
    return base


def _render(chart: pygal.graph.graph.Graph) -> str:
    return _COMMENT.sub("", chart.render(is_unicode=True))


def volume_chart(summary: Summary) -> str:
    fmt = "%H:%M" if summary.bucket == "hour" else "%a %d %b"
    chart = pygal.Bar(**_options(title="Messages and negative messages", x_label_rotation=30 if len(
        summary.sentiment_trend) > 10 else 0, show_minor_x_labels=len(summary.sentiment_trend) <= 14,
        x_labels_major_every=max(1, len(summary.sentiment_trend) // 12)))
    chart.x_labels = [p.start.strftime(fmt) for p in summary.sentiment_trend]
    chart.add("messages", [p.count for p in summary.sentiment_trend])
    chart.add("negative", [p.negative for p in summary.sentiment_trend])
    return _render(chart)


def sentiment_chart(summary: Summary) -> str:
    fmt = "%H:%M" if summary.bucket == "hour" else "%a %d %b"
    chart = pygal.Line(**_options(title="Mean sentiment (-1 negative … +1 positive)", range=(-1, 1),
                                  show_legend=False, x_label_rotation=30 if len(summary.sentiment_trend) > 10 else 0,
                                  show_minor_x_labels=len(summary.sentiment_trend) <= 14,
                                  x_labels_major_every=max(1, len(summary.sentiment_trend) // 12)))
    chart.x_labels = [p.start.strftime(fmt) for p in summary.sentiment_trend]
    chart.add("mean sentiment", [p.mean_sentiment for p in summary.sentiment_trend])
    return _render(chart)


def themes_chart(summary: Summary) -> str:
    chart = pygal.HorizontalBar(**_options(title="Top themes (messages)", show_legend=False, height=320,
                                           print_values=True))
    themes = list(reversed(summary.themes))
    chart.x_labels = [t.label[:48] for t in themes]
    chart.add("messages", [t.count for t in themes])
    return _render(chart)


def response_chart(health: Health) -> str:
    chart = pygal.Bar(**_options(title="Response time by platform (hours): median, p90 and target"))
    rows = health.response_time
    chart.x_labels = [p.platform for p in rows]
    chart.add("median", [p.median_hours for p in rows])
    chart.add("p90", [p.p90_hours for p in rows])
    chart.add("target", [p.target_hours for p in rows])
    return _render(chart)
