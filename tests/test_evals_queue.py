"""From the approval queue: promotion of approved drafts into reviewed regression cases, and judge
calibration against human ratings (JSONL, DSTC11 track-5 format) and against CM decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evals.calibrate import calibrate_judge, load_dstc, load_queue, load_ratings
from evals.errors import SuiteError
from evals.promote import accept_reviewed, write_review_file
from evals.suites import load_suite
from testkit.live import LiveServer
from testkit.openai_stub import OpenAIStub
from tests.conftest import message_body, wait_for_draft


def _strict_judge(request: dict) -> str:
    reply = request["messages"][-1]["content"].split("REPLY:\n", 1)[-1]
    return json.dumps({"pass": "WRONG" not in reply, "reason": "scripted"})


@pytest.fixture
def decided(live: LiveServer) -> LiveServer:
    """Three drafts decided by a CM: approved as drafted, edited then approved, rejected."""
    with live.client("cm") as client:
        ids = [client.post("/v1/messages", json=message_body(f"q-{i}", text)).json()["id"] for i, text in
               enumerate(["How long does shipping to the UK take?", "what's your return window?", "is it waterproof?"])]
        drafts = [wait_for_draft(client, i) for i in ids]
        assert client.post(f"/v1/drafts/{drafts[0]['id']}/approve", headers={"If-Match": "1"}).status_code == 200
        edited = "Hi Dana! You have 30 days to return it. Questions? Write to dana.smith@example.com or LB-123456."
        assert client.post(f"/v1/drafts/{drafts[1]['id']}/approve", headers={"If-Match": "1"},
                           json={"text": edited}).status_code == 200
        assert client.post(f"/v1/drafts/{drafts[2]['id']}/reject", headers={"If-Match": "1"},
                           json={"reason": "wrong tone"}).status_code == 200
    return live


def test_promote_writes_a_review_file_and_only_accepted_cases_join(decided: LiveServer, tmp_path: Path) -> None:
    path, count = write_review_file(decided.settings, tmp_path / "review.yaml")
    assert count == 2
    review = yaml.safe_load(path.read_text())
    cases = {c["tags"][1]: c for c in review["cases"]}
    assert set(cases) == {"approved_as_is", "cm_edited"} and all(c["review"] == "pending" for c in review["cases"])
    edited = cases["cm_edited"]
    assert edited["expect"]["reference"].startswith("Hi Dana! You have 30 days")
    assert "[email]" in edited["expect"]["reference"] and "[order]" in edited["expect"]["reference"]
    assert "30 days" in edited["expect"]["facts"]
    assert cases["approved_as_is"]["expect"]["knowledge_ids"] == ["faq-shipping-uk"]

    suite = tmp_path / "regressions.yaml"
    cases["cm_edited"]["review"] = "accepted"
    path.write_text(yaml.safe_dump(review))
    assert accept_reviewed(path, suite) == (1, 1)
    loaded = load_suite(str(suite))
    assert [c.tags for c in loaded.cases] == [["promoted", "cm_edited"]]
    with pytest.raises(SuiteError, match="already has cases"):
        accept_reviewed(path, suite)


def test_calibration_against_ratings_and_cm_decisions(decided: LiveServer, tmp_path: Path) -> None:
    ratings = tmp_path / "ratings.jsonl"
    rows = [{"id": f"r{i}", "message": "UK shipping?", "reply": ("Flat £49." if i % 2 else "WRONG: free!"),
             "rating": {"accuracy": [5, 4, 5] if i % 2 else [1, 2, 1], "appropriateness": 4}} for i in range(8)]
    ratings.write_text("\n".join(json.dumps(r) for r in rows))
    with OpenAIStub() as judge:
        judge.reply_with(_strict_judge)
        settings = decided.settings.model_copy(update={"eval_judge_base_url": judge.base_url,
                                                       "eval_judge_api_key": "k", "eval_concurrency": 1})
        result = calibrate_judge(settings, load_ratings(ratings))
        assert (result["n"], result["judged"], result["errors"]) == (8, 8, 0)
        assert result["spearman"] == pytest.approx(1.0) and result["cohen_kappa"] == pytest.approx(1.0)
        assert set(result["per_dimension"]) == {"accuracy", "appropriateness"}

        queue = load_queue(settings)
        assert sorted(item.human for item in queue) == [0.0, 0.5, 1.0]
        cm = calibrate_judge(settings, queue)
        assert cm["judged"] == 3 and cm["confusion"]["judge_ok_human_ok"] == 1 and cm["cohen_kappa"] == 0.0

        judge.fail_next(500, times=3)  # the first item's three attempts: an error, counted, not scored
        faulty = calibrate_judge(settings.model_copy(update={"data_dir": tmp_path / "fresh"}), load_ratings(ratings))
        assert (faulty["judged"], faulty["errors"]) == (7, 1)
        assert faulty["error_examples"] == ["judge call failed after retries: HTTP 500"]


def test_dstc_human_eval_format(tmp_path: Path) -> None:
    split = tmp_path / "data" / "test"
    split.mkdir(parents=True)
    (tmp_path / "data" / "knowledge.json").write_text(json.dumps({"hotel": {"7": {
        "name": "Acorn", "faqs": {"0": {"question": "Parking?", "answer": "Free parking."}},
        "reviews": {"1": {"sentences": {"0": "The rooms were spotless."}}}}}}))
    (split / "logs.json").write_text(json.dumps([
        [{"speaker": "U", "text": "I like the Acorn."}, {"speaker": "U", "text": "Is parking free there?"}],
        [{"speaker": "U", "text": "hello"}],
    ]))
    entry = tmp_path / "entry0.json"
    entry.write_text(json.dumps([
        {"target": True, "response": "Yes, parking is free and rooms are spotless.",
         "knowledge": [{"domain": "hotel", "entity_id": 7, "doc_type": "faq", "doc_id": 0},
                       {"domain": "hotel", "entity_id": 7, "doc_type": "review", "doc_id": 1, "sent_id": 0}]},
        {"target": False},
    ]))
    (tmp_path / "entry0.human_eval.json").write_text(json.dumps([
        {"accuracy": [5.0, 4.0, 5.0], "appropriateness": [4.0, 4.0, 5.0]}, None]))
    items = load_dstc(entry, split / "logs.json")
    assert len(items) == 1
    item = items[0]
    assert item.message == "Is parking free there?" and "U: I like the Acorn." in item.thread
    assert "Free parking." in item.sources and "spotless" in item.sources
    assert item.dimensions["accuracy"] == pytest.approx((14 / 3 - 1) / 4)
