"""Concurrent writers: claims with expiring locks, bulk decisions, the four-eyes rule, Idempotency-Key."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from desk.db import session_scope
from desk.keys import create_key
from desk.models import IdempotencyRecord, utcnow
from testkit.live import wait_for
from testkit.seed import seed_drafts
from tests.conftest import LiveServer, message_body


def test_claim_lock_blocks_others_until_it_expires(backend_live: LiveServer) -> None:
    draft_id = seed_drafts(backend_live.engine, 1)[0]
    other = create_key(backend_live.engine, "cm", "other-cm")
    with backend_live.client("cm") as cm, backend_live.client(None) as cm2, backend_live.client("admin") as admin:
        cm2.headers["Authorization"] = f"Bearer {other}"
        # A 6 s lock: long enough that a loaded machine still tries the approval inside it.
        claimed = cm.post(f"/v1/drafts/{draft_id}/claim", json={"minutes": 0.1}, headers={"If-Match": '"1"'})
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["assignee"] == "test-cm" and claimed.headers["etag"] == '"2"'
        assert cm.get("/v1/drafts", params={"assignee": "test-cm"}).json()["count"] == 1
        blocked = cm2.post(f"/v1/drafts/{draft_id}/approve", headers={"If-Match": '"2"'})
        assert blocked.status_code == 409
        assert "claimed by test-cm" in blocked.json()["detail"]
        # The lock expires: wait for that state (polling), then check it.
        wait_for(lambda: cm.get("/v1/drafts", params={"assignee": "none"}).json()["count"] == 1, timeout=60)
        assert cm.get("/v1/drafts", params={"assignee": "none"}).json()["count"] == 1
        taken = cm2.post(f"/v1/drafts/{draft_id}/claim", headers={"If-Match": '"2"'})
        assert taken.status_code == 200 and taken.json()["assignee"] == "other-cm"
        assert cm.post(f"/v1/drafts/{draft_id}/release", headers={"If-Match": '"3"'}).status_code == 409
        reassigned = admin.post(f"/v1/drafts/{draft_id}/claim", json={"assignee": "test-cm"},
                                headers={"If-Match": '"3"'})
        assert reassigned.status_code == 200 and reassigned.json()["assignee"] == "test-cm"
        released = cm.post(f"/v1/drafts/{draft_id}/release", headers={"If-Match": '"4"'})
        assert released.status_code == 200 and released.json()["assignee"] is None
        assert cm2.post(f"/v1/drafts/{draft_id}/approve", headers={"If-Match": '"5"'}).status_code == 200


def test_bulk_decisions_report_per_item(backend_live: LiveServer) -> None:
    ids = seed_drafts(backend_live.engine, 4)
    with backend_live.client("cm") as cm:
        response = cm.post("/v1/drafts/bulk", json={"action": "approve", "items": [
            {"id": ids[0], "version": 1}, {"id": ids[1], "version": 1, "text": "Custom reply."},
            {"id": ids[2], "version": 7}, {"id": 999999, "version": 1}, {"id": ids[0], "version": 1},
        ]})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["status_code"] for r in body["results"]] == [200, 200, 412, 404, 409]
        assert (body["succeeded"], body["failed"]) == (2, 3)
        assert cm.get(f"/v1/drafts/{ids[1]}").json()["text"] == "Custom reply."
        rejected = cm.post("/v1/drafts/bulk", json={"action": "reject", "reason": "spam wave", "items": [
            {"id": ids[2], "version": 1}, {"id": ids[3], "version": 1}]}).json()
        assert [r["status"] for r in rejected["results"]] == ["rejected", "rejected"]
        assert cm.post("/v1/drafts/bulk", json={"action": "send", "items": []}).status_code == 422
        assert cm.get("/v1/deliveries").json()["count"] == 2


def test_four_eyes_rule(backend_live: LiveServer) -> None:
    draft_id = seed_drafts(backend_live.engine, 1)[0]
    other = create_key(backend_live.engine, "cm", "second-pair")
    with backend_live.client("admin") as admin:
        config = admin.put("/v1/workspaces/default/config", json={"four_eyes": True})
        assert config.status_code == 200 and config.json()["four_eyes"] is True
    with backend_live.client("cm") as cm, backend_live.client(None) as cm2:
        cm2.headers["Authorization"] = f"Bearer {other}"
        assert cm.patch(f"/v1/drafts/{draft_id}", json={"text": "Mine."}, headers={"If-Match": '"1"'}).is_success
        own = cm.post(f"/v1/drafts/{draft_id}/approve", headers={"If-Match": '"2"'})
        assert own.status_code == 403
        assert "four-eyes" in own.json()["detail"]
        rewrite = cm2.post(f"/v1/drafts/{draft_id}/approve", json={"text": "Changed."}, headers={"If-Match": '"2"'})
        assert rewrite.status_code == 403
        assert cm2.post(f"/v1/drafts/{draft_id}/approve", headers={"If-Match": '"2"'}).status_code == 200


def test_idempotency_key_replays_and_refuses_reuse(backend_live: LiveServer) -> None:
    draft_id = seed_drafts(backend_live.engine, 1)[0]
    with backend_live.client("cm") as cm:
        first = cm.post("/v1/messages", json=message_body("idem-1"), headers={"Idempotency-Key": "k-1"})
        again = cm.post("/v1/messages", json=message_body("idem-1"), headers={"Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        other = cm.post("/v1/messages", json=message_body("idem-2"), headers={"Idempotency-Key": "k-1"})
        assert other.status_code == 422
        assert "different request" in other.json()["detail"]

        approve = {"Idempotency-Key": "approve-1", "If-Match": '"1"'}
        approved = cm.post(f"/v1/drafts/{draft_id}/approve", headers=approve)
        retried = cm.post(f"/v1/drafts/{draft_id}/approve", headers=approve)
        assert approved.status_code == retried.status_code == 200  # a retry is not a 409
        assert retried.json() == approved.json() and retried.headers["etag"] == '"2"'
        assert cm.get("/v1/deliveries", params={"draft_id": draft_id}).json()["count"] == 1

        # A request still in flight (as another process would leave it) makes a retry wait: 409.
        scope = hashlib.sha256(f"Bearer {backend_live.keys['cm']}".encode()).hexdigest()
        body = b'{"reason":"x"}'
        request_hash = hashlib.sha256(b"POST /v1/drafts/1/reject\n" + body).hexdigest()
        with session_scope(backend_live.engine) as session:
            session.add(IdempotencyRecord(scope=scope, key="busy", method="POST", path="/v1/drafts/1/reject",
                                          request_hash=request_hash, expires_at=utcnow() + timedelta(hours=1)))
        busy = cm.post("/v1/drafts/1/reject", content=body,
                       headers={"Idempotency-Key": "busy", "If-Match": '"1"', "content-type": "application/json"})
        assert busy.status_code == 409
        assert "still being processed" in busy.json()["detail"]
    with backend_live.client("admin") as admin:  # keys are per caller: another key may reuse the name
        assert admin.post("/v1/messages", json=message_body("idem-3"),
                          headers={"Idempotency-Key": "k-1"}).status_code == 202
