"""Spike alerts: volume or negative sentiment far above a rolling baseline, posted once per episode.

The current window (default the last hour) is compared with the windows before it (default the last
24 hours). A spike opens an *episode* (one alert); the episode closes when a window is back to normal,
and no new alert fires within the cool-down of the last one. Opening an episode is one conditional
UPDATE on its state row, so concurrent scheduler runs cannot both fire; the alert row is written in the
same transaction and delivered afterwards (at least once, deduped on ``webhook-id``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from desk.db import session_scope
from desk.insight_tables import InsightAlert, InsightState
from desk.scope import INSTALLATION, Scope
from ground.outbound import guarded_client
from ground.redact import redact
from ground.settings import Settings
from insights.data import Item, load_items
from insights.errors import NotifyError
from insights.notify import post_json, slack_escape
from insights.period import Period, as_utc
from insights.summary import quote
from insights.themes import cluster_texts


@dataclass
class Window:
    count: int
    negative: int

    @property
    def negative_share(self) -> float:
        return self.negative / self.count if self.count else 0.0


def windows(items: list[Item], now: datetime, width: timedelta, n: int) -> list[Window]:
    """Window 0 is [now - width, now); window k ends k widths earlier."""
    out = [Window(0, 0) for _ in range(n + 1)]
    for item in items:
        k = int((now - item.received_at) / width)
        if 0 <= k <= n and item.received_at < now:
            out[k].count += 1
            out[k].negative += item.sentiment == "negative"
    return out


def detect(current: Window, baseline: list[Window], settings: Settings) -> tuple[list[str], dict[str, Any]]:
    mean = sum(w.count for w in baseline) / len(baseline)
    total = sum(w.count for w in baseline)
    base_share = sum(w.negative for w in baseline) / total if total else 0.0
    volume_needed = max(settings.alert_volume_min, settings.alert_volume_factor * max(mean, 1.0))
    signals: list[str] = []
    if current.count >= volume_needed:
        signals.append("volume")
    if (
        current.negative >= settings.alert_negative_min
        and current.negative_share >= base_share + settings.alert_negative_delta
    ):
        signals.append("negative_sentiment")
    detail = {
        "count": current.count,
        "negative": current.negative,
        "negative_share": round(current.negative_share, 3),
        "baseline_mean_count": round(mean, 2),
        "baseline_negative_share": round(base_share, 3),
        "volume_threshold": round(volume_needed, 2),
        "negative_share_threshold": round(base_share + settings.alert_negative_delta, 3),
        "window_minutes": settings.alert_window_minutes,
        "baseline_windows": settings.alert_baseline_windows,
    }
    return signals, detail


def load_state(engine: Engine, key: str, workspace: str) -> InsightState:
    with Session(engine) as session:
        row = session.get(InsightState, key)
    if row is not None:
        return row
    try:
        with session_scope(engine) as session:
            session.add(InsightState(key=key, workspace=workspace))
    except IntegrityError:
        pass  # another run created it first
    with Session(engine) as session:
        row = session.get(InsightState, key)
    assert row is not None
    return row


def alert_text(workspace: str, signals: list[str], detail: dict[str, Any]) -> str:
    parts = []
    if "volume" in signals:
        parts.append(
            f"volume spiked: {detail['count']} messages in {detail['window_minutes']} min "
            f"(baseline {detail['baseline_mean_count']:.1f})"
        )
    if "negative_sentiment" in signals:
        parts.append(
            f"negative sentiment spiked: {detail['negative']} of {detail['count']} negative "
            f"({detail['negative_share'] * 100:.0f}% vs {detail['baseline_negative_share'] * 100:.0f}% baseline)"
        )
    text = f"Replydesk alert ({workspace}): " + "; ".join(parts) + "."
    if detail.get("themes"):
        text += " Themes: " + slack_escape("; ".join(detail["themes"])) + "."
    for sample in detail.get("examples", [])[:2]:
        text += f' e.g. "{slack_escape(sample)}"'
    return text


def evaluate(engine: Engine, settings: Settings, workspace: str, now: datetime | None = None) -> InsightAlert | None:
    """Check the current window; returns the alert when this call opened a new episode."""
    at = as_utc(now or datetime.now(UTC))
    width = timedelta(minutes=settings.alert_window_minutes)
    n = settings.alert_baseline_windows
    items = load_items(engine, workspace, Period(at - width * (n + 1), at))
    counted = windows(items, at, width, n)
    signals, detail = detect(counted[0], counted[1:], settings)
    key = f"alert:{workspace}"
    state = load_state(engine, key, workspace)
    if not signals:
        with session_scope(engine) as session:  # the episode (if any) is over
            session.exec(
                update(InsightState).where(col(InsightState.key) == key, col(InsightState.active))
                .values(active=False, updated_at=at)
            )
        return None
    cooldown = timedelta(minutes=settings.alert_cooldown_minutes)
    if state.active or (state.last_fired_at is not None and state.last_fired_at > at - cooldown):
        return None  # cheap early exit; the conditional UPDATE below is what actually guards
    recent = [i for i in items if i.received_at >= at - width]
    negative = [i for i in recent if i.sentiment == "negative"] or recent
    detail["examples"] = [quote(i.text)[:160] for i in negative[:3]]
    detail["themes"] = [", ".join(c.terms[:3]) for c in cluster_texts([i.text for i in negative])[:2] if c.terms]
    with session_scope(engine) as session:
        opened = session.exec(
            update(InsightState)
            .where(
                col(InsightState.key) == key,
                col(InsightState.active).is_(False),
                or_(
                    col(InsightState.last_fired_at).is_(None),
                    col(InsightState.last_fired_at) <= at - cooldown,
                ),
            )
            .values(active=True, last_fired_at=at, detail=detail, updated_at=at)
        )
        if opened.rowcount != 1:
            return None  # an episode is already open, or the last alert is still cooling down
        alert = InsightAlert(
            uid=str(uuid.uuid4()), workspace=workspace, signals=signals, window_start=at - width, window_end=at,
            detail=detail | {"text": alert_text(workspace, signals, detail)},
            target=settings.alert_webhook_url or settings.webhook_url or f"log:{settings.data_dir / 'alerts.jsonl'}",
        )
        session.add(alert)
        session.flush()
        session.refresh(alert)
        return alert


def payload(alert: InsightAlert) -> dict[str, Any]:
    return {
        "type": "insights.alert",
        "alert_id": alert.uid,
        "workspace": alert.workspace,
        "signals": alert.signals,
        "window": {"start": alert.window_start.isoformat(), "end": alert.window_end.isoformat()},
        "detail": {k: v for k, v in alert.detail.items() if k != "text"},
        "text": alert.detail.get("text", ""),  # Slack-compatible receivers show this line
    }


def deliver(engine: Engine, settings: Settings) -> int:
    """Post every undelivered alert; returns how many went out. Failures are retried on the next run."""
    with Session(engine) as session:
        todo = session.exec(
            select(InsightAlert).where(col(InsightAlert.status) == "pending").order_by(col(InsightAlert.id))
        ).all()
    sent = 0
    with guarded_client(settings, settings.delivery_timeout) as client:
        for alert in todo:
            error: str | None = None
            try:
                if alert.target.startswith("log:"):
                    settings.ensure_dirs()
                    with open(alert.target[4:], "a", encoding="utf-8") as log:
                        log.write(json.dumps(payload(alert), default=str) + "\n")
                else:
                    post_json(client, alert.target, payload(alert), alert.uid, settings.webhook_secret)
            except (NotifyError, OSError) as exc:
                error = redact(str(exc))[:1000]
            with session_scope(engine) as session:
                attempts = alert.attempts + 1
                values: dict[str, Any] = {"attempts": attempts, "last_error": error}
                if error is None:
                    values |= {"status": "delivered", "delivered_at": datetime.now(UTC)}
                    sent += 1
                elif attempts >= settings.delivery_max_attempts:
                    values["status"] = "failed"
                session.exec(update(InsightAlert).where(col(InsightAlert.id) == alert.id).values(**values))
    return sent


def check(engine: Engine, settings: Settings, workspace: str, now: datetime | None = None) -> InsightAlert | None:
    """Evaluate, then deliver whatever is pending (this alert and earlier failures)."""
    alert = evaluate(engine, settings, workspace, now)
    deliver(engine, settings)
    return alert


def list_alerts(
    engine: Engine, workspace: str | None = None, limit: int = 50, *, scope: Scope = INSTALLATION
) -> list[InsightAlert]:
    """Newest first; without ``workspace``, those of every workspace in ``scope``."""
    scope.check_filter(workspace)
    with Session(engine) as session:
        query = select(InsightAlert).where(*scope.condition(InsightAlert.workspace))
        if workspace:
            query = query.where(col(InsightAlert.workspace) == workspace)
        return list(session.exec(query.order_by(col(InsightAlert.id).desc()).limit(limit)).all())


def get_alert(engine: Engine, alert_id: int) -> InsightAlert | None:
    with Session(engine) as session:
        return session.get(InsightAlert, alert_id)
