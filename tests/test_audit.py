"""The audit log is append-only in the database, readable by admins, and the edit history diffs."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ground.settings import Settings
from testkit.seed import seed_drafts
from tests.conftest import LiveServer, message_body, wait_for_draft


def _decide_something(live: LiveServer) -> int:
    draft_id = seed_drafts(live.engine, 1)[0]
    with live.client("cm") as cm:
        edited = cm.patch(f"/v1/drafts/{draft_id}", json={"text": "Hi! Line one.\nLine two."},
                          headers={"If-Match": '"1"', "X-Request-ID": "req-edit-1"})
        assert edited.status_code == 200, edited.text
        assert edited.headers["x-request-id"] == "req-edit-1"
        approved = cm.post(f"/v1/drafts/{draft_id}/approve", headers={"If-Match": edited.headers["etag"]})
        assert approved.status_code == 200, approved.text
    return draft_id


def test_audit_rows_cannot_be_changed_or_deleted(backend_live: LiveServer) -> None:
    _decide_something(backend_live)
    engine = backend_live.engine
    statements = ["UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events",
                  "UPDATE draft_versions SET text = 'rewritten'", "DELETE FROM draft_versions"]
    if engine.dialect.name == "postgresql":
        statements += ["TRUNCATE audit_events", "TRUNCATE draft_versions"]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        actors = {row[0] for row in conn.execute(text("SELECT actor FROM audit_events"))}
    assert "mallory" not in actors and "test-cm" in actors


def test_audit_api_and_edit_history(backend_live: LiveServer) -> None:
    draft_id = _decide_something(backend_live)
    with backend_live.client("admin") as admin:
        page = admin.get("/v1/audit", params={"draft_id": draft_id}).json()
        events = page["data"]
        assert [e["action"] for e in events][:2] == ["edit", "approve"]
        edit, approve = events[:2]
        assert (edit["actor"], edit["role"], edit["from_version"], edit["to_version"]) == ("test-cm", "cm", 1, 2)
        assert edit["request_id"] == "req-edit-1"
        assert edit["prev_text_hash"] != edit["text_hash"]
        assert (approve["from_version"], approve["to_version"]) == (2, 3)
        assert approve["prev_text_hash"] == approve["text_hash"] == edit["text_hash"]
        assert approve["request_id"] and approve["request_id"] != "req-edit-1"
        by_request = admin.get("/v1/audit", params={"request_id": "req-edit-1"}).json()["data"]
        assert [e["action"] for e in by_request] == ["edit"]
        first = admin.get("/v1/audit", params={"limit": 1}).json()
        second = admin.get("/v1/audit", params={"limit": 1, "cursor": first["next_cursor"]}).json()
        assert first["data"][0]["id"] < second["data"][0]["id"]
        assert admin.get("/v1/audit", params={"cursor": "garbage"}).status_code == 400
    with backend_live.client("viewer") as viewer:
        assert viewer.get("/v1/audit").status_code == 403
        history = viewer.get(f"/v1/drafts/{draft_id}/history").json()["data"]
        assert [(v["version"], v["action"]) for v in history] == [(1, "drafted"), (2, "edit"), (3, "approve")]
        diff = viewer.get(f"/v1/drafts/{draft_id}/diff", params={"from": 1, "to": 2}).json()["diff"]
        assert diff.startswith("--- v1\n+++ v2")
        assert "+Hi! Line one." in diff and "+Line two." in diff and "-Hi user0" in diff
        assert viewer.get(f"/v1/drafts/{draft_id}/diff", params={"from": 9}).status_code == 404


def test_worker_transitions_are_audited(live: LiveServer) -> None:
    with live.client("cm") as cm:
        draft = wait_for_draft(cm, cm.post("/v1/messages", json=message_body("audit-1")).json()["id"])
    with live.client("admin") as admin:
        events = admin.get("/v1/audit", params={"draft_id": draft["id"]}).json()["data"]
    assert [(e["action"], e["actor"], e["to_version"]) for e in events] == [("drafted", "system:worker", 1)]


def _dump(settings: Settings) -> bytes:
    """Everything the database holds, as an operator's backup would: raw files and a logical dump."""
    if settings.is_sqlite:
        raw = b"".join(p.read_bytes() for p in settings.data_dir.iterdir() if p.is_file())
        with sqlite3.connect(settings.data_dir / "replydesk.db") as conn:
            logical = "\n".join(conn.iterdump()).encode()
        return raw + logical
    url = (settings.database_url or "").replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run(["pg_dump", "--no-owner", url], check=True, capture_output=True).stdout


def test_database_dump_holds_no_plaintext_key(backend_live: LiveServer) -> None:
    with backend_live.client("admin") as admin:
        made = admin.post("/v1/keys", json={"role": "cm", "name": "dump-check"}).json()["key"]
        admin.delete("/v1/keys/3")
    keys = [*backend_live.keys.values(), made]
    for key in keys:  # use every key, so last_used_at and audit rows are written
        with backend_live.client(None) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            client.get("/v1/drafts")
    dump = _dump(backend_live.settings)
    assert b"api_keys" in dump
    for key in keys:
        assert key.encode() not in dump
        assert key[12:].encode() not in dump  # not even the part after the visible prefix
