"""The digest: the period's summary, health and open knowledge gaps as Markdown and self-contained HTML.

The HTML has its styles and SVG charts inline (nothing is fetched when it is opened or mailed), and
every community-written string in it is escaped by Jinja's autoescaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.engine import Engine

from ground.outbound import guarded_client
from ground.settings import Settings
from insights.gaps import list_gaps
from insights.health import build_health
from insights.notify import post_json, slack_escape, slack_payload
from insights.period import Period
from insights.schemas import Health, Suggestion, Summary
from insights.summary import build_summary
from knowledge.store import KnowledgeStore

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")
GAP_LIMIT = 10


def _md(text: object) -> str:
    """Community text inside Markdown: one line, no accidental formatting, links or tables."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("insights", "templates"),
        autoescape=select_autoescape(["html", "j2"]) if autoescape else False,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _md
    env.filters["cell"] = _md
    env.globals.update(num=_num, pct=_pct, rate=_pct)
    return env


@dataclass
class Digest:
    summary: Summary
    health: Health
    gaps: list[Suggestion]
    markdown: str
    html: str

    @property
    def stem(self) -> str:
        return f"digest-{self.summary.workspace}-{self.summary.until:%Y%m%d-%H%M}"


def render(summary: Summary, health: Health, gaps: list[Suggestion]) -> tuple[str, str]:
    from insights import charts  # pygal: imported when a digest is drawn, not by every process that imports this

    period_label = f"{summary.since:%Y-%m-%d %H:%M} - {summary.until:%Y-%m-%d %H:%M} UTC"
    context = {"s": summary, "h": health, "gaps": gaps, "period_label": period_label}
    markdown = _environment(False).get_template("digest.md.j2").render(**context)
    svg = {
        "volume": Markup(charts.volume_chart(summary)),
        "sentiment": Markup(charts.sentiment_chart(summary)),
        "themes": Markup(charts.themes_chart(summary)) if summary.themes else "",
        "response": Markup(charts.response_chart(health)) if health.response_time else "",
    }
    html = _environment(True).get_template("digest.html.j2").render(**context, charts=svg)
    return re.sub(r"\n{3,}", "\n\n", markdown), html


def build_digest(
    engine: Engine, settings: Settings, store: KnowledgeStore, workspace: str, period: Period, prose: str = "auto"
) -> Digest:
    summary = build_summary(engine, settings, workspace, period, prose=prose)
    health = build_health(engine, store, workspace, period)
    gaps = [Suggestion.model_validate(g, from_attributes=True) for g in list_gaps(engine, workspace)[:GAP_LIMIT]]
    markdown, html = render(summary, health, gaps)
    return Digest(summary=summary, health=health, gaps=gaps, markdown=markdown, html=html)


def write_digest(digest: Digest, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = out_dir / f"{digest.stem}.md", out_dir / f"{digest.stem}.html"
    md_path.write_text(digest.markdown, encoding="utf-8")
    html_path.write_text(digest.html, encoding="utf-8")
    return md_path, html_path


def slack_text(digest: Digest) -> str:
    s, h = digest.summary, digest.health
    lines = [
        f"*Replydesk digest: {slack_escape(s.workspace)}* ({s.since:%Y-%m-%d} - {s.until:%Y-%m-%d})",
        slack_escape(s.prose),
        f"• {s.total} messages, {_pct(s.negative_share)} negative, {s.escalations.total} escalated, "
        f"{s.unanswered.total} without a reply, {h.sla_breaches} SLA breaches",
        f"• approval {_pct(h.approval_rate)}, edit rate {_pct(h.edit_rate)}, deflection {_pct(h.deflection_rate)}",
    ]
    lines += [f"• theme: {slack_escape(t.label)} ({t.count})" for t in s.themes[:3]]
    if digest.gaps:
        lines.append(f"• {len(digest.gaps)} knowledge-gap suggestions waiting for review")
    return "\n".join(lines)


def post_digest(digest: Digest, url: str, settings: Settings) -> None:
    """Post the digest's Slack text (through the outbound address policy)."""
    with guarded_client(settings, settings.delivery_timeout) as client:
        post_json(client, url, slack_payload(slack_text(digest)))
