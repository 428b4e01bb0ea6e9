"""Eval runs end to end: the real agent graph, the loopback LLM as drafter and judge, the cache,
repeats, injected judge faults, and the stored run served by the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evals.runner import EvalRunner, RunOptions, RunResult
from evals.store import get_cases, open_engine
from ground.settings import Settings
from testkit.eval_scripts import eval_model
from testkit.openai_stub import OpenAIStub
from tests.eval_support import eval_settings

RUBRIC = ["Does the reply address the author by name ({author_name})?", "Does the reply contain no emoji?",
          "Is the reply polite?"]


def _suite(path: Path, cases: int = 3) -> str:
    questions = ["how much is UK delivery?", "what's your return window?", "how long does the Cargo take to charge?",
                 "is there a student discount?"]
    body = {"name": "mini", "rubric": RUBRIC, "cases": [
        {"id": f"m{i}", "message": {"text": questions[i % len(questions)], "platform": "x",
                                    "author": {"id": f"u{i}", "handle": f"h{i}", "display_name": f"Name{i} X"}},
         "expect": {"addresses_author": True}} for i in range(cases)]}
    path.write_text(yaml.safe_dump(body))
    return str(path)


def _run(settings: Settings, suite: str, **options: Any) -> RunResult:
    return EvalRunner(settings, RunOptions(suites=[suite], **options)).execute()


def test_second_run_is_served_from_cache_and_repeats_are_not_collapsed(tmp_path, sample_chroma, llm_stub) -> None:
    llm_stub.reply_with(eval_model)
    settings = eval_settings(tmp_path, sample_chroma, llm_base_url=llm_stub.base_url, llm_api_key="k", llm_timeout=5.0)
    suite = _suite(tmp_path / "mini.yaml")

    first = _run(settings, suite, repeats=2, concurrency=4)
    per_sample = 1 + len(RUBRIC)  # one draft call and one call per checklist item
    assert llm_stub.calls == 3 * 2 * per_sample == first.summary["calls"]["ok"]
    assert first.summary["samples"] == {"total": 6, "scored": 6, "errors": 0}
    assert first.summary["judge"]["items"] == 3 * 2 * len(RUBRIC)
    assert first.summary["tokens"]["prompt"] > 0 and first.summary["cost"]["usd"] is not None
    assert first.summary["params_sent"]["judge"]["temperature"] == 0 and "seed" in first.summary["params_sent"]["judge"]

    second = _run(settings, suite, repeats=2, concurrency=4)
    assert llm_stub.calls == 3 * 2 * per_sample, "a second identical run makes no call"
    assert second.summary["calls"]["cache_hit_rate"] == 1.0 and second.summary["calls"]["ok"] == 0
    assert second.summary["tokens"]["prompt"] == 0 and second.summary["tokens"]["cached_prompt"] > 0
    assert second.summary["totals"] == first.summary["totals"]

    _run(settings, suite, repeats=3, concurrency=4)
    assert llm_stub.calls == 3 * 3 * per_sample, "only the new repeat index is a new sample"


def _judge_only(tmp_path: Path, sample_chroma: Path, stub: OpenAIStub, name: str) -> Settings:
    # Offline drafts, LLM judge: injected faults can only hit judge calls.
    return eval_settings(tmp_path / name, sample_chroma, eval_judge_base_url=stub.base_url, eval_judge_api_key="k",
                         eval_judge_timeout=1.0, eval_judge_max_retries=2)


def test_injected_judge_faults_are_retried_or_marked_error(tmp_path, sample_chroma, llm_stub) -> None:
    llm_stub.reply_with(eval_model)
    suite = _suite(tmp_path / "mini.yaml", cases=4)
    reference = _run(_judge_only(tmp_path, sample_chroma, llm_stub, "ref"), suite, concurrency=1)
    truth = _verdicts(reference)
    assert set(truth.values()) <= {"pass", "fail"} and reference.summary["judge"]["errors"] == 0

    settings = _judge_only(tmp_path, sample_chroma, llm_stub, "faults")
    llm_stub.reset()
    llm_stub.reply_with(eval_model)
    # Concurrency 1 makes the order exact: the first item's 3 attempts get 500 (SDK retries exhausted:
    # error); the second item gets a 429 then succeeds; the third hangs past the timeout, then succeeds.
    llm_stub.fail_next(500, times=3)
    llm_stub.fail_next(429, retry_after=0)
    llm_stub.hang_next(3.0)
    faulty = _run(settings, suite, concurrency=1)
    stats = faulty.summary["llm"]["judge"]
    assert stats["failed"] == {"500": 3, "429": 1, "timeout": 1}
    assert stats["attempts"] == stats["ok"] + 5 == llm_stub.calls
    judge = faulty.summary["judge"]
    assert judge["errors"] == 1 and judge["passed"] + judge["failed"] + judge["errors"] == judge["items"] == 12
    verdicts = _verdicts(faulty)
    assert verdicts["m0"] == "error", "the item that never got an answer makes its case an error"
    assert {k: v for k, v in verdicts.items() if k != "m0"} == {k: v for k, v in truth.items() if k != "m0"}
    totals = faulty.summary["totals"]
    assert totals["pass"] + totals["fail"] + totals["flaky"] + totals["error"] == totals["cases"] == 4
    assert faulty.summary["samples"]["errors"] == 1
    assert any("500" in note and "failed attempts" in note for note in faulty.notes)
    error_item = next(i for s in faulty_samples(settings, faulty.run_id, "m0") for i in s)
    assert error_item["error"] == "judge call failed after retries: HTTP 500" and error_item["passed"] is None

    calls = llm_stub.calls
    rerun = _run(settings, suite, concurrency=1)
    assert llm_stub.calls == calls + 1, "only the errored item is asked again; errors are never cached"
    assert _verdicts(rerun) == truth


def faulty_samples(settings: Settings, run_id: int, case_id: str) -> list[list[dict[str, Any]]]:
    case = next(c for c in get_cases(open_engine(settings), run_id) if c.case_id == case_id)
    return [[item for score in s["scores"] for item in score.get("items", []) if item.get("error")]
            for s in case.samples]


def _verdicts(result: RunResult) -> dict[str, str]:
    return {key.split("/", 1)[1]: verdict for key, verdict in result.verdicts.items()}
