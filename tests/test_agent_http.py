"""The agent through the API: drafts carry summary, provenance and variants; faults never lose a message."""

from __future__ import annotations

import shutil
from pathlib import Path

from testkit.llm_scripts import grounded_reply
from testkit.openai_stub import OpenAIStub
from tests.conftest import LiveServer, make_settings, message_body, wait_for, wait_for_draft


def _server(tmp_path: Path, sample_chroma: Path, **overrides: object) -> LiveServer:
    settings = make_settings(tmp_path, **overrides)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    return LiveServer(settings).start()


def test_draft_shows_summary_provenance_and_variants(tmp_path: Path, sample_chroma: Path) -> None:
    server = _server(tmp_path, sample_chroma, draft_variants=True)
    try:
        with server.client("cm") as client:
            message_id = client.post("/v1/messages", json=message_body()).json()["id"]
            draft = wait_for_draft(client, message_id)
            assert draft["summary"]["wants"].startswith("Dana:")
            assert draft["provenance"]["composer"] == "offline"
            assert draft["provenance"]["knowledge"][0]["content_hash"]
            assert set(draft["provenance"]["latency_ms"]) >= {"triage", "retrieve", "draft", "check"}
            assert draft["variants"] and draft["variants"][0]["angle"]
            assert {c["name"] for c in draft["checks"]} >= {"claims_supported", "public_privacy", "injection"}
            assert all("severity" in c for c in draft["checks"])
    finally:
        server.stop()


def test_the_authors_earlier_messages_reach_the_model(
    tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub
) -> None:
    llm_stub.reply_with(grounded_reply)
    server = _server(tmp_path, sample_chroma, llm_base_url=llm_stub.base_url, llm_api_key="k")
    try:
        with server.client("cm") as client:
            first = client.post("/v1/messages", json=message_body("h-1", "Do you sell the Cargo in the UK?")).json()
            wait_for_draft(client, first["id"])
            second = client.post("/v1/messages", json=message_body("h-2")).json()
            draft = wait_for_draft(client, second["id"])
            assert draft["composer"] == "llm"
        prompt = llm_stub.requests[-1]["messages"][-1]["content"]
        history = prompt.split("EARLIER MESSAGES FROM THIS AUTHOR", 1)[1].split("THREAD", 1)[0]
        assert "Do you sell the Cargo in the UK?" in history
    finally:
        server.stop()


def test_a_failing_llm_endpoint_loses_no_message(tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub) -> None:
    """429s (with Retry-After), 500s, timeouts and malformed JSON: every message ends as a draft or a failure."""
    llm_stub.reply_with(grounded_reply)
    llm_stub.fail_next(429, times=3, retry_after=0)
    llm_stub.fail_next(500, times=3)
    llm_stub.hang_next(10, times=2)
    llm_stub.malformed_next(times=4)
    server = _server(tmp_path, sample_chroma, llm_base_url=llm_stub.base_url, llm_api_key="k", llm_timeout=0.5,
                     llm_max_retries=1, llm_breaker_failures=3, llm_breaker_cooldown=0.2)
    texts = ["How long does shipping to the UK take?", "What is the return window?", "Do you ship to Canada?",
             "How long does it take to charge the battery?", "Which bikes do you sell?", "Is there a warranty?",
             "Can I pay with Klarna?", "How do I pair the app?"]
    try:
        with server.client("cm") as client:
            ids = [client.post("/v1/messages", json=message_body(f"f-{i}", text)).json()["id"]
                   for i, text in enumerate(texts)]

            def settled() -> list[dict[str, object]] | None:
                messages = [client.get(f"/v1/messages/{i}").json() for i in ids]
                return messages if all(m["status"] in ("drafted", "failed") for m in messages) else None

            messages = wait_for(settled, timeout=180)
            drafts = client.get("/v1/drafts", params={"limit": 200}).json()["data"]
            drafted = {d["message_id"]: d for d in drafts}
            for message in messages:
                assert (message["status"] == "failed" and message["error"]) or message["id"] in drafted
            composers = {d["composer"] for d in drafted.values()}
            assert "offline" in composers, "faults must fall back to the offline composer"
            fallbacks = [d for d in drafted.values() if d["composer"] == "offline"]
            assert all("LLM unavailable" in d["note"] for d in fallbacks)
    finally:
        server.stop()
