"""Webhooks both ways: signed outbound deliveries with dead-letter and requeue, verified inbound ones."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from desk.signing import sign
from ground.settings import Settings
from testkit.seed import seed_drafts
from tests.conftest import LiveServer, wait_for
from tests.receiver import Receiver
from tests.webhook_verifier import load_reference_verifier


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    """A server that gives up on a delivery after two attempts (no worker: drafts are seeded)."""
    server = LiveServer(settings.model_copy(update={"delivery_max_attempts": 2, "worker_enabled": False})).start()
    yield server
    server.stop()


def test_workspace_webhook_signed_dead_lettered_and_requeued(live: LiveServer) -> None:
    verify = load_reference_verifier()
    with Receiver() as receiver:
        with live.client("admin") as admin:
            config = admin.put("/v1/workspaces/default/config", json={"webhook_url": receiver.url}).json()
        secret = config["webhook_secret"]
        assert secret.startswith("whsec_")
        ids = seed_drafts(live.engine, 2)
        receiver.fail_all = True
        with live.client("cm") as cm:
            assert cm.post(f"/v1/drafts/{ids[0]}/approve", headers={"If-Match": "1"}).status_code == 200
            # max attempts is 2 in this server (see below): both fail, the delivery is dead-lettered
            failed = wait_for(lambda: cm.get("/v1/deliveries", params={"status": "failed"}).json()["data"],
                              timeout=60)
            assert failed[0]["attempts"] == 2 and "503" in failed[0]["last_error"]
            assert cm.get(f"/v1/drafts/{ids[0]}").json()["status"] == "delivery_failed"
            receiver.fail_all = False
            requeued = cm.post(f"/v1/deliveries/{failed[0]['id']}/requeue")
            assert requeued.status_code == 200 and requeued.json()["status"] == "pending"
            assert cm.post(f"/v1/deliveries/{failed[0]['id']}/requeue").status_code in (200, 409)
            assert cm.post(f"/v1/drafts/{ids[1]}/approve", headers={"If-Match": "1"}).status_code == 200
            wait_for(lambda: cm.get("/v1/deliveries", params={"status": "delivered"}).json()["count"] == 2)
            assert cm.get(f"/v1/drafts/{ids[0]}").json()["status"] == "delivered"
            assert cm.post(f"/v1/deliveries/{failed[0]['id']}/requeue").status_code == 409
        webhook_ids = [verify(secret, headers, body) for headers, body in receiver.received]
        assert sorted(json.loads(b)["draft_id"] for _h, b in receiver.received) == ids
        assert webhook_ids[0] == failed[0]["uid"]  # a requeue keeps the webhook-id, so receivers dedupe
        with live.client("admin") as admin:
            rotated = admin.post("/v1/workspaces/default/webhook-secret").json()["webhook_secret"]
            actions = [e["action"] for e in admin.get("/v1/audit", params={"draft_id": ids[0]}).json()["data"]]
        assert rotated != secret
        assert actions == ["approve", "delivery_failed", "requeue", "delivered"]
        headers, body = receiver.received[0]
        with pytest.raises(Exception, match="no matching signature"):
            verify(rotated, headers, body)


def _signed(secret: str, body: bytes, msg_id: str | None = None, at: int | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = str(at if at is not None else int(time.time()))
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": sign(secret, msg_id, stamp, body),
            "content-type": "application/json"}


def test_inbound_webhooks_verify_signatures_and_dedupe(backend_live: LiveServer) -> None:
    with backend_live.client("admin") as admin:
        created = admin.post("/v1/webhooks/sources", json={"source": "ig-bridge", "workspace": "default"})
        assert created.status_code == 201
        secret = created.json()["secret"]
        assert admin.get("/v1/webhooks/sources").json()["data"][0]["secret"] is None  # shown once only
        assert admin.post("/v1/webhooks/sources", json={"source": "ig-bridge"}).status_code == 409
    body = json.dumps({"external_id": "ig-777", "platform": "instagram", "text": "do you ship to Canada?",
                       "author": {"id": "9", "handle": "sam"}}).encode()
    with backend_live.client(None) as anon:
        url = "/v1/webhooks/ig-bridge"
        first = anon.post(url, content=body, headers=_signed(secret, body))
        assert first.status_code == 202, first.text
        again = anon.post(url, content=body, headers=_signed(secret, body))
        assert again.status_code == 200 and again.json() == {**first.json(), "duplicate": True}
        replayed_id = _signed(secret, body, msg_id="msg_fixed")
        assert anon.post(url, content=body, headers=replayed_id).status_code == 200
        old = anon.post(url, content=body, headers=_signed(secret, body, at=int(time.time()) - 301))
        assert old.status_code == 401 and "300 s" in old.json()["detail"]
        future = anon.post(url, content=body, headers=_signed(secret, body, at=int(time.time()) + 400))
        assert future.status_code == 401
        forged = anon.post(url, content=body, headers=_signed("whsec_" + "A" * 44, body))
        assert forged.status_code == 401 and "no valid signature" in forged.json()["detail"]
        tampered = _signed(secret, body)
        assert anon.post(url, content=body.replace(b"Canada", b"Mexico"), headers=tampered).status_code == 401
        unsigned = anon.post(url, content=body, headers={"content-type": "application/json"})
        assert unsigned.status_code == 401
        assert anon.post("/v1/webhooks/nope", content=body, headers=_signed(secret, body)).status_code == 404
        bad = b'{"external_id": "x", "platform": "instagram"}'
        invalid = anon.post(url, content=bad, headers=_signed(secret, bad))
        assert invalid.status_code == 422 and "author" in invalid.json()["detail"]
    with backend_live.client("cm") as cm:
        draft = wait_for(lambda: cm.get("/v1/drafts").json()["data"])
        assert len(draft) == 1 and draft[0]["message"]["external_id"] == "ig-777"
    with backend_live.client("admin") as admin:
        rotated = admin.post("/v1/webhooks/sources/ig-bridge/rotate").json()["secret"]
        assert rotated != secret
        assert admin.delete("/v1/webhooks/sources/ig-bridge").status_code == 200
    with backend_live.client(None) as anon:
        assert anon.post("/v1/webhooks/ig-bridge", content=body, headers=_signed(rotated, body)).status_code == 404
