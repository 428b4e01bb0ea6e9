"""Bad, unknown and duplicate input gets a 4xx with a clear detail, never a 500."""

from __future__ import annotations

from tests.conftest import LiveServer, message_body, wait_for_draft


def test_duplicate_message_is_one_message(live: LiveServer) -> None:
    with live.client("cm") as client:
        first = client.post("/v1/messages", json=message_body("dup-1"))
        second = client.post("/v1/messages", json=message_body("dup-1"))
        assert first.status_code == 202
        assert second.status_code == 200
        assert second.json()["id"] == first.json()["id"]
        assert second.json()["duplicate"] is True
        wait_for_draft(client, first.json()["id"])
        assert client.get("/v1/drafts").json()["count"] == 1


def test_ill_formed_messages_get_422(live: LiveServer) -> None:
    with live.client("cm") as client:
        missing = client.post("/v1/messages", json={"platform": "x", "text": "hi"})
        assert missing.status_code == 422
        assert "external_id" in missing.json()["detail"]
        blank = client.post("/v1/messages", json=message_body("b-1", "   "))
        assert blank.status_code == 422
        assert "text" in blank.json()["detail"]
        not_json = client.post("/v1/messages", content=b"{not json", headers={"content-type": "application/json"})
        assert not_json.status_code == 422
        extra = client.post("/v1/messages", json=message_body("b-2", approved=True))
        assert extra.status_code == 422
        assert "approved" in extra.json()["detail"]


def test_unknown_and_stale_drafts(live: LiveServer) -> None:
    with live.client("cm") as client:
        assert client.get("/v1/drafts/999").status_code == 404
        assert client.get("/v1/drafts/999").json()["detail"] == "draft not found"
        missing = client.post("/v1/drafts/999/approve", headers={"If-Match": "1"})
        assert missing.status_code == 404
        draft = wait_for_draft(client, client.post("/v1/messages", json=message_body("s-1")).json()["id"])
        no_precondition = client.post(f"/v1/drafts/{draft['id']}/approve")
        assert no_precondition.status_code == 428
        stale = client.post(f"/v1/drafts/{draft['id']}/approve", headers={"If-Match": "7"})
        assert stale.status_code == 412
        assert "version 1" in stale.json()["detail"]
        garbage = client.post(f"/v1/drafts/{draft['id']}/approve", headers={"If-Match": "abc"})
        assert garbage.status_code == 400
        empty_edit = client.patch(f"/v1/drafts/{draft['id']}", json={"text": ""}, headers={"If-Match": "1"})
        assert empty_edit.status_code == 422
        assert client.get("/v1/deliveries").json()["count"] == 0


def test_auth_and_roles(live: LiveServer) -> None:
    with live.client(None) as anonymous:
        assert anonymous.get("/v1/drafts").status_code == 401
        assert anonymous.get("/healthz").status_code == 200
    with live.client("cm") as client:
        draft = wait_for_draft(client, client.post("/v1/messages", json=message_body("r-1")).json()["id"])
    with live.client("viewer") as viewer:
        assert viewer.get("/v1/drafts").status_code == 200
        denied = viewer.post(f"/v1/drafts/{draft['id']}/approve", headers={"If-Match": "1"})
        assert denied.status_code == 403
        assert "cm role" in denied.json()["detail"]
        assert viewer.post("/v1/messages", json=message_body("r-2")).status_code == 403
    bad = live.client("cm")
    bad.headers["Authorization"] = "Bearer rdk_not-a-real-key"
    assert bad.get("/v1/drafts").status_code == 401
    bad.close()


def test_knowledge_search_over_http(live: LiveServer) -> None:
    with live.client("viewer") as client:
        query = {"query": "how long to charge", "context": "the Cargo", "k": 3}
        response = client.post("/v1/knowledge/search", json=query)
        assert response.status_code == 200
        hits = response.json()["hits"]
        assert len(hits) == 3
        assert "faq-charging-time" in [h["id"] for h in hits]
        assert hits[0]["score"] >= hits[1]["score"]
        bad_filter = client.post("/v1/knowledge/search", json={"query": "x", "filters": {"colour": "red"}})
        assert bad_filter.status_code == 400
        assert "unknown filter" in bad_filter.json()["detail"]
        assert client.post("/v1/knowledge/search", json={"query": ""}).status_code == 422
