"""Insights on the 525 real threads of twitter_cdp (../shared/data/twitter_cdp/dev.json).

Every customer turn is POSTed with its thread (re-timed into the last seven days, keeping each
thread's own gaps) and drafted by the offline worker against the sample knowledge base. For six
threads in ten a CM approves the brand's real reply as the final text, for one in ten rejects; the
rest stay open. Deliveries are then re-dated to the brand's real response delay (a simulation, so
response-time figures mean something). Then, timed: the summary and health over HTTP, a gap
refresh, and `replydesk insights digest --period week` in a fresh process (imports, model load and
all). Baseline in the same run: embedding the period's message texts once, the irreducible cost of
themes. Counts are reconciled with plain SQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import Session, col, select

from desk.db import session_scope
from desk.models import Delivery, Draft, Message
from insights import themes
from insights.data import clean_text
from knowledge.embeddings import embed_texts
from knowledge.ingest import ingest_paths
from knowledge.store import KnowledgeStore
from testkit.live import ROOT, SAMPLES, SHARED_DATA, LiveServer, make_settings, wait_for

DATASET = SHARED_DATA / "twitter_cdp" / "dev.json"
WEEK = timedelta(days=7)
OPEN = ("pending", "regenerating", "delivery_failed")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _duration(value: str) -> timedelta:
    hours, minutes, seconds = value.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))


def _who(turn: dict[str, Any]) -> str:
    return str(turn.get("client") or turn.get("client1") or turn.get("agent") or "unknown")


def messages_from(threads: list[dict[str, Any]], end: datetime) -> list[dict[str, Any]]:
    """Client turns as POST bodies, re-timed into [end - 7 days, end); with the real reply and delay."""
    ordered = sorted(threads, key=lambda t: t["dialogHeader"]["conversationDateTime"])
    # Thread starts spread evenly over the week's first five days; later turns keep their real gaps
    # (capped at ``end``: a few threads ran on for days).
    step = (WEEK - timedelta(days=2)) / len(ordered)
    out = []
    for index, thread in enumerate(ordered):
        turns = thread["dialogContent"]
        first = _time(turns[0]["datetime"])
        shift = (end - WEEK + timedelta(hours=2) + step * index) - first
        final_reply = (first + _duration(thread["dialogHeader"]["duration"]), thread["agentURL"]["url_utterance"])
        for j, turn in enumerate(turns):
            if "agent" in turn or not turn["message"].strip():
                continue  # customer turns only ("client", or "client1" for a second customer joining)
            nxt = next((t for t in turns[j + 1:] if "agent" in t), None)
            reply_at, reply = (_time(nxt["datetime"]), nxt["message"]) if nxt else final_reply
            at = _time(turn["datetime"])
            out.append({
                "body": {
                    "external_id": turn["tweet_ID"], "platform": "x",
                    "author": {"id": _who(turn), "handle": _who(turn)},
                    "text": turn["message"][:20_000], "thread_id": thread["dialogHeader"]["sessionID"],
                    "thread": [{"author": _who(t), "text": t["message"][:20_000]}
                               for t in turns[max(0, j - 10):j]],
                    "received_at": min(at + shift, end).isoformat(),
                },
                "thread_index": index,
                "reply": reply,
                "delay": max(reply_at - at, timedelta(seconds=30)),
            })
    return out


def _reconcile(engine: Any, summary: dict[str, Any], since: datetime, until: datetime) -> list[str]:
    problems = []
    with Session(engine) as session:
        rows = session.exec(
            select(Message, Draft).outerjoin(Draft, col(Draft.message_id) == col(Message.id))
            .where(col(Message.received_at) >= since, col(Message.received_at) < until)
        ).all()
    checks: dict[str, tuple[Any, Any]] = {
        "total": (summary["total"], len(rows)),
        "by_platform": (summary["by_platform"], dict(Counter(m.platform for m, _ in rows))),
        "by_route": (summary["by_route"], dict(Counter(d.route if d else "untriaged" for _, d in rows))),
        "escalations": (summary["escalations"]["total"],
                        sum(1 for _, d in rows if d is not None and d.route == "escalate")),
        "unanswered": (summary["unanswered"]["total"], sum(1 for _, d in rows if d is None or d.status in OPEN)),
        "trend": (sum(p["count"] for p in summary["sentiment_trend"]), len(rows)),
    }
    for name, (got, expected) in checks.items():
        if got != expected:
            problems.append(f"{name}: summary {got} != database {expected}")
    return problems


def main() -> None:
    if not DATASET.exists():
        print(f"skipped: {DATASET} not found (the shared datasets sit beside the repository)")
        return
    threads = json.loads(DATASET.read_text())
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-insights-"))
    settings = make_settings(workdir)
    ingest_paths(KnowledgeStore(settings), [SAMPLES / "knowledge", SAMPLES / "guidelines"], "default")
    now = datetime.now(UTC).replace(microsecond=0)
    items = messages_from(threads, now - timedelta(hours=1))
    server = LiveServer(settings).start()
    try:
        with server.client("cm") as client, server.client("admin") as admin:
            started = time.perf_counter()
            ids, posted, duplicates = [], [], 0
            for item in items:
                response = client.post("/v1/messages", json=item["body"])
                assert response.status_code in (200, 202), response.text
                if response.json()["duplicate"]:
                    duplicates += 1  # the same tweet quoted in two threads is one message
                    continue
                ids.append(response.json()["id"])
                posted.append(item)
            items = posted
            wait_for(lambda: client.get("/v1/drafts", params={"limit": 1}).json()["count"] == len(ids),
                     timeout=1800, interval=0.5)
            drafted = time.perf_counter() - started
            drafts = {}
            for offset in range(0, len(ids), 200):
                for d in client.get("/v1/drafts", params={"limit": 200, "offset": offset}).json()["data"]:
                    drafts[d["message_id"]] = d
            approved = rejected = 0
            for message_id, item in zip(ids, items, strict=True):
                draft, bucket = drafts[message_id], item["thread_index"] % 10
                if bucket < 6:
                    r = client.post(f"/v1/drafts/{draft['id']}/approve", json={"text": item["reply"]},
                                    headers={"If-Match": str(draft["version"])})
                    approved += r.status_code == 200
                elif bucket == 6:
                    r = client.post(f"/v1/drafts/{draft['id']}/reject", json={"reason": "handled elsewhere"},
                                    headers={"If-Match": str(draft["version"])})
                    rejected += r.status_code == 200
            wait_for(lambda: client.get("/v1/deliveries", params={"status": "delivered", "limit": 1}).json()["count"]
                     == approved, timeout=600, interval=0.5)
            delays = {mid: item["delay"] for mid, item in zip(ids, items, strict=True)}
            with session_scope(server.engine) as session:  # the simulation: the brand's real response delay
                for delivery, message in session.exec(
                    select(Delivery, Message).join(Message, col(Message.id) == col(Delivery.message_id))
                ).all():
                    at = message.received_at + delays[message.id or 0]
                    session.exec(update(Delivery).where(col(Delivery.id) == delivery.id).values(delivered_at=at))
                    session.exec(update(Draft).where(col(Draft.id) == delivery.draft_id).values(decided_at=at))
            params = {"since": (now - WEEK).isoformat(), "until": now.isoformat()}
            # A measurement, not a test: a machine busy with other work may need far more than 30 s.
            client.timeout = admin.timeout = httpx.Timeout(600.0)

            texts = [i["body"]["text"] for i in items]
            t = time.perf_counter()
            embed_texts([clean_text(x) or x for x in texts])
            baseline = time.perf_counter() - t
            themes._cache.clear()
            t = time.perf_counter()
            summary = client.get("/v1/insights/summary", params=params).json()
            t_summary = time.perf_counter() - t
            t = time.perf_counter()
            health = client.get("/v1/insights/health", params=params).json()
            t_health = time.perf_counter() - t
            t = time.perf_counter()
            gaps = admin.post("/v1/insights/gaps/refresh", params=params).json()
            t_gaps = time.perf_counter() - t
            problems = _reconcile(server.engine, summary, now - WEEK, now)
    finally:
        server.stop()

    out_dir = workdir / "digests"
    env = os.environ | {"REPLYDESK_DATA_DIR": str(settings.data_dir)}
    t = time.perf_counter()
    digest = subprocess.run(
        [sys.executable, "-c", "from replydesk.cli import app; app()", "insights", "digest", "--period", "week",
         "--until", now.isoformat(), "--out", str(out_dir), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    t_digest = time.perf_counter() - t
    print(f"threads: {len(threads)}, customer messages: {len(items)} (+{duplicates} duplicate tweets), "
          f"drafted offline in {drafted:.1f} s "
          f"({len(items) / drafted:.1f} messages/s); approved {approved}, rejected {rejected}")
    print(f"baseline (embed {len(texts)} message texts once): {baseline:.2f} s")
    print(f"summary over HTTP: {t_summary:.2f} s ({t_summary / baseline:.2f}x baseline); health: {t_health:.2f} s; "
          f"gap refresh: {t_gaps:.2f} s ({gaps['count']} suggestions)")
    if digest.returncode != 0:
        print(f"digest FAILED ({digest.returncode}): {digest.stderr[-2000:]}")
    else:
        report = json.loads(digest.stdout)
        print(f"`replydesk insights digest --period week` in a fresh process: {t_digest:.2f} s "
              f"({t_digest / baseline:.2f}x baseline) -> {report['html']}")
    print(f"under a minute: summary {'yes' if t_summary < 60 else 'NO'}, digest {'yes' if t_digest < 60 else 'NO'}")
    print("counts reconcile with the database: " + ("yes" if not problems else "NO: " + "; ".join(problems)))
    print(f"total {summary['total']}; by route {summary['by_route']}; by intent {summary['by_intent']}")
    print(f"negative share {summary['negative_share']}; escalations {summary['escalations']['total']} "
          f"{summary['escalations']['by_team']}; unanswered {summary['unanswered']['total']}")
    print("top themes:")
    for theme in summary["themes"]:
        print(f"  {theme['count']:3d}  [{theme['label']}]  \"{theme['quote'][:150]}\"")
    print("top questions:")
    for theme in summary["top_questions"][:5]:
        print(f"  {theme['count']:3d}  \"{theme['quote'][:150]}\"")
    x = next((p for p in health["response_time"] if p["platform"] == "x"), None)
    print(f"health: x median {x and x['median_hours']} h, p90 {x and x['p90_hours']} h vs target "
          f"{x and x['target_hours']} h, within {x and x['within_target']}, late {x and x['late']}, open past target "
          f"{x and x['open_past_target']}; SLA breaches {health['sla_breaches']}; approval rate "
          f"{health['approval_rate']}; edit rate {health['edit_rate']} (mean distance {health['edit_distance_mean']}); "
          f"deflection {health['deflection_rate']}")
    print("top knowledge gaps:")
    for gap in gaps["data"][:5]:
        print(f"  {gap['count']:3d}  \"{gap['question'][:120]}\" -> answer: {(gap['answer'] or '-')[:100]}")
    if os.environ.get("BENCH_KEEP"):
        print(f"kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
