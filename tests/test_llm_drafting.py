"""The LLM drafting path against a loopback OpenAI-protocol server: structure, fallbacks, faults."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.runner import ReplyRunner
from agent.state import Author, InboundMessage, ReviewDecision, ThreadTurn
from testkit.llm_scripts import fenced, grounded_reply
from testkit.openai_stub import OpenAIStub
from tests.conftest import LiveServer, make_settings, message_body, wait_for_draft


def _message(text: str = "How long does shipping to the UK take?", **extra: object) -> InboundMessage:
    return InboundMessage(
        id=1, platform="x", external_id="e-1", text=text,
        author=Author(id="a", handle="dana_rides", display_name="Dana Smith"), **extra,
    )


@pytest.fixture
def runner_factory(tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub) -> Iterator[object]:
    runners: list[ReplyRunner] = []

    def make(**overrides: object) -> ReplyRunner:
        values: dict[str, object] = {"llm_base_url": llm_stub.base_url, "llm_api_key": "test-key",
                                     "llm_timeout": 5.0, "llm_max_retries": 2}
        values.update(overrides)
        settings = make_settings(tmp_path / f"r{len(runners)}", **values)
        shutil.copytree(sample_chroma, settings.chroma_dir)
        runner = ReplyRunner(settings)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def test_structured_output_draft_is_grounded(runner_factory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(grounded_reply)
    request = runner_factory().start("t1", _message())
    assert request is not None
    assert request.composer == "llm"
    assert [c.id for c in request.citations] == ["faq-shipping-uk"]
    assert request.text.startswith("Hi Dana!")
    assert request.usage["total_tokens"] > 0
    sent = llm_stub.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert "[faq-shipping-uk]" in sent["messages"][-1]["content"]


def test_server_without_json_schema_falls_back_to_plain_json(runner_factory, llm_stub: OpenAIStub) -> None:
    llm_stub.json_schema_supported = False
    llm_stub.reply_with(fenced)
    runner = runner_factory()
    request = runner.start("t1", _message())
    assert request is not None and request.composer == "llm"
    assert [c.id for c in request.citations] == ["faq-shipping-uk"]
    assert llm_stub.requests[-1]["response_format"]["type"] == "json_object"
    # The fallback is remembered: the next draft goes straight to the mode that worked.
    calls = llm_stub.calls
    runner.start("t2", _message("What is the return window?"))
    assert llm_stub.calls == calls + 1 and llm_stub.refusals == 1


def test_rate_limit_then_success(runner_factory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(grounded_reply)
    llm_stub.fail_next(429, retry_after=0)
    request = runner_factory().start("t1", _message())
    assert request is not None and request.composer == "llm"
    assert llm_stub.calls == 2


def test_timeout_falls_back_to_offline_composer(runner_factory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(grounded_reply)
    llm_stub.hang_next(30, times=5)
    request = runner_factory(llm_timeout=0.3, llm_max_retries=1).start("t1", _message())
    assert request is not None
    assert request.composer == "offline"
    assert "LLM unavailable" in request.note
    assert "the model did not answer within" in request.note  # the retry waited 4x longer: 1.2 s
    assert [c.id for c in request.citations] == ["faq-shipping-uk"]


def test_malformed_output_is_retried_then_falls_back(runner_factory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(grounded_reply)
    llm_stub.malformed_next(times=1)
    first = runner_factory().start("t1", _message())
    assert first is not None and first.composer == "llm"
    llm_stub.malformed_next(times=2)
    second = runner_factory().start("t2", _message())
    assert second is not None and second.composer == "offline"
    assert "not the JSON asked for, even after one repair" in second.note


def test_a_failed_revision_keeps_the_models_draft_with_its_failed_checks(runner_factory, llm_stub: OpenAIStub) -> None:
    """The first draft states a figure no source has, so the self-check asks for a revision; the revision
    answer is unusable. The model's own draft stays (flagged by its checks), not an offline composer's."""
    def model(request: dict) -> str:
        if any("Your previous draft failed these checks" in str(m["content"]) for m in request["messages"]):
            return "I'm sorry, I can't"
        return json.dumps({"reply": "Hi Dana! UK delivery takes 17 days.", "citations": ["faq-shipping-uk"],
                           "needs_human_answer": False, "confidence": 0.8})

    llm_stub.reply_with(model)
    request = runner_factory().start("t1", _message())
    assert request is not None
    assert (request.composer, request.text) == ("llm", "Hi Dana! UK delivery takes 17 days.")
    assert "could not revise its draft" in request.note
    assert "numbers_in_sources" in {c.name for c in request.checks if not c.passed}
    revisions = [r for r in llm_stub.requests if any("Your previous draft failed" in str(m["content"])
                                                     for m in r["messages"])]
    assert len(revisions) == 2  # the revision and its one repair round


def test_citations_of_unknown_sources_are_dropped(runner_factory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_text(json.dumps({"reply": "Hi Dana! Shipping is free, see https://evil.example/x",
                                    "citations": ["made-up-id"], "needs_human_answer": False, "confidence": 0.9}))
    request = runner_factory().start("t1", _message())
    assert request is not None and request.citations == []
    failed = {c.name for c in request.checks if not c.passed}
    assert {"citations_valid", "links_in_kb"} <= failed


def test_regenerate_sends_reviewer_instructions(runner_factory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(grounded_reply)
    runner = runner_factory()
    thread = [ThreadTurn(author="dana", text="I'm looking at the Lumen Cargo")]
    assert runner.start("t1", _message("how long does it take to charge?", thread=thread)) is not None
    again = runner.resume("t1", ReviewDecision(action="regenerate", instructions="mention the fast charger"))
    assert again is not None
    assert "mention the fast charger" in llm_stub.requests[-1]["messages"][-1]["content"]
    assert "I'm looking at the Lumen Cargo" in llm_stub.requests[-1]["messages"][-1]["content"]
    assert runner.resume("t1", ReviewDecision(action="approve", text="ok")) is None
    assert runner.final_state("t1")["outcome"] == "approved"


def test_llm_endpoint_down_still_queues_a_draft_over_http(
    tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub
) -> None:
    llm_stub.fail_next(500, times=10)
    settings = make_settings(tmp_path, llm_base_url=llm_stub.base_url, llm_api_key="k", llm_max_retries=1)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    server = LiveServer(settings).start()
    try:
        with server.client("cm") as client:
            message_id = client.post("/v1/messages", json=message_body()).json()["id"]
            draft = wait_for_draft(client, message_id)
            assert draft["composer"] == "offline"
            assert "LLM unavailable" in draft["note"]
    finally:
        server.stop()
