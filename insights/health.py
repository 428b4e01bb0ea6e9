"""Community health: response times against each platform's target, approvals, edits, deflection.

Targets come from the workspace's platform guidelines (front matter ``response_target_hours``), the
same documents the composer reads its tone from, so a team changes them in one place.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from statistics import median

import numpy as np
from rapidfuzz.distance import Levenshtein
from sqlalchemy.engine import Engine

from insights.data import Item, load_items
from insights.period import Period
from insights.schemas import CMActivity, Health, PlatformHealth
from insights.summary import open_state, share
from knowledge.store import KnowledgeStore


def response_targets(store: KnowledgeStore, workspace: str) -> dict[str, float]:
    targets: dict[str, float] = {}
    for chunk in store.by_kind(workspace, "guideline"):
        value = chunk.attrs.get("response_target_hours")
        if chunk.platform and value is not None:
            try:
                targets[chunk.platform.lower()] = float(value)
            except (TypeError, ValueError):
                continue  # a malformed target is ignored, as a missing one would be
    return targets


def _hours(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0) / 3600


def _rate(part: int, whole: int) -> float | None:
    return share(part, whole) if whole else None


def _platform(platform: str, items: list[Item], target: float | None, as_of: datetime) -> PlatformHealth:
    delivered = [i for i in items if i.delivery_status == "delivered" and i.delivered_at is not None]
    hours = [_hours(i.delivered_at - i.received_at) for i in delivered if i.delivered_at is not None]
    open_ages = [_hours(as_of - i.received_at) for i in items if open_state(i) is not None]
    within = sum(h <= target for h in hours) if target is not None else 0
    return PlatformHealth(
        platform=platform,
        target_hours=target,
        messages=len(items),
        delivered=len(hours),
        median_hours=round(float(np.percentile(hours, 50)), 3) if hours else None,
        p90_hours=round(float(np.percentile(hours, 90)), 3) if hours else None,
        within_target=within,
        late=len(hours) - within if target is not None else 0,
        open_past_target=sum(a > target for a in open_ages) if target is not None else 0,
    )


def compute_health(items: list[Item], targets: dict[str, float], period: Period, workspace: str) -> Health:
    now = datetime.now(UTC)
    as_of = min(now, period.until)
    platforms = sorted({i.platform for i in items})
    response = [
        _platform(p, [i for i in items if i.platform == p], targets.get(p.lower()), as_of) for p in platforms
    ]
    decided = [i for i in items if i.approved or i.draft_status == "rejected"]
    approved = [i for i in items if i.approved]
    editable = [i for i in approved if i.route == "draft" and i.drafted_text.strip()]
    distances = [Levenshtein.normalized_distance(i.drafted_text.strip(), i.final_text.strip()) for i in editable]
    chars = [Levenshtein.distance(i.drafted_text.strip(), i.final_text.strip()) for i in editable]
    edited = [i for i in editable if i.drafted_text.strip() != i.final_text.strip()]
    edited_ids = {i.message_id for i in edited}
    per_cm: dict[str, Counter[str]] = {}
    for item in decided:
        counter = per_cm.setdefault(item.decided_by or "unknown", Counter())
        counter["approved" if item.approved else "rejected"] += 1
        counter["edited"] += item.message_id in edited_ids
    from_kb = [i for i in approved if i.route == "draft" and i.citations > 0 and not i.needs_human_answer]
    from_kb_unedited = [i for i in from_kb if i.message_id not in edited_ids]
    return Health(
        workspace=workspace,
        since=period.since,
        until=period.until,
        generated_at=now,
        messages=len(items),
        response_time=response,
        sla_breaches=sum(p.late + p.open_past_target for p in response),
        decided=len(decided),
        approved=len(approved),
        rejected=len(decided) - len(approved),
        rejected_by_reason=dict(Counter(i.reject_category or "unstated" for i in decided if not i.approved)
                                .most_common()),
        approval_rate=_rate(len(approved), len(decided)),
        edit_base=len(editable),
        edited=len(edited),
        edit_rate=_rate(len(edited), len(editable)),
        edit_distance_mean=round(float(np.mean(distances)), 4) if distances else None,
        edit_distance_median=round(float(median(distances)), 4) if distances else None,
        edit_chars_mean=round(float(np.mean(chars)), 1) if chars else None,
        per_cm=[
            CMActivity(cm=cm, approved=c["approved"], rejected=c["rejected"], edited=c["edited"])
            for cm, c in sorted(per_cm.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        ],
        replied=len(approved),
        answered_from_kb=len(from_kb),
        deflection_rate=_rate(len(from_kb), len(approved)),
        answered_from_kb_unedited=len(from_kb_unedited),
        unedited_deflection_rate=_rate(len(from_kb_unedited), len(approved)),
        open_items=sum(open_state(i) is not None for i in items),
    )


def build_health(engine: Engine, store: KnowledgeStore, workspace: str, period: Period) -> Health:
    return compute_health(load_items(engine, workspace, period), response_targets(store, workspace), period, workspace)
