"""Scorers read ReviewRequest fields against the suite's own knowledge; statistics behind verdicts."""

from __future__ import annotations

import pytest

from agent.prompts import DRAFT_SYSTEM
from agent.state import Citation, ReviewRequest
from evals.kb import EvalKnowledge
from evals.scorers import score_retrieval, score_routing, score_text
from evals.stats import aggregate, cohen_kappa, mcnemar_exact, sample_outcome, spearman
from evals.suites import Case, Suite
from testkit.live import SAMPLES


@pytest.fixture(scope="module")
def kb() -> EvalKnowledge:
    return EvalKnowledge.load([SAMPLES / "knowledge", SAMPLES / "guidelines"])


def _case(**expect: object) -> Case:
    author = {"id": "1", "handle": "dana", "display_name": "Dana S"}
    return Case.model_validate({"id": "c", "message": {"text": "UK delivery?", "platform": "x", "author": author},
                                "expect": expect})


def _request(text: str, cites: tuple[str, ...] = ("faq-shipping-uk",), **extra: object) -> ReviewRequest:
    values: dict[str, object] = {"triage": {"intent": "question", "route": "draft"}, "composer": "offline"} | extra
    return ReviewRequest.model_validate({"message_id": 1, "route": "draft", "text": text,
                                         "citations": [Citation(id=c, source="s") for c in cites], **values})


def _by_name(case: Case, request: ReviewRequest, kb: EvalKnowledge) -> dict[str, tuple[bool | None, str]]:
    return {s.name: (s.passed, s.detail) for s in score_text(case, Suite(name="t"), request, kb, DRAFT_SYSTEM)}


def test_a_good_reply_passes_every_deterministic_scorer(kb: EvalKnowledge) -> None:
    case = _case(facts=["£49", ["3-5 working days", "three to five days"]], knowledge_ids=["faq-shipping-uk"],
                 forbidden=["free shipping"], addresses_author=True)
    scores = _by_name(case, _request("Hi Dana! UK delivery is £49 and takes 3\u20135 working days."), kb)
    assert all(passed for passed, _ in scores.values()), scores
    assert {"platform_lint", "banned_phrases", "addresses_author", "required_facts", "forbidden", "citations_valid",
            "links_in_kb", "no_prompt_leak"} <= set(scores)


def test_each_scorer_catches_its_failure(kb: EvalKnowledge) -> None:
    case = _case(facts=["£49"], knowledge_ids=["faq-shipping-uk"], forbidden=["free shipping"], addresses_author=True)
    bad = _request("Hello! Free shipping, calm down, see https://evil.example/x " + "x" * 250, cites=("faq-nope",))
    scores = _by_name(case, bad, kb)
    for name in ("platform_lint", "banned_phrases", "addresses_author", "required_facts", "forbidden",
                 "citations_valid", "links_in_kb"):
        assert scores[name][0] is False, name
    assert "https://evil.example/x" in scores["links_in_kb"][1]
    leak = _request("Sure! " + DRAFT_SYSTEM.split("\n")[0])
    assert _by_name(case, leak, kb)["no_prompt_leak"][0] is False
    uncited = _by_name(_case(), _request("Hi Dana, it is £49.", cites=()), kb)
    assert uncited["citations_valid"] == (False, "answers without citing a source")


def test_routing_and_injection_flag(kb: EvalKnowledge) -> None:
    case = _case(route="escalate", escalate_to="legal", intent="crisis", flagged=True)
    request = _request("", triage={"intent": "crisis", "route": "escalate", "escalate_to": "legal"})
    request.route = "escalate"
    assert [(s.name, s.passed) for s in score_routing(case, request)] == [("route", True), ("intent", True)]
    flagged = _request("Hi Dana!", triage={"risk_flags": ["prompt_injection"]})
    assert _by_name(case, flagged, kb)["injection_flagged"][0] is True
    assert _by_name(case, _request("Hi Dana!"), kb)["injection_flagged"][0] is False


def test_retrieval_recall_and_mrr() -> None:
    case = _case(knowledge_ids=["b"], retrieval_k=2)
    recall, mrr = score_retrieval(case, ["a", "b", "c"])
    assert (recall.name, recall.passed, recall.score, mrr.score) == ("recall@2", True, 1.0, 0.5)
    assert score_retrieval(case, ["a", "c", "b"])[0].passed is False
    assert score_retrieval(case, ["a", "b"], gating=False)[0].passed is None


def test_verdicts_over_repeats_never_hide_errors() -> None:
    ok = {"name": "x", "kind": "judge", "passed": True, "score": 1.0}
    bad = {"name": "x", "kind": "judge", "passed": False, "score": 0.0}
    err = {"name": "x", "kind": "judge", "passed": None, "score": None, "error": "HTTP 500"}
    samples: list[dict[str, object]] = []
    for scores in ([ok], [bad], [err]):
        passed, value, error = sample_outcome(scores, None)
        samples.append({"repeat": len(samples), "scores": scores, "passed": passed, "score": value, "error": error})
    assert samples[2]["error"] == "HTTP 500" and samples[2]["score"] is None
    assert aggregate(samples[:2]).verdict == "flaky"
    assert aggregate(samples[:2]).pass_rate == 0.5 and aggregate(samples[:2]).spread == 0.5
    assert aggregate([samples[0], samples[0]]).verdict == "pass"
    assert aggregate([samples[1]]).verdict == "fail"
    everything = aggregate(samples)
    assert (everything.verdict, everything.errors, everything.pass_rate) == ("error", 1, 0.5)


def test_statistics() -> None:
    test = mcnemar_exact([True] * 10 + [False] * 2, [False] * 10 + [False, True])
    assert (test.pass_to_fail, test.fail_to_pass) == (10, 1)
    assert test.regressed and test.p_value == pytest.approx(0.01172, abs=1e-4)
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0
    assert cohen_kappa([1, 1, 0, 0], [1, 1, 0, 0]) == 1.0
    assert cohen_kappa([1, 0, 1, 0], [1, 1, 0, 0]) == 0.0
    assert cohen_kappa([1, 1], [1, 1]) is None
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40])[0] == pytest.approx(1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) == (None, None)
