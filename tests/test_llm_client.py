"""The one LLM client layer against loopback servers that refuse, chat and fail the way real ones do."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent import llm_client
from agent.endpoints import Endpoint, endpoint_for
from agent.errors import DraftingError, LLMOutputInvalid, LLMUnavailable
from agent.llm import LLMDrafter, LLMSentiment
from agent.llm_client import LLMClient
from agent.structured import OutputProblem, first_json_object, parse_output
from ground.settings import Settings
from insights.prose_check import unsupported
from testkit.llm_scripts import prose_around, triage_reply
from testkit.openai_stub import OpenAIStub


class Mood(BaseModel):
    sentiment: str
    score: float


def _settings(tmp_path: Path, stub: OpenAIStub, **extra: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path, "llm_base_url": stub.base_url, "llm_api_key": "k",
                                 "llm_timeout": 5.0, "llm_max_retries": 2}
    return Settings(**(values | extra))  # type: ignore[arg-type]


def _ask(client: LLMClient) -> Mood:
    messages = [{"role": "system", "content": "Judge the sentiment."}, {"role": "user", "content": "love it"}]
    return client.structured(messages, Mood, purpose="test").value


def _ask_together(settings: Settings, callers: int) -> list[Mood]:
    results: list[Mood] = []
    threads = [threading.Thread(target=lambda: results.append(_ask(LLMClient(settings)))) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_json_object_found_in_prose_and_fences() -> None:
    assert first_json_object('Sure! Here it is:\n```json\n{"a": {"b": 1}}\n```\nAnything else?') == {"a": {"b": 1}}
    assert first_json_object('I think {not json} but {"a": "}"} then {"b": 2}') == {"a": "}"}
    # llama-cpp-python's schema grammar lets raw line breaks into strings: a list in a reply is still the reply.
    listed = '{"reply": "Steps:\n1. hold +\n2.\tpair", "n": 1}'
    assert first_json_object(listed) == {"reply": "Steps:\n1. hold +\n2.\tpair", "n": 1}
    with pytest.raises(OutputProblem, match="incomplete"):
        first_json_object('{"reply": "cut off mid-sent')
    with pytest.raises(OutputProblem, match="no JSON object"):
        first_json_object("I cannot help with that.")
    with pytest.raises(OutputProblem, match=r"score: Field required"):
        parse_output('{"sentiment": "negative"}', Mood)


def test_500_on_json_schema_is_learned_once_by_concurrent_callers(tmp_path: Path, llm_stub: OpenAIStub) -> None:
    """llama.cpp answers 500 for json_schema: one refusal, never retried, and never again for this endpoint."""
    llm_stub.structured_output = "llamacpp"
    llm_stub.reply_text(json.dumps({"sentiment": "positive", "score": 0.8}))
    settings = _settings(tmp_path, llm_stub)
    results = _ask_together(settings, 4)
    assert [r.sentiment for r in results] == ["positive"] * 4
    assert llm_stub.refusals == 1 and llm_stub.calls == 5  # the refused request was not retried
    sent = [r.get("response_format", {}).get("type") for r in llm_stub.requests]
    assert sent == ["json_schema"] + ["json_object"] * 4
    assert all("schema" in r["response_format"] for r in llm_stub.requests[1:])  # llama-cpp's grammar key
    assert LLMClient(settings).capability.refused.keys() == {"json_schema"}


def test_callers_wait_for_the_negotiating_request_only_briefly(
    tmp_path: Path, llm_stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request out for longer than the grace without a refusal has its mode taken: the callers queued
    behind it send theirs at once instead of waiting a whole LLM call for its answer."""
    monkeypatch.setattr(llm_client, "NEGOTIATION_GRACE", 0.05)
    llm_stub.latency = 2.0
    llm_stub.reply_text(json.dumps({"sentiment": "positive", "score": 0.8}))
    results = _ask_together(_settings(tmp_path, llm_stub), 4)
    assert [r.sentiment for r in results] == ["positive"] * 4
    assert llm_stub.max_in_flight == 4 and llm_stub.refusals == 0 and llm_stub.calls == 4
    assert {r["response_format"]["type"] for r in llm_stub.requests} == {"json_schema"}


def test_a_slow_refusal_moves_every_caller_down_and_is_reported_once(
    tmp_path: Path, llm_stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that refuses json_schema only after the grace: the callers that went on are refused too, move
    down with the negotiator, and every one gets its answer; the downgrade is logged once."""
    monkeypatch.setattr(llm_client, "NEGOTIATION_GRACE", 0.05)
    llm_stub.structured_output = "llamacpp"
    llm_stub.latency = 1.0  # the stub answers its refusals after its latency too
    llm_stub.reply_text(json.dumps({"sentiment": "positive", "score": 0.8}))
    settings = _settings(tmp_path, llm_stub)
    with caplog.at_level(logging.WARNING, logger="replydesk"):
        results = _ask_together(settings, 4)
    assert [r.sentiment for r in results] == ["positive"] * 4
    assert 1 <= llm_stub.refusals <= 4 and llm_stub.calls == llm_stub.refusals + 4  # refused ones not retried as is
    kinds = [r["response_format"]["type"] for r in llm_stub.requests]
    assert [k for k in kinds if k != "json_schema"] == ["json_object"] * 4
    assert LLMClient(settings).capability.mode == "json_object_schema"  # json_object with llama.cpp's schema key
    assert sum("refused structured-output mode json_schema" in r.getMessage() for r in caplog.records) == 1


def test_json_object_only_server_and_a_text_only_server(tmp_path: Path, llm_stub: OpenAIStub) -> None:
    llm_stub.structured_output = "json_object_only"
    llm_stub.reply_with(prose_around(lambda _r: json.dumps({"sentiment": "neutral", "score": 0.0})))
    client = LLMClient(_settings(tmp_path, llm_stub))
    assert _ask(client).sentiment == "neutral" and _ask(client).sentiment == "neutral"
    assert llm_stub.refusals == 2 and client.capability.mode == "json_object"
    assert llm_stub.requests[-1]["response_format"] == {"type": "json_object"}
    assert "JSON schema" in llm_stub.requests[-1]["messages"][0]["content"]  # shape shown when not enforced

    with OpenAIStub() as plain:
        plain.structured_output = "text_only"
        plain.reply_with(prose_around(lambda _r: json.dumps({"sentiment": "negative", "score": -0.5})))
        client = LLMClient(_settings(tmp_path, plain))
        assert _ask(client).score == -0.5 and _ask(client).score == -0.5
        assert plain.refusals == 3 and "response_format" not in plain.requests[-1]


def test_one_repair_round_then_a_visible_failure(tmp_path: Path, llm_stub: OpenAIStub, caplog) -> None:
    answers = iter(['{"sentiment": "positive"}', '{"sentiment": "positive", "score": 0.9}'])
    llm_stub.reply_with(lambda _r: next(answers))
    client = LLMClient(_settings(tmp_path, llm_stub))
    assert _ask(client).score == 0.9
    repair = llm_stub.requests[-1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"sentiment": "positive"}'}
    assert "score: Field required" in repair[-1]["content"]

    llm_stub.reply_text("Happy to help! The sentiment is positive.")
    calls = llm_stub.calls
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="replydesk.llm"), pytest.raises(LLMOutputInvalid) as failed:
        _ask(client)
    assert llm_stub.calls == calls + 2
    assert "not the JSON asked for" in str(failed.value) and failed.value.mode == "json_schema"
    assert sum("answer unusable" in r.message for r in caplog.records) == 2


def test_unparseable_sentiment_does_not_open_the_breaker(tmp_path: Path, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_text("positive, I'd say")
    drafter = LLMDrafter(_settings(tmp_path, llm_stub, llm_breaker_failures=1))
    with pytest.raises(LLMOutputInvalid):
        drafter.sentiment("love it", "", "default")
    assert drafter.guard.breaker.state == "closed"
    llm_stub.reply_with(triage_reply)
    assert isinstance(drafter.sentiment("love it", "", "default"), LLMSentiment)


def test_endpoint_errors_become_plain_words(tmp_path: Path, llm_stub: OpenAIStub, caplog) -> None:
    llm_stub.fail_next(500, times=3, message="model /srv/llm/models/smol.gguf failed: see "
                                             "http://10.0.0.7:9000/debug?token=s3cr3t-t0ken-value")
    drafter = LLMDrafter(_settings(tmp_path, llm_stub, llm_max_retries=2))
    with caplog.at_level(logging.WARNING, logger="replydesk.llm"), pytest.raises(LLMUnavailable) as failed:
        drafter.sentiment("where is my bike", "", "default")
    assert llm_stub.calls == 3  # a plain 500 is an outage: retried, then counted by the breaker
    assert str(failed.value) == "the LLM endpoint failed (HTTP 500)"
    assert failed.value.endpoint == llm_stub.base_url and failed.value.mode == "json_schema"
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "HTTP" not in str(failed.value.reason).replace("(HTTP 500)", "")
    assert "s3cr3t" not in logged and "token=***" in logged  # the log line goes through ground/redact.py


def test_seed_refused_once_then_left_out(tmp_path: Path, llm_stub: OpenAIStub) -> None:
    llm_stub.reply_text(json.dumps({"sentiment": "positive", "score": 0.8}))
    client = LLMClient(_settings(tmp_path, llm_stub))
    llm_stub.fail_next(400, message="Unrecognized request argument supplied: seed")
    messages = [{"role": "user", "content": "love it"}]
    assert client.structured(messages, Mood, purpose="test", seed=7).value.score == 0.8
    assert client.structured(messages, Mood, purpose="test", seed=7).value.score == 0.8
    assert ["seed" in r for r in llm_stub.requests] == [True, False, False]


def test_timeout_follows_observed_latency() -> None:
    endpoint = Endpoint("http://127.0.0.1:1/v1", concurrency=1)
    assert endpoint.timeout(30, 300) == 30  # nothing observed yet: the configured floor
    for seconds in (2, 3, 20):
        endpoint.observe(seconds)
    assert endpoint.timeout(30, 300) == 80  # 4x the slowest recent answer
    endpoint.observe(200)  # e.g. a call that timed out at 200 s
    assert endpoint.timeout(30, 300) == 300  # never past the ceiling


def test_insights_prose_must_use_only_the_facts() -> None:
    facts = {"total": 26, "by_platform": {"x": 12, "instagram": 14}, "negative_share": 0.231,
             "previous": {"total": 20, "negative_share": 0.15}, "themes": [{"label": "delivery", "count": 7}]}
    honest = ("26 messages arrived, 14 on Instagram and 12 on X. 23% were negative, up 8 points; "
              "about 54% came from Instagram. The biggest theme was delivery (7 messages).")
    assert unsupported(honest, facts) == []
    invented = "26 messages arrived; TikTok brought 9 of them and the negative share was -1 points."
    assert unsupported(invented, facts) == ["9", "-1", "TikTok"]


def test_drafting_error_reason_is_what_a_cm_reads() -> None:
    error = DraftingError("circuit breaker open after repeated LLM failures", endpoint="http://h/v1", mode="none")
    assert str(error) == error.reason and error.code == "unavailable"


def test_an_endpoints_cap_follows_the_latest_settings() -> None:
    """The first settings to name an endpoint (a one-lane worker, say) must not fix its cap for the process:
    named again with 4, four requests are in flight at once; named with 1 again, one at a time."""
    url = "http://127.0.0.1:9/v1-cap-test"
    endpoint_for(url, 1)
    endpoint = endpoint_for(url, 4)
    together = threading.Barrier(4, timeout=10)
    errors: list[BaseException] = []

    def request() -> None:
        try:
            with endpoint.slot():
                together.wait()  # breaks (after its timeout) unless all four are in flight at once
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert endpoint_for(url, 1) is endpoint and endpoint.concurrency == 1
    entered = threading.Event()

    def second() -> None:
        with endpoint.slot():
            entered.set()

    with endpoint.slot():
        blocked = threading.Thread(target=second)
        blocked.start()
        waited = not entered.wait(0.5)  # it cannot get in while this slot is held, however slow the machine
    blocked.join(10)
    assert waited and entered.is_set(), "the second request waited for the first one's slot, then ran"
