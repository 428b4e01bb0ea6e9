"""``replydesk eval`` as CI uses it: run, gate on a baseline, compare, report, dry-run; and the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ground import settings as settings_module
from replydesk.cli import app
from testkit.eval_scripts import DEGRADED_PROMPT, JUDGE_MARKER, eval_model
from testkit.live import LiveServer, make_settings
from testkit.openai_stub import OpenAIStub
from tests.eval_support import seed_eval_kb

runner = CliRunner()
# The stub drafter answers from the first source only (a real model reads all five), so which cases pass
# moves with near-ties in retrieval: the connectors' two platform guidelines shifted BM25's IDF and put the
# warranty-claim FAQ a hair (fused 0.125 vs 0.122) above the battery-warranty one, and the first 12 cases
# passed 7 (the McNemar gate needs 8 flips for p < 0.01). Fourteen cases keep the gate's precondition.
CASES = "14"


@pytest.fixture
def cli_env(tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    llm_stub.reply_with(eval_model)
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPLYDESK_LLM_BASE_URL", llm_stub.base_url)
    monkeypatch.setenv("REPLYDESK_LLM_API_KEY", "test-key")
    monkeypatch.setenv("REPLYDESK_EVAL_CONCURRENCY", "4")
    settings_module.get_settings.cache_clear()
    seed_eval_kb(settings_module.get_settings(), sample_chroma)
    yield tmp_path
    settings_module.get_settings.cache_clear()


def _run(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["eval", "run", *args, "--json"])
    out = result.stdout.strip().splitlines()
    if out and out[-1].startswith("{"):
        return result.exit_code, json.loads(out[-1])
    return result.exit_code, {"output": result.output, "exception": repr(result.exception)}


def test_fail_on_regression_fails_a_degraded_prompt_and_passes_the_baseline(cli_env: Path) -> None:
    code, base = _run("accuracy", "--limit", CASES, "--label", "baseline")
    assert code == 0, base
    baseline = str(base["run_id"])
    assert base["summary"]["totals"]["pass"] >= 8, base["summary"]["totals"]

    degraded = cli_env / "degraded.yaml"
    degraded.write_text(DEGRADED_PROMPT)
    result = runner.invoke(app, ["eval", "run", "accuracy", "--limit", CASES, "--prompt", str(degraded),
                                 "--baseline", baseline, "--fail-on-regression"])
    assert result.exit_code == 1, result.output
    assert "regression against run" in result.output and "McNemar" in result.output

    code, same = _run("accuracy", "--limit", CASES, "--baseline", baseline, "--fail-on-regression")
    assert code == 0, same
    assert same["gate"]["regression"] is False and same["gate"]["pass_to_fail"] == 0
    assert same["summary"]["calls"]["cache_hit_rate"] == 1.0

    compared = runner.invoke(app, ["eval", "compare", baseline, str(int(baseline) + 1), "--json"])
    assert compared.exit_code == 0, compared.output
    report = json.loads(compared.stdout)
    assert report["regression"] and report["pass_to_fail"] >= 8 and report["p_value"] < 0.01
    assert any(flip.endswith("pass→fail") for flip in report["flips"])
    assert all(d["delta"] is not None for d in report["deltas"])

    missing = runner.invoke(app, ["eval", "run", "accuracy", "--baseline", "999", "--fail-on-regression"])
    assert missing.exit_code == 1 and "eval run 999 not found" in missing.output


def _markup_drafter(request: dict) -> str:
    if JUDGE_MARKER in request["messages"][0]["content"]:
        return eval_model(request)
    return json.dumps({"reply": "Hi! <img src=x onerror=alert(1)> see you", "citations": [],
                       "needs_human_answer": True, "confidence": 0.5})


def test_report_is_self_contained_html_with_charts(cli_env: Path, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_with(_markup_drafter)
    code, first = _run("tone", "--limit", "4")
    assert code == 0, first
    _run("tone", "--limit", "4", "--repeats", "2")
    out = cli_env / "reports"
    result = runner.invoke(app, ["eval", "report", "latest", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = next(out.glob("*.html")).read_text()
    assert html.count("<svg") == 4 and "<script" not in html and "<link" not in html
    assert "Run-over-run pass rate" in html and "Score distribution" in html and "Verdicts per suite" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html  # drafts are text, never markup
    assert next(out.glob("*.md")).read_text().startswith("# Eval run 2")
    data = json.loads(next(out.glob("*.json")).read_text())
    assert data["run"]["config"]["repeats"] == 2 and len(data["cases"]) == 4
    assert data["run"]["git_commit"] and data["run"]["knowledge_hash"] and data["run"]["prompt_hash"]


def test_dry_run_estimates_calls_and_tokens(cli_env: Path, llm_stub: OpenAIStub) -> None:
    result = runner.invoke(app, ["eval", "run", "accuracy", "triage", "--limit", "5", "--repeats", "2",
                                 "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    rows = {r["suite"]: r for r in plan["suites"]}
    assert rows["accuracy"]["draft_calls"] == 10 and rows["accuracy"]["judge_calls"] == 30
    assert plan["calls"]["draft"]["prompt_tokens"] > 1000 and plan["cost_usd"] is not None
    assert llm_stub.calls == 0


def test_runs_without_any_llm_say_so(tmp_path: Path, sample_chroma: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPLYDESK_EVAL_SHARED_DATA", str(tmp_path / "no-shared-data"))
    settings_module.get_settings.cache_clear()
    seed_eval_kb(settings_module.get_settings(), sample_chroma)
    try:
        code, out = _run("tone", "retrieval", "safety", "--limit", "3")
        only_safety = runner.invoke(app, ["eval", "run", "safety"])
    finally:
        settings_module.get_settings.cache_clear()
    assert code == 0, out
    assert any("no judge endpoint configured" in n for n in out["notes"])
    assert any("'safety' needs garak_injection, bipia" in n and "skipped" in n for n in out["notes"])
    assert set(out["summary"]["suites"]) == {"tone", "retrieval"}
    assert only_safety.exit_code == 1 and "no suite could run" in only_safety.output
    assert out["summary"]["judge"] == {"enabled": False, "items": 0, "passed": 0, "failed": 0, "errors": 0}
    assert out["summary"]["suites"]["retrieval"]["metrics"]["recall@5"] == 1.0


def test_api_serves_stored_runs(tmp_path: Path, sample_chroma: Path) -> None:
    from evals.runner import EvalRunner, RunOptions
    from tests.eval_support import eval_settings

    settings = eval_settings(tmp_path, sample_chroma)
    run = EvalRunner(settings, RunOptions(suites=["triage"], limit=4)).execute()
    server = LiveServer(make_settings(tmp_path, worker_enabled=False)).start()
    try:
        with server.client("viewer") as client:
            listed = client.get("/v1/evals/runs", params={"suite": "triage"}).json()
            assert listed["count"] == 1 and listed["data"][0]["id"] == run.run_id
            assert listed["data"][0]["summary"]["totals"]["cases"] == 4
            detail = client.get(f"/v1/evals/runs/{run.run_id}").json()
            assert len(detail["cases"]) == 4 and detail["config"]["suites"][0]["name"] == "triage"
            assert client.get(f"/v1/evals/runs/{run.run_id}", params={"verdict": "bogus"}).status_code == 422
            missing = client.get("/v1/evals/runs/999")
            assert (missing.status_code, missing.json()["detail"]) == (404, "eval run not found")
        with server.client(None) as anonymous:
            assert anonymous.get("/v1/evals/runs").status_code == 401
    finally:
        server.stop()
