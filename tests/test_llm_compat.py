"""Issue 17's acceptance on loopback servers that behave like real ones: llama.cpp's server (500 on
json_schema), a json_object-only server, and a text-only server whose model writes prose around its JSON.
The reply loop, triage's LLM sentiment and a judged eval (`tone`, 3 cases) all run on each; drafts must
come from the model, and nothing is refused for its structured-output mode after the first negotiation.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.endpoints import capability_table
from agent.runner import ReplyRunner
from agent.state import Author, InboundMessage
from evals.runner import EvalRunner, RunOptions
from testkit.eval_scripts import checklist_judge, grounded_drafter
from testkit.live import make_settings
from testkit.llm_scripts import Responder, prose_around, triage_reply
from testkit.openai_stub import OpenAIStub
from tests.eval_support import seed_eval_kb

SERVERS = {
    "500 on json_schema": ("llamacpp", "json_object_schema", 1, False),
    "json_object only": ("json_object_only", "json_object", 2, False),
    "prose before JSON": ("text_only", "none", 3, True),
}
QUESTIONS = ["How long does shipping to the UK take?", "What is the return window?"]


def _model(chatty: bool) -> Responder:
    def answer(request: dict) -> str:
        system = str(request["messages"][0]["content"])
        if system.startswith("You read one message"):
            return triage_reply(request)
        if "evaluation judge" in system:
            return checklist_judge(request)
        return grounded_drafter(request)
    return prose_around(answer) if chatty else answer


@pytest.mark.parametrize("server", list(SERVERS))
def test_reply_loop_triage_and_judge_on_a_picky_server(server: str, tmp_path: Path, sample_chroma: Path,
                                                       llm_stub: OpenAIStub) -> None:
    accepts, mode, refusals, chatty = SERVERS[server]
    llm_stub.structured_output = accepts  # type: ignore[assignment]
    llm_stub.reply_with(_model(chatty))
    settings = make_settings(tmp_path, llm_base_url=llm_stub.base_url, llm_api_key="k", llm_timeout=5.0,
                             llm_concurrency=2, eval_concurrency=4)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    runner = ReplyRunner(settings)
    try:
        author = Author(id="a1", handle="dana_rides", display_name="Dana Smith")
        drafts = [runner.start(f"t{i}", InboundMessage(id=i + 1, platform="x", external_id=f"e{i}", text=text,
                                                       author=author)) for i, text in enumerate(QUESTIONS)]
        assert llm_stub.refusals == refusals, "each refused mode once, during the first negotiation"
        triage = runner.runtime.triager.triage(InboundMessage(
            id=9, platform="x", external_id="e9", text="Third email and still no refund. Unacceptable.",
            author=Author(id="a9", handle="mo")), use_llm=True)
    finally:
        runner.close()
    for draft in drafts:
        assert draft is not None and draft.composer == "llm", draft.note if draft else "no draft"
        assert draft.citations and draft.checks  # grounded, and checked like any draft
        assert draft.usage["llm_calls"] >= 1
    assert drafts[1] is not None and drafts[1].usage["llm_calls"] == 1  # negotiated once: one call per draft
    assert (triage.sentiment, triage.sentiment_source, triage.sentiment_note) == ("negative", "llm", "")

    seed_eval_kb(settings, sample_chroma)
    result = EvalRunner(settings, RunOptions(suites=["tone"], limit=3)).execute()
    judge = result.summary["judge"]
    assert judge["items"] > 0 and judge["errors"] == 0 and judge["passed"] + judge["failed"] == judge["items"]
    assert llm_stub.refusals == refusals, "nothing refused for its mode after the first negotiation"
    modes = {(r.get("response_format") or {}).get("type", "none") for r in llm_stub.requests[refusals:]}
    assert modes == {"json_object" if mode.startswith("json_object") else mode}
    refused = [str(said) for row in capability_table() if row["endpoint"] == llm_stub.base_url
               for said in dict(row["refused"]).values()]  # type: ignore[call-overload]
    assert len(refused) == refusals and not any("File " in said or "/srv/" in said for said in refused), refused


def test_a_confidence_in_percent_or_out_of_range_costs_no_draft(tmp_path: Path, sample_chroma: Path,
                                                                 llm_stub: OpenAIStub) -> None:
    """SmolLM2 on llama.cpp wrote "confidence": 5 and 85 under a grammar (a grammar cannot bound a JSON
    number): the draft fell back to the offline composer. A share in percent is read as percent, anything
    else is clamped; the draft stays the model's."""
    def model(request: dict) -> str:
        system = str(request["messages"][0]["content"])
        if system.startswith("You read one message"):
            return json.dumps(json.loads(triage_reply(request)) | {"score": -3})
        return json.dumps(json.loads(grounded_drafter(request)) | {"confidence": 85})

    llm_stub.reply_with(model)
    settings = make_settings(tmp_path, llm_base_url=llm_stub.base_url, llm_api_key="k", llm_timeout=5.0)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    runner = ReplyRunner(settings)
    try:
        draft = runner.start("t1", InboundMessage(id=1, platform="x", external_id="e1", text=QUESTIONS[0],
                                                  author=Author(id="a1", handle="dana_rides")))
        triage = runner.runtime.triager.triage(InboundMessage(
            id=2, platform="x", external_id="e2", text="Third email and still no refund. Unacceptable.",
            author=Author(id="a2", handle="mo")), use_llm=True)
    finally:
        runner.close()
    assert draft is not None and draft.composer == "llm", draft.note if draft else "no draft"
    assert draft.citations and draft.usage["llm_calls"] == 1  # read on the first answer: no repair round
    assert (triage.sentiment_source, triage.sentiment_score) == ("llm", -1.0)


def test_an_answer_cut_off_in_a_loop_is_asked_again_with_a_repetition_penalty(
        tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub) -> None:
    """SmolLM2 under llama.cpp's grammar looped inside the reply string until max_tokens cut the JSON off
    (4 of 20 drafts lost). The stub, like a real server, stops at max_tokens with finish_reason "length";
    the second ask starts afresh with a frequency penalty instead of showing the model its own loop."""
    def model(request: dict) -> str:
        if "frequency_penalty" in request:
            return grounded_drafter(request)
        return '{"reply": "Hi! ' + "so so so " * 2000

    llm_stub.reply_with(model)
    settings = make_settings(tmp_path, llm_base_url=llm_stub.base_url, llm_api_key="k", llm_timeout=5.0,
                             llm_max_tokens=300)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    runner = ReplyRunner(settings)
    try:
        draft = runner.start("t1", InboundMessage(id=1, platform="x", external_id="e1", text=QUESTIONS[0],
                                                  author=Author(id="a1", handle="dana_rides")))
    finally:
        runner.close()
    assert draft is not None and draft.composer == "llm", draft.note if draft else "no draft"
    assert draft.usage["llm_calls"] == 2
    first, second = llm_stub.requests[-2:]
    assert (first.get("frequency_penalty"), second.get("frequency_penalty")) == (None, 0.6)
    assert second["messages"] == first["messages"]  # asked afresh: its own loop is not shown back to it
