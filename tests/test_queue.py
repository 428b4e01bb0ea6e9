"""Queue semantics: priority and due times from guidelines, filters, sorts, cursors, stale threads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from testkit.seed import seed_drafts
from tests.conftest import LiveServer, message_body, wait_for, wait_for_draft


def test_priority_and_due_time_follow_the_platform_guideline(backend_live: LiveServer) -> None:
    received = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with backend_live.client("cm") as cm:
        ig = cm.post("/v1/messages", json=message_body(
            "ig-1", "how long does shipping to the UK take?", platform="instagram",
            received_at=received.isoformat())).json()["id"]
        rd = cm.post("/v1/messages", json=message_body(
            "rd-1", "how long does shipping to the UK take?", platform="reddit",
            received_at=received.isoformat())).json()["id"]
        angry = cm.post("/v1/messages", json=message_body(
            "rd-2", "This is unacceptable, my order never arrived and support is terrible and useless!!",
            platform="reddit", received_at=received.isoformat())).json()["id"]
        ig_draft, rd_draft, angry_draft = (wait_for_draft(cm, m) for m in (ig, rd, angry))
    assert ig_draft["response_target_hours"] == 2.0  # samples/guidelines/platform-instagram.md
    assert rd_draft["response_target_hours"] == 4.0
    assert datetime.fromisoformat(ig_draft["due_at"]) == received + timedelta(hours=2)
    assert datetime.fromisoformat(rd_draft["due_at"]) == received + timedelta(hours=4)
    assert ig_draft["priority"] > rd_draft["priority"]
    assert angry_draft["triage"]["urgency"] == "high"
    assert angry_draft["priority"] > ig_draft["priority"]
    assert ig_draft["sla_breached"] is True  # received in the past, still pending
    assert ig_draft["intent"] == "question"


def test_filters_sorts_and_cursor_pages(backend_live: LiveServer) -> None:
    ids = seed_drafts(backend_live.engine, 130)
    with backend_live.client("viewer") as viewer:
        for sort in ("-priority", "due", "created", "-id"):
            seen: list[dict[str, Any]] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"sort": sort, "limit": 50, "status": "pending"}
                if cursor:
                    params["cursor"] = cursor
                page = viewer.get("/v1/drafts", params=params).json()
                assert page["count"] == 130
                seen += page["data"]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert sorted(d["id"] for d in seen) == ids, sort  # every draft once, none twice
            key = {"-priority": "priority", "due": "due_at", "created": "created_at", "-id": "id"}[sort]
            values = [d[key] for d in seen]
            assert values == sorted(values, reverse=sort.startswith("-")), sort
        mismatched = viewer.get("/v1/drafts", params={"sort": "due", "cursor": cursor or "x"})
        assert mismatched.status_code == 400
        reddit = viewer.get("/v1/drafts", params={"platform": "reddit", "limit": 200}).json()
        assert reddit["count"] == 26 and {d["platform"] for d in reddit["data"]} == {"reddit"}
        urgent = viewer.get("/v1/drafts", params={"min_priority": 90, "limit": 200}).json()["data"]
        assert urgent and all(d["priority"] >= 90 for d in urgent)
        praise = viewer.get("/v1/drafts", params={"intent": "praise", "limit": 200}).json()
        assert praise["count"] == 32
        late = viewer.get("/v1/drafts", params={"breached": True, "limit": 200}).json()
        on_time = viewer.get("/v1/drafts", params={"breached": False, "limit": 200}).json()
        assert late["count"] + on_time["count"] == 130 and late["count"] > 0
        assert all(d["sla_breached"] for d in late["data"])
        soon = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
        due_soon = viewer.get("/v1/drafts", params={"due_before": soon, "limit": 200}).json()
        assert late["count"] <= due_soon["count"] < 130
        assert viewer.get("/v1/drafts", params={"sort": "colour"}).status_code == 422


def test_newer_message_in_thread_makes_older_draft_stale(backend_live: LiveServer) -> None:
    with backend_live.client("cm") as cm:
        first = cm.post("/v1/messages", json=message_body(
            "t-1", "what's your return window?", thread_id="thread-9")).json()["id"]
        old = wait_for_draft(cm, first)
        second = cm.post("/v1/messages", json=message_body(
            "t-2", "actually, do you ship to Canada?", thread_id="thread-9")).json()["id"]
        stale = wait_for(lambda: (d := cm.get(f"/v1/drafts/{old['id']}").json())["status"] == "stale" and d)
        assert f"({second})" in stale["stale_reason"]
        refused = cm.post(f"/v1/drafts/{old['id']}/approve", headers={"If-Match": str(stale["version"])})
        assert refused.status_code == 409
        assert wait_for_draft(cm, second)["status"] == "pending"
        other_thread = cm.post("/v1/messages", json=message_body("t-3", "hi", thread_id="thread-10")).json()["id"]
        wait_for_draft(cm, other_thread)
        assert cm.get(f"/v1/drafts/{old['id'] + 1}").json()["status"] == "pending"
    with backend_live.client("admin") as admin:
        actions = [e["action"] for e in admin.get("/v1/audit", params={"draft_id": old["id"]}).json()["data"]]
    assert actions == ["drafted", "stale"]
