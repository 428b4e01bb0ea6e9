"""The first drafts a newcomer sees (`make run`: samples/messages.jsonl over the sample brand) are right:
relevance before grounding, thanks for praise, and `crisis` only for a crisis. Offline composer and the
real graph over the real sample knowledge; the LLM path is held to the same relevance check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.relevance import asked_parts
from agent.runner import ReplyRunner
from agent.state import InboundMessage, ReviewRequest
from testkit.llm_scripts import grounded_reply
from testkit.openai_stub import OpenAIStub
from tests.conftest import SAMPLES, make_settings


def _sample(fragment: str, number: int) -> InboundMessage:
    for line in (SAMPLES / "messages.jsonl").read_text().splitlines():
        row = json.loads(line)
        if fragment in row["text"]:
            return InboundMessage.model_validate(row | {"id": number})
    raise AssertionError(f"no sample message contains {fragment!r}")


@pytest.fixture
def runner(tmp_path: Path, sample_chroma: Path) -> Iterator[ReplyRunner]:
    settings = make_settings(tmp_path)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    made = ReplyRunner(settings)
    yield made
    made.close()


def _check(request: ReviewRequest, name: str) -> tuple[bool, str]:
    found = next(c for c in request.checks if c.name == name)
    return found.passed, found.detail


def test_order_tracking_complaint_is_not_answered_with_the_gps_tracker(runner: ReplyRunner) -> None:
    request = runner.start("t1", _sample("tracking hasn't moved", 1))
    assert request is not None and request.route == "draft"
    cited = [c.id for c in request.citations]
    assert "faq-theft-gps" not in cited
    assert "Lumen Locate" not in request.text and "GPS" not in request.text
    # Their own order: someone has to look it up, so a holding reply that moves to a DM, saying why.
    assert request.needs_human_answer and request.reply_kind == "hold"
    assert "DM" in request.text and "own order" in request.note


def test_praise_gets_thanks_not_a_holding_reply(runner: ReplyRunner) -> None:
    request = runner.start("t2", _sample("grin like an idiot", 2))
    assert request is not None and request.route == "draft"
    assert request.triage["category"] == "praise"
    assert request.reply_kind == "acknowledge" and not request.needs_human_answer
    assert request.text.startswith("Hey Tessa") and "Thanks so much" in request.text
    assert "checking this with the team" not in request.text and not request.citations
    assert all(c.passed for c in request.checks if c.severity == "block"), request.checks


def test_battery_over_a_winter_move_is_a_question_not_a_crisis(runner: ReplyRunner) -> None:
    request = runner.start("t3", _sample("Moving to Minneapolis", 3))
    assert request is not None
    assert request.triage["category"] == "question" and request.route == "draft"
    assert [c.id for c in request.citations] == ["faq-battery-winter-storage"]
    passed, detail = _check(request, "answers_the_question")
    assert passed and "How do I store my bike and battery over winter?" in detail


def test_the_llm_path_is_held_to_the_relevance_check(tmp_path: Path, sample_chroma: Path,
                                                     llm_stub: OpenAIStub) -> None:
    """A model that cites the GPS tracker FAQ for a question about a parcel is flagged, grounded or not."""

    def cites_the_tracker(request: dict[str, object]) -> str:
        base = json.loads(grounded_reply(request))
        return json.dumps(base | {"reply": "Hi Dana! Every Lumen has Lumen Locate, a built-in GPS tracker.",
                                  "citations": ["faq-theft-gps"], "needs_human_answer": False})

    llm_stub.reply_with(cites_the_tracker)
    settings = make_settings(tmp_path, llm_base_url=llm_stub.base_url, llm_api_key="k", llm_timeout=5.0,
                             llm_max_retries=0, max_revisions=0)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    made = ReplyRunner(settings)
    try:
        message = InboundMessage(id=4, platform="reddit", external_id="e-4", public=False,
                                 text="how do I see the tracking link for the parcel you sent me?",
                                 author={"id": "a", "handle": "dana_rides", "display_name": "Dana Smith"})
        request = made.start("t4", message)
    finally:
        made.close()
    assert request is not None and request.composer == "llm"
    failed = {c.name: (c.severity, c.detail) for c in request.checks if not c.passed}
    assert failed["answers_the_question"][0] == "block"
    assert "What should I do if my bike is stolen?" in failed["answers_the_question"][1]


def test_a_quoted_top_speed_is_answered_from_the_us_speed_faq(runner: ReplyRunner) -> None:
    """The make-run demo's first draft: '28mph or capped at 20?' is about the source stating 20 and 28 mph,
    not the EU/UK speed FAQ (also about speed, also in mph) and not the Commuter's gears FAQ (same product)."""
    request = runner.start("t5", _sample("28mph or is it capped at 20", 5))
    assert request is not None and request.reply_kind == "answer"
    assert [c.id for c in request.citations] == ["faq-speed-classes-us"]
    assert "28 mph" in request.text
    passed, detail = _check(request, "answers_the_question")
    assert passed and "figures asked about (20, 28)" in detail


def _asked(text: str, number: int) -> InboundMessage:
    return InboundMessage(id=number, platform="reddit", external_id=f"e-{number}", public=True, text=text,
                          author={"id": "a", "handle": "spec_sheet_sue"})


def test_a_product_name_in_common_is_no_reason_to_answer(runner: ReplyRunner) -> None:
    """With the product FAQs in the knowledge base, torque is not answered from the Trail's gears FAQ:
    with the names masked, 'the torque on it' is not 'what gears does it have'."""
    request = runner.start("t6", _asked("what's the torque on the trail motor in Nm? comparing a few bikes", 6))
    assert request is not None and request.reply_kind == "hold" and not request.citations
    assert "no source answers the question" in request.note


def test_a_faq_about_another_product_does_not_answer(runner: ReplyRunner) -> None:
    request = runner.start("t7", _asked("How much weight can the Cargo carry? thinking of it for deliveries", 7))
    assert request is not None and request.reply_kind == "answer"
    assert [c.id for c in request.citations] == ["cargo-load"]
    assert "200 kg" in request.text


def test_a_name_signing_the_message_off_is_not_asked_about(runner: ReplyRunner) -> None:
    """'thanks! - Sam' says who wrote; the return window is what is asked. (The judge used to hold out for
    a source mentioning Sam and block the draft, and with an LLM that meant a second call to revise it.)"""
    request = runner.start("t8", _asked("hi there, what's your return window? thanks! - Sam", 8))
    assert request is not None and request.reply_kind == "answer"
    assert [c.id for c in request.citations] == ["faq-return-window"]
    passed, detail = _check(request, "answers_the_question")
    assert passed, detail


@pytest.mark.parametrize("opening", ["hello team,", "morning!", "Hi there -"])
def test_a_greeting_is_not_part_of_the_question(runner: ReplyRunner, opening: str) -> None:
    """'morning! what's your return window?': the greeting is neither context the short question leans on
    nor words of it (either way the need looked unlike the return FAQ and the draft was held)."""
    request = runner.start(f"t9-{opening}", _asked(f"{opening} what's your return window?", 9))
    assert request is not None and request.reply_kind == "answer"
    assert [c.id for c in request.citations] == ["faq-return-window"]


def test_only_a_greeting_is_taken_off_the_question() -> None:
    assert asked_parts("hey there's a problem with my order?") == ["there's a problem with my order?"]
    assert asked_parts("history of the brand?") == ["history of the brand?"]
    assert asked_parts("hi") == ["hi"]
