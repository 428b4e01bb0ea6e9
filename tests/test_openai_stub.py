"""Tests for tests/openai_stub.py, driven by the real ``openai`` client over loopback HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from testkit.openai_stub import MALFORMED_CONTENT, OpenAIStub


class Verdict(BaseModel):
    intent: str
    confidence: float


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def _client(stub: OpenAIStub, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url, api_key="test-key", **kwargs)


def _ask(client: openai.OpenAI, text: str = "hello there", **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="replydesk-test", messages=[{"role": "user", "content": text}], **kwargs
    )


def test_scripted_reply_round_trips(stub: OpenAIStub) -> None:
    @stub.reply_with
    def echo(request: dict[str, Any]) -> str:
        return json.dumps({"echo": request["messages"][-1]["content"]})

    client = _client(stub, max_retries=0)
    completion = client.chat.completions.create(
        model="replydesk-test",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "where is my order"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.model == "replydesk-test"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert json.loads(choice.message.content or "") == {"echo": "where is my order"}
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 6
    assert completion.usage.completion_tokens == 5  # '{"echo":' '"where' 'is' 'my' 'order"}'
    assert completion.usage.total_tokens == 11
    assert stub.calls == 1
    assert stub.requests[0]["messages"][1]["content"] == "where is my order"


def test_default_reply_and_reply_text(stub: OpenAIStub) -> None:
    client = _client(stub, max_retries=0)
    assert _ask(client).choices[0].message.content == "{}"
    stub.reply_text("constant answer")
    assert _ask(client).choices[0].message.content == "constant answer"


def test_models_endpoint(stub: OpenAIStub) -> None:
    assert [m.id for m in _client(stub).models.list()] == ["stub-model"]


def test_rate_limit_then_success_with_retries(stub: OpenAIStub) -> None:
    stub.reply_text("ok")
    stub.fail_next(429, retry_after=0)
    completion = _ask(_client(stub, max_retries=2))
    assert completion.choices[0].message.content == "ok"
    assert stub.calls == 2


def test_rate_limit_error_shape_and_retry_after_header(stub: OpenAIStub) -> None:
    stub.fail_next(429, retry_after=1.5)
    with pytest.raises(openai.RateLimitError) as info:
        _ask(_client(stub, max_retries=0))
    assert info.value.response.headers["retry-after"] == "1.5"
    assert info.value.type == "rate_limit_error"


def test_server_error_without_retries_raises(stub: OpenAIStub) -> None:
    stub.fail_next(500)
    with pytest.raises(openai.InternalServerError) as info:
        _ask(_client(stub, max_retries=0))
    assert info.value.status_code == 500
    assert info.value.type == "server_error"
    assert stub.calls == 1


def test_hang_triggers_client_timeout(stub: OpenAIStub) -> None:
    stub.hang_next(2)
    client = _client(stub, timeout=0.3, max_retries=0)
    with pytest.raises(openai.APITimeoutError):
        _ask(client)
    assert _ask(client).choices[0].message.content == "{}"  # the hang was consumed


def test_json_schema_unsupported_rejects_parse(stub: OpenAIStub) -> None:
    stub.json_schema_supported = False
    client = _client(stub, max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.parse(
            model="replydesk-test", messages=[{"role": "user", "content": "hi"}], response_format=Verdict
        )
    assert "json_schema is not supported" in info.value.message
    assert stub.requests[0]["response_format"]["type"] == "json_schema"
    ok = _ask(client, response_format={"type": "json_object"})
    assert ok.choices[0].message.content == "{}"


def test_json_schema_supported_parse_succeeds(stub: OpenAIStub) -> None:
    stub.reply_text('{"intent": "refund", "confidence": 0.9}')
    completion = _client(stub, max_retries=0).chat.completions.parse(
        model="replydesk-test", messages=[{"role": "user", "content": "hi"}], response_format=Verdict
    )
    assert completion.choices[0].message.parsed == Verdict(intent="refund", confidence=0.9)


def test_malformed_reply_is_invalid_json(stub: OpenAIStub) -> None:
    client = _client(stub, max_retries=0)
    stub.malformed_next()
    content = _ask(client).choices[0].message.content
    assert content == MALFORMED_CONTENT
    with pytest.raises(json.JSONDecodeError):
        json.loads(content or "")
    assert _ask(client).choices[0].message.content == "{}"


def test_faults_are_consumed_in_fifo_order(stub: OpenAIStub) -> None:
    client = _client(stub, max_retries=0)
    stub.fail_next(503, times=2)
    stub.malformed_next()
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            _ask(client)
    assert _ask(client).choices[0].message.content == MALFORMED_CONTENT
    assert _ask(client).choices[0].message.content == "{}"
    assert stub.calls == 4


def test_unknown_path_and_bad_body_return_openai_errors(stub: OpenAIStub) -> None:
    with httpx.Client(base_url=stub.base_url) as http:
        missing = http.post("/nope", json={})
        bad = http.post("/chat/completions", content=b"not json")
    assert missing.status_code == 404
    assert set(missing.json()["error"]) >= {"message", "type", "code"}
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert stub.calls == 0


def test_requests_are_served_concurrently(stub: OpenAIStub) -> None:
    barrier = threading.Barrier(2, timeout=10)

    def rendezvous(_request: dict[str, Any]) -> str:
        barrier.wait()  # only passes if both requests are inside the server at once
        return "together"

    stub.reply_with(rendezvous)
    client = _client(stub, max_retries=0, timeout=20)
    results: list[str | None] = []
    workers = [threading.Thread(target=lambda: results.append(_ask(client).choices[0].message.content))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == ["together", "together"]


def test_stop_is_not_blocked_by_hanging_handler() -> None:
    stub = OpenAIStub().start()
    stub.hang_next(120)
    outcome: list[object] = []

    def call() -> None:
        try:
            with httpx.Client(base_url=stub.base_url, timeout=120) as http:
                outcome.append(http.post("/chat/completions", json={"messages": []}).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    while stub.calls == 0 and caller.is_alive():
        threading.Event().wait(0.01)
    stub.stop()
    caller.join(timeout=30)  # far below the 120 s hang: the stop Event cut the sleep short
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)
    with pytest.raises(RuntimeError):
        _ = stub.base_url


def test_reset_clears_everything(stub: OpenAIStub) -> None:
    client = _client(stub, max_retries=0)
    stub.reply_text("custom")
    stub.latency = 0.01
    stub.json_schema_supported = False
    _ask(client)
    stub.fail_next(500)
    stub.reset()
    assert stub.calls == 0 and stub.requests == []
    assert stub.latency == 0.0 and stub.json_schema_supported
    assert _ask(client).choices[0].message.content == "{}"
