"""Drafting rules and LLM guards against the loopback OpenAI server: each rule has a test that fails without it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.runner import ReplyRunner
from agent.state import Author, DraftResult, InboundMessage, ReviewDecision, ReviewRequest
from agent.summary import extractive_summary
from testkit.llm_scripts import grounded_reply, invented_link_reply, long_reply, public_details_reply
from testkit.openai_stub import OpenAIStub
from tests.conftest import make_settings

RunnerFactory = Callable[..., ReplyRunner]


@pytest.fixture
def make_runner(tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub) -> Iterator[RunnerFactory]:
    runners: list[ReplyRunner] = []

    def make(**overrides: object) -> ReplyRunner:
        values: dict[str, object] = {"llm_base_url": llm_stub.base_url, "llm_api_key": "k", "llm_timeout": 5.0,
                                     "llm_max_retries": 0}
        values.update(overrides)
        settings = make_settings(tmp_path / f"r{len(runners)}", **values)
        shutil.copytree(sample_chroma, settings.chroma_dir)
        runner = ReplyRunner(settings)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def _message(text: str, number: int = 1, platform: str = "x", author: str = "a-1", **extra: object) -> InboundMessage:
    return InboundMessage(id=number, platform=platform, external_id=f"e-{number}", text=text,
                          author=Author(id=author, handle="dana_rides", display_name="Dana Smith"),
                          **extra)


def _failed(request: ReviewRequest | None) -> dict[str, str]:
    assert request is not None
    return {c.name: c.severity for c in request.checks if not c.passed}


def test_public_reply_never_carries_order_details(make_runner: RunnerFactory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(public_details_reply)
    runner = make_runner(max_revisions=0)
    question = "where is my order? it's been two weeks"
    public = runner.start("t1", _message(question))
    assert _failed(public).get("public_privacy") == "block"
    private = runner.start("t2", _message(question, number=2, public=False))
    assert "public_privacy" not in _failed(private)


def test_offline_public_reply_moves_account_details_to_dm(make_runner: RunnerFactory) -> None:
    runner = make_runner(llm_base_url=None, llm_api_key=None)
    public = runner.start("t1", _message("my order still hasn't arrived, where is my bike?"))
    assert public is not None and "Send us a DM" in public.text
    assert "public_privacy" not in _failed(public)
    private = runner.start("t2", _message("my order still hasn't arrived, where is my bike?", 2, public=False))
    assert private is not None and "Reply here" in private.text


def test_platform_length_limit_from_guidelines(make_runner: RunnerFactory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(long_reply)
    runner = make_runner(max_revisions=1)
    on_x = runner.start("t1", _message("How long does shipping to the UK take?"))
    assert _failed(on_x).get("platform_length") == "block"
    # A failing LLM draft is revised once (bounded), with the failed checks as feedback.
    assert llm_stub.calls == 2
    assert "platform_length" in llm_stub.requests[-1]["messages"][-1]["content"]
    assert on_x is not None and on_x.provenance["revisions"] == 1
    on_reddit = runner.start("t2", _message("How long does shipping to the UK take?", 2, platform="reddit"))
    assert "platform_length" not in _failed(on_reddit)


def test_links_must_come_from_the_knowledge_base(make_runner: RunnerFactory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(invented_link_reply)
    runner = make_runner(max_revisions=0)
    invented = runner.start("t1", _message("How long does shipping to the UK take?"))
    assert _failed(invented).get("links_in_kb") == "block"
    llm_stub.reply_text(json.dumps({"reply": "Hi Dana! Use the size guide: https://lumenbikes.example/sizing",
                                    "citations": ["faq-sizing"], "needs_human_answer": False, "confidence": 0.8}))
    known = runner.start("t2", _message("which frame size should I get?", 2))
    assert "links_in_kb" not in _failed(known)


def test_unsupported_sentence_fails_the_claim_check(make_runner: RunnerFactory, llm_stub: OpenAIStub) -> None:
    def invents(request: dict[str, object]) -> str:
        base = json.loads(grounded_reply(request))
        return json.dumps(base | {"reply": base["reply"][:200] + ". We also give every UK customer a free helmet."})

    llm_stub.reply_with(invents)
    request = make_runner(max_revisions=0).start("t1", _message("How long does shipping to the UK take?",
                                                                platform="reddit"))
    failed = _failed(request)
    assert failed.get("claims_supported") == "block"
    assert request is not None and "free helmet" in next(c.detail for c in request.checks
                                                         if c.name == "claims_supported")


def test_circuit_breaker_stops_calling_a_failing_endpoint(make_runner: RunnerFactory, llm_stub: OpenAIStub) -> None:
    llm_stub.fail_next(500, times=100)
    runner = make_runner(llm_breaker_failures=2, llm_breaker_cooldown=600)
    notes = [runner.start(f"t{i}", _message("How long does shipping to the UK take?", i)) for i in range(1, 4)]
    assert all(n is not None and n.composer == "offline" for n in notes)
    assert llm_stub.calls == 2, "the third draft must not reach the endpoint"
    assert "circuit breaker open" in notes[2].note  # type: ignore[union-attr]


def test_daily_token_budget_and_per_author_rate(make_runner: RunnerFactory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(grounded_reply)
    budget = make_runner(llm_daily_token_budget=1)
    assert budget.start("t1", _message("How long does shipping to the UK take?")).composer == "llm"  # type: ignore[union-attr]
    second = budget.start("t2", _message("How long does shipping to the UK take?", 2))
    assert second is not None and second.composer == "offline" and "daily token budget" in second.note

    rate = make_runner(llm_source_rate_per_hour=1)
    assert rate.start("r1", _message("How long does shipping to the UK take?")).composer == "llm"  # type: ignore[union-attr]
    again = rate.start("r2", _message("What about shipping to the EU?", 2))
    assert again is not None and again.composer == "offline" and "rate limit" in again.note
    other = rate.start("r3", _message("What about shipping to the EU?", 3, author="a-2"))
    assert other is not None and other.composer == "llm"


def _examples_shown(stub: OpenAIStub) -> str:
    prompt = str(stub.requests[-1]["messages"][-1]["content"])
    return prompt.split("APPROVED EXAMPLES:", 1)[1].split("SOURCES:", 1)[0]


def test_approved_edits_become_examples_for_similar_messages(make_runner: RunnerFactory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(grounded_reply)
    runner = make_runner()
    assert runner.start("t1", _message("How long does shipping to the UK take?")) is not None
    edited = "Hi Dana! UK delivery takes 3 to 5 working days with DPD. Team Lumen"
    assert runner.resume("t1", ReviewDecision(action="approve", text=edited, actor="cm-1")) is None
    assert runner.start("t2", _message("how many days for delivery to the UK?", 2, author="a-9")) is not None
    assert edited in _examples_shown(llm_stub)
    request = runner.pending_request("t2")
    assert request is not None and request.provenance["examples"] == ["message-1"]
    # Only approved replies teach: a rejected draft is never shown as an example.
    assert runner.start("t3", _message("Do you ship to Canada?", 3)) is not None
    runner.resume("t3", ReviewDecision(action="reject", reason="wrong"))
    runner.start("t4", _message("do you deliver to Canada?", 4, author="a-8"))
    assert _examples_shown(llm_stub).strip() == "(none)"


def test_summary_provenance_and_second_variant(make_runner: RunnerFactory, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(grounded_reply)
    request = make_runner(draft_variants=True).start(
        "t1", _message("How long does shipping to the UK take?", author_history=["Do you sell the Cargo in the UK?"])
    )
    assert request is not None
    assert request.summary["wants"].startswith("Dana") and request.summary["source"] == "extractive"
    provenance = request.provenance
    assert provenance["composer"] == "llm" and provenance["model"] and len(provenance["prompt_template"]) == 16
    assert provenance["usage"]["total_tokens"] > 0
    assert {"triage", "retrieve", "draft", "check"} <= set(provenance["latency_ms"])
    assert all(k["content_hash"] for k in provenance["knowledge"])
    assert any("platform-x" in str(g["id"]) for g in provenance["guidelines"])
    assert len(request.variants) == 1 and request.variants[0]["checks"]
    assert SECOND_ANGLE_MARK in llm_stub.requests[-1]["messages"][-1]["content"]
    assert "Do you sell the Cargo in the UK?" in llm_stub.requests[0]["messages"][-1]["content"]


SECOND_ANGLE_MARK = "second version with a different angle"


def test_summary_lists_only_the_questions_the_draft_leaves_open() -> None:
    """The extractive summary (real embeddings) matches each question against the draft's sentences; a
    salutation ("Hi Dana!") is no answer and is not scored."""
    message = _message("Hi team! What's your return window? Also, do you sell gift cards?")
    answered_one = DraftResult(composer="llm", text="Hi Dana! Our return window is 30 days from delivery.")
    summary = extractive_summary(message, answered_one)
    assert summary.open_questions == ["Also, do you sell gift cards?"]
    greeting_only = DraftResult(composer="llm", text="Hi Dana!")
    assert extractive_summary(message, greeting_only).open_questions == [
        "What's your return window?", "Also, do you sell gift cards?"]
