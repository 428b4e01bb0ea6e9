"""The whole loop over real HTTP: message → draft → edit → approve → exactly one delivery."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import LiveServer, message_body, wait_for, wait_for_draft


def test_message_to_delivery_with_edit(live: LiveServer) -> None:
    with live.client("cm") as client:
        accepted = client.post("/v1/messages", json=message_body())
        assert accepted.status_code == 202
        message_id = accepted.json()["id"]

        draft = wait_for_draft(client, message_id)
        assert draft["composer"] == "offline"
        assert draft["citations"], "a grounded draft cites its knowledge source"
        assert draft["citations"][0]["id"] == "faq-shipping-uk"
        assert "Dana" in draft["text"]
        assert {c["name"] for c in draft["checks"]} >= {"citations_valid", "platform_length", "links_in_kb"}

        got = client.get(f"/v1/drafts/{draft['id']}")
        assert got.headers["etag"] == '"1"'
        edited = client.patch(
            f"/v1/drafts/{draft['id']}", json={"text": "Hi Dana! UK orders arrive in 3-5 days."},
            headers={"If-Match": got.headers["etag"]},
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["version"] == 2

        approved = client.post(f"/v1/drafts/{draft['id']}/approve", headers={"If-Match": "2"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"

        deliveries = wait_for(
            lambda: [d for d in client.get("/v1/deliveries", params={"draft_id": draft["id"]}).json()["data"]
                     if d["status"] == "delivered"]
        )
        assert len(deliveries) == 1
        assert deliveries[0]["text"] == "Hi Dana! UK orders arrive in 3-5 days."
        assert client.get(f"/v1/drafts/{draft['id']}").json()["status"] == "delivered"

    lines = live.settings.delivery_log.read_text().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["Hi Dana! UK orders arrive in 3-5 days."]


def test_rejected_draft_is_never_delivered(live: LiveServer) -> None:
    with live.client("cm") as client:
        message_id = client.post("/v1/messages", json=message_body("m-rej")).json()["id"]
        kept = client.post("/v1/messages", json=message_body("m-wait", "What is the return window?")).json()["id"]
        draft = wait_for_draft(client, message_id)
        wait_for_draft(client, kept)
        rejected = client.post(
            f"/v1/drafts/{draft['id']}/reject", json={"reason": "off brand"}, headers={"If-Match": "1"}
        )
        assert rejected.status_code == 200
        assert rejected.json()["status"] == "rejected"
        # After the reject's resume job has run, still nothing has been delivered for either draft.
        wait_for(lambda: 'replydesk_jobs{status="queued"}' not in client.get("/metrics").text)
        again = client.post(f"/v1/drafts/{draft['id']}/approve", headers={"If-Match": "2"})
        assert again.status_code == 409
        assert client.get("/v1/deliveries").json()["count"] == 0
    assert not live.settings.delivery_log.exists()


def test_concurrent_approvals_deliver_once(live: LiveServer) -> None:
    with live.client("cm") as client:
        message_id = client.post("/v1/messages", json=message_body("m-race")).json()["id"]
        draft = wait_for_draft(client, message_id)

    def approve(_: int) -> int:
        with live.client("cm") as c:
            return c.post(f"/v1/drafts/{draft['id']}/approve", headers={"If-Match": "1"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(approve, range(8)))
    assert codes.count(200) == 1
    assert all(code in (409, 412) for code in codes if code != 200)
    with live.client("viewer") as client:
        wait_for(lambda: client.get("/v1/deliveries", params={"status": "delivered"}).json()["count"] == 1)
        assert client.get("/v1/deliveries").json()["count"] == 1


def test_regenerate_gives_a_new_pending_version(live: LiveServer) -> None:
    with live.client("cm") as client:
        message_id = client.post("/v1/messages", json=message_body("m-regen")).json()["id"]
        draft = wait_for_draft(client, message_id)
        response = client.post(
            f"/v1/drafts/{draft['id']}/regenerate", json={"instructions": "shorter"}, headers={"If-Match": "1"}
        )
        assert response.status_code == 200
        assert response.json()["status"] == "regenerating"
        fresh = wait_for(lambda: (d := client.get(f"/v1/drafts/{draft['id']}").json())["status"] == "pending" and d)
        assert fresh["version"] == 3
        assert client.get("/v1/deliveries").json()["count"] == 0


def test_escalated_message_reaches_the_queue(live: LiveServer) -> None:
    text = "My battery caught fire while charging last night, my lawyer will be in touch"
    with live.client("cm") as client:
        message_id = client.post("/v1/messages", json=message_body("m-fire", text)).json()["id"]
        item = wait_for_draft(client, message_id)
        assert item["route"] == "escalate"
        assert item["text"] == ""
        assert "safety" in item["triage"]["risk_flags"]
        empty = client.post(f"/v1/drafts/{item['id']}/approve", headers={"If-Match": "1"})
        assert empty.status_code == 400
        assert "nothing to send" in empty.json()["detail"]
