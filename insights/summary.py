"""Period summaries: volume, sentiment trend, themes, top questions, escalations, unanswered items."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from ground.settings import Settings
from insights.data import Item, clean_text, load_items
from insights.period import Period, buckets
from insights.prose import write_prose
from insights.schemas import (
    Escalation,
    Escalations,
    OpenItem,
    PreviousPeriod,
    Summary,
    Theme,
    TrendPoint,
    Unanswered,
)
from insights.themes import Cluster, cluster_texts

TOP_THEMES = 8
LIST_LIMIT = 20
QUOTE_CHARS = 240


def ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def quote(text: str) -> str:
    cleaned = clean_text(text) or text.strip()
    return cleaned if len(cleaned) <= QUOTE_CHARS else cleaned[: QUOTE_CHARS - 1].rstrip() + "…"


def to_themes(items: list[Item], clusters: list[Cluster], limit: int = TOP_THEMES) -> list[Theme]:
    themes: list[Theme] = []
    for cluster in clusters[:limit]:
        members = [items[i] for i in cluster.members]
        rep = items[cluster.representative]
        themes.append(
            Theme(
                label=", ".join(cluster.terms) or quote(rep.text)[:40],
                terms=cluster.terms,
                count=cluster.count,
                share=share(cluster.count, len(items)),
                negative_share=share(sum(m.sentiment == "negative" for m in members), len(members)),
                quote=quote(rep.text),
                quote_message_id=rep.message_id,
                platforms=ranked(Counter(m.platform for m in members)),
                message_ids=[m.message_id for m in members[:LIST_LIMIT]],
            )
        )
    return themes


def trend(items: list[Item], period: Period) -> list[TrendPoint]:
    starts = buckets(period)
    step = period.bucket()
    counts = [0] * len(starts)
    negatives = [0] * len(starts)
    scores: list[list[float]] = [[] for _ in starts]
    for item in items:
        index = min(int((item.received_at - period.since) / step), len(starts) - 1)
        counts[index] += 1
        negatives[index] += item.sentiment == "negative"
        scores[index].append(item.sentiment_score)
    return [
        TrendPoint(start=s, count=c, negative=n, mean_sentiment=round(sum(v) / len(v), 3) if v else None)
        for s, c, n, v in zip(starts, counts, negatives, scores, strict=True)
    ]


def open_state(item: Item) -> str | None:
    """Why an item has no reply yet, or None when it is answered (or a CM decided not to reply)."""
    if item.draft_id is None:
        return "draft_failed" if item.message_status == "failed" else "awaiting_draft"
    if item.draft_status in ("pending", "regenerating"):
        return "awaiting_review"
    if item.draft_status == "delivery_failed" or item.delivery_status == "failed":
        return "delivery_failed"
    return None


def escalations(items: list[Item]) -> Escalations:
    escalated = [i for i in items if i.route == "escalate"]
    rows = [
        Escalation(
            message_id=i.message_id, draft_id=i.draft_id, platform=i.platform,
            team=i.triage.get("escalate_to"), reason=str(i.triage.get("route_reason") or ""),
            status=i.draft_status or "", received_at=i.received_at, text=quote(i.text),
        )
        for i in sorted(escalated, key=lambda i: i.received_at, reverse=True)[:LIST_LIMIT]
    ]
    teams = Counter(str(i.triage.get("escalate_to") or "unassigned") for i in escalated)
    return Escalations(total=len(escalated), by_team=ranked(teams), items=rows)


def unanswered(items: list[Item], as_of: datetime) -> Unanswered:
    waiting = [(i, s) for i in items if (s := open_state(i)) is not None]
    rows = [
        OpenItem(
            message_id=i.message_id, draft_id=i.draft_id, platform=i.platform, state=state,
            route=i.route or "untriaged", received_at=i.received_at,
            age_hours=round(max((as_of - i.received_at).total_seconds(), 0.0) / 3600, 2), text=quote(i.text),
        )
        for i, state in sorted(waiting, key=lambda pair: pair[0].received_at)[:LIST_LIMIT]
    ]
    return Unanswered(total=len(waiting), by_state=ranked(Counter(s for _, s in waiting)), items=rows)


def build_summary(
    engine: Engine, settings: Settings, workspace: str, period: Period, prose: str = "auto"
) -> Summary:
    """``prose``: ``auto`` (LLM when configured, else extractive), ``extractive`` or ``none``."""
    items = load_items(engine, workspace, period)
    previous = load_items(engine, workspace, period.previous())
    now = datetime.now(UTC)
    clusters = cluster_texts([i.text for i in items], settings.theme_distance)
    questions = [i for i in items if i.is_question]
    question_clusters = cluster_texts([i.text for i in questions], settings.question_distance)
    scores = [i.sentiment_score for i in items]
    step = period.bucket()
    summary = Summary(
        workspace=workspace,
        since=period.since,
        until=period.until,
        generated_at=now,
        total=len(items),
        by_platform=ranked(Counter(i.platform for i in items)),
        by_intent=ranked(Counter(i.intent for i in items)),
        by_route=ranked(Counter(i.route or "untriaged" for i in items)),
        by_sentiment=ranked(Counter(i.sentiment for i in items)),
        negative_share=share(sum(i.sentiment == "negative" for i in items), len(items)),
        mean_sentiment=round(sum(scores) / len(scores), 3) if scores else None,
        bucket="hour" if step.total_seconds() <= 3600 else "day" if step.days <= 1 else "week",
        sentiment_trend=trend(items, period),
        previous=PreviousPeriod(
            since=period.previous().since, until=period.previous().until, total=len(previous),
            negative_share=share(sum(i.sentiment == "negative" for i in previous), len(previous)),
        ),
        themes=to_themes(items, clusters),
        top_questions=to_themes(questions, question_clusters),
        escalations=escalations(items),
        unanswered=unanswered(items, min(now, period.until)),
        prose="",
        prose_source="extractive",
    )
    if prose != "none":
        summary.prose, summary.prose_source, summary.prose_note = write_prose(
            settings, summary, allow_llm=prose == "auto"
        )
    return summary
