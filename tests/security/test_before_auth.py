"""Nothing before auth (issue 13, item 2).

OWASP API4:2023 Unrestricted resource consumption — an unauthenticated caller must not make the server
buffer a body or write a row; per-key write rate limits answer 429 with Retry-After.
OWASP API2:2023 Broken authentication — a write is authenticated before anything else happens.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from desk.db import session_scope
from desk.models import IdempotencyRecord, utcnow
from testkit.live import LiveServer, make_settings, wait_for
from tests.conftest import message_body
from tests.security.raw import announce_only


def _rows(server: LiveServer) -> int:
    with Session(server.engine) as session:
        return int(session.exec(select(func.count()).select_from(IdempotencyRecord)).one())


@pytest.fixture
def server(tmp_path: Path, sample_chroma: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, worker_enabled=False, relay_enabled=False, write_rate_limit="5/minute",
                             housekeeping_seconds=0.2)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    live = LiveServer(settings).start()
    yield live
    live.stop()


def test_unauthenticated_post_with_idempotency_key_is_refused_unread(server: LiveServer) -> None:
    """API4: a 1 MB body announced with an Idempotency-Key and no credentials gets 401 before a byte of it
    is sent (the server cannot have read it), and no idempotency row exists afterwards."""
    head = {"Content-Length": str(1_000_000), "Content-Type": "application/json", "Idempotency-Key": "k-anon"}
    status, _headers, body = announce_only(server.port, "POST", "/v1/messages", head)
    assert status == 401
    assert b"missing API key" in body
    status, _headers, body = announce_only(server.port, "POST", "/v1/messages",
                                           head | {"Authorization": "Bearer rdk_not-a-real-key"})
    assert status == 401
    assert b"invalid or revoked" in body
    assert _rows(server) == 0


def test_idempotency_reads_at_most_the_cap(server: LiveServer) -> None:
    """API4: an authenticated caller's body over the cap is refused from its Content-Length, unread, and
    leaves no row."""
    head = {"Content-Length": str(50 * 1024 * 1024), "Content-Type": "application/json",
            "Idempotency-Key": "k-big", "Authorization": f"Bearer {server.keys['cm']}"}
    status, _headers, _body = announce_only(server.port, "POST", "/v1/messages", head)
    assert status == 413
    assert _rows(server) == 0
    with server.client("cm") as cm:  # the ordinary path still stores and replays
        first = cm.post("/v1/messages", json=message_body("auth-1"), headers={"Idempotency-Key": "k-ok"})
        again = cm.post("/v1/messages", json=message_body("auth-1"), headers={"Idempotency-Key": "k-ok"})
        assert first.status_code == again.status_code == 202
        assert again.headers["idempotent-replayed"] == "true"
    assert _rows(server) == 1


def test_expired_rows_are_purged_on_a_schedule(server: LiveServer) -> None:
    """API4: expired idempotency rows disappear on the housekeeping schedule, with no request at all."""
    scope = hashlib.sha256(b"Bearer whoever").hexdigest()
    with session_scope(server.engine) as session:
        session.add(IdempotencyRecord(scope=scope, key="old", method="POST", path="/v1/messages", request_hash="x",
                                      status="done", expires_at=utcnow() - timedelta(minutes=1)))
        session.add(IdempotencyRecord(scope=scope, key="live", method="POST", path="/v1/messages", request_hash="y",
                                      status="done", expires_at=utcnow() + timedelta(hours=1)))
    wait_for(lambda: _rows(server) == 1, timeout=30)
    with Session(server.engine) as session:
        assert [r.key for r in session.exec(select(IdempotencyRecord))] == ["live"]


def test_writes_are_rate_limited_per_key(server: LiveServer) -> None:
    """API4: past REPLYDESK_WRITE_RATE_LIMIT a key's writes get 429 with Retry-After; another key and reads
    are unaffected."""
    with server.client("cm") as cm:
        codes = [cm.post("/v1/messages", json=message_body(f"rl-{i}")).status_code for i in range(6)]
        assert codes[:5] == [202] * 5
        assert codes[5] == 429
        refused = cm.post("/v1/messages", json=message_body("rl-x"))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "too many writes" in refused.json()["detail"]
        assert cm.get("/v1/drafts").status_code == 200
    with server.client("admin") as admin:
        assert admin.post("/v1/messages", json=message_body("rl-admin")).status_code == 202


def test_rate_setting_is_checked() -> None:
    """API8: a rate that does not parse is a configuration error at start-up, not a silent no-limit."""
    with pytest.raises(ValueError, match="write_rate_limit"):
        make_settings(Path("/nonexistent"), write_rate_limit="lots")
