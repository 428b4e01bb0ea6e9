"""The one client layer for every LLM call: drafting, triage sentiment, variants, insights prose, the judge.

- Structured output is negotiated once per endpoint+model (agent/endpoints.py): the strongest mode is
  tried first; a refusal of that mode, whatever its status code (llama.cpp answers 500 for
  ``json_schema``), moves to the next mode and is never retried as it was.
- Answers are parsed tolerantly and validated; one repair round quotes the problem back to the model;
  then :class:`LLMOutputInvalid`.
- One retry layer for transport failures, ours (the SDK's is switched off, so it cannot retry a mode
  refusal or multiply attempts): timeouts, connection errors, 408/409/429/5xx, honouring Retry-After.
- Timeouts are sized from the endpoint's observed latency; requests per endpoint are capped.

Every request goes out through :meth:`LLMClient._send`.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import openai
from pydantic import BaseModel
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from agent.endpoints import Capability, Endpoint, endpoint_for
from agent.errors import DraftingError, LLMOutputInvalid, LLMUnavailable
from agent.limited_http import limited_http_client
from agent.structured import (
    JSON_REMINDER,
    MODES,
    REPAIR,
    Mode,
    OutputProblem,
    parse_output,
    response_format,
    schema_hint,
)
from ground.redact import redact
from ground.settings import Settings

LOOP_PENALTY = 0.6  # frequency_penalty for the second ask after an answer cut off at max_tokens
log = logging.getLogger("replydesk.llm")
Result = TypeVar("Result")
Parsed = TypeVar("Parsed", bound=BaseModel)
_MODE_WORDS = ("response_format", "json_schema", "json_object", "literal_error", "structured output", "grammar")
_MODE_STATUSES = {400, 404, 415, 422, 500, 501}
NEGOTIATION_GRACE = 0.5  # seconds a thread waits for the negotiating request before sending (see _negotiating)


@dataclass
class Answer(Generic[Result]):
    value: Result
    mode: str
    calls: int = 0  # requests sent for this answer (a refused mode and a repair round count)
    usage: dict[str, int] = field(default_factory=dict)

    def add_usage(self, completion: Any) -> None:
        usage = getattr(completion, "usage", None)
        if usage is None:
            return
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            self.usage[name] = self.usage.get(name, 0) + int(getattr(usage, name, 0) or 0)


class _ModeRefused(Exception):
    def __init__(self, said: str) -> None:
        super().__init__(said)
        self.said = said


class _SeedRefused(Exception):
    pass


# Where a server's error text turns into its own stack trace ("\n  File \"/srv/.../app.py\", line 12"):
# what follows is the server's internals (paths, code), not a reason, and is cut off.
_TRACE = re.compile(r"\s*(Traceback \(most recent call last\)|File \"[^\"]*\", line)")


def _server_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        text = str(message or body)
    else:
        text = str(body or exc.message)
    return _TRACE.split(text, maxsplit=1)[0].strip()


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if not isinstance(exc, openai.APIStatusError):
        return False
    if exc.response.headers.get("x-should-retry") == "false":
        return False  # the limiter's transport already retried its 429s until its deadline: one layer only
    return exc.status_code in (408, 409, 429) or exc.status_code >= 500


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    with contextlib.suppress(TypeError, ValueError):
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        with contextlib.suppress(ValueError):
            return float(value)
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _wait(state: RetryCallState) -> float:
    asked = _retry_after(state.outcome.exception() if state.outcome else None)
    if asked is not None:
        return min(asked, 60.0)
    return min(8.0, 0.5 * 2 ** (state.attempt_number - 1)) * (0.75 + random.random() / 2)


def plain_reason(exc: BaseException, timeout: float) -> str:
    """What went wrong, in words a CM can read: never the server's own text."""
    if isinstance(exc, openai.APITimeoutError):
        return f"the model did not answer within {timeout:.3g} s"
    if isinstance(exc, openai.APIConnectionError):
        return "the LLM endpoint could not be reached"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return "the LLM endpoint is rate-limiting requests (HTTP 429)"
        if status in (401, 403):
            return f"the LLM endpoint refused the API key (HTTP {status})"
        if status == 404:
            return "the LLM endpoint does not know this model or URL (HTTP 404)"
        if status >= 500:
            return f"the LLM endpoint failed (HTTP {status})"
        return f"the LLM endpoint rejected the request (HTTP {status})"
    return f"the LLM call failed ({type(exc).__name__})"


def _code(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection error"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__


def warn_fallback(logger: logging.Logger, exc: DraftingError, purpose: str, fallback: str) -> None:
    """The one WARNING line per fallback: which endpoint, which mode, why, and what was used instead."""
    logger.warning("LLM %s fell back to %s: endpoint=%s mode=%s reason=%s", purpose, fallback,
                   exc.endpoint or "(none)", exc.mode or "(none)", exc.reason)


@contextlib.contextmanager
def _negotiating(cap: Capability) -> Iterator[None]:
    """Hold the endpoint's negotiation lock, unless the mode was confirmed while this thread waited for it:
    then go on at once. (Holding it regardless made every lane that queued behind the first request send
    its own alone, one after another: with 32 lanes, up to 31 sequential LLM calls at the start of a burst.)

    A thread waits for the negotiating request at most ``NEGOTIATION_GRACE`` seconds, then sends in the
    current mode without the lock: servers refuse a ``response_format`` when the request arrives, before
    generating (llama.cpp converts the schema to a grammar, vLLM and OpenAI validate the body), so a request
    out that long without a refusal has its mode taken and is generating. Waiting for its answer cost a
    burst's first lanes one whole LLM call each after a start. Should a slow server refuse it after all, the
    threads that went on are refused too and move down a mode as the negotiator does (each refusal is one
    quick 400, no tokens)."""
    held = cap.lock.acquire(timeout=NEGOTIATION_GRACE)
    if held and cap.confirmed:
        cap.lock.release()
        held = False
    try:
        yield
    finally:
        if held:
            cap.lock.release()


class LLMClient:
    """One endpoint+model. Cheap to build: what it learns lives in the shared :class:`Endpoint`."""

    def __init__(self, settings: Settings, *, client: openai.OpenAI | None = None, model: str | None = None,
                 timeout: float | None = None, max_retries: int | None = None) -> None:
        """``client`` is the seam for eval runs, whose clients route through the eval gate (cache, stats)."""
        self.model = model or settings.llm_model
        self.floor = timeout or settings.llm_timeout
        self.ceiling = max(settings.llm_timeout_max, self.floor)
        self.max_retries = settings.llm_max_retries if max_retries is None else max_retries
        self.max_tokens = settings.llm_max_tokens
        self.start: Mode = "json_schema" if settings.llm_structured_output == "auto" else settings.llm_structured_output
        self.configured = settings.llm_structured_output != "auto"
        # The default client's transport goes through the endpoint's limiter (agent/limits.py: concurrency
        # cap lowered on 429s, requests/tokens per minute), which also retries 429s itself.
        base = client or openai.OpenAI(base_url=settings.llm_base_url, api_key=settings.llm_api_key or "not-needed",
                                       timeout=self.floor, http_client=limited_http_client(settings))
        self.client = base.with_options(max_retries=0)  # ours is the one retry layer (see the module doc)
        self.endpoint: Endpoint = endpoint_for(str(self.client.base_url), settings.llm_concurrency)

    @property
    def capability(self) -> Capability:
        return self.endpoint.capability(self.model, self.start, configured=self.configured)

    def structured(self, messages: list[dict[str, str]], schema: type[Parsed], *, purpose: str,
                   max_tokens: int | None = None, temperature: float = 0.2, seed: int | None = None) -> Answer[Parsed]:
        """A validated ``schema`` instance; :class:`LLMUnavailable` or :class:`LLMOutputInvalid` if none."""
        cap = self.capability
        answer: Answer[Any] = Answer(None, cap.mode)
        asked = messages
        params: dict[str, Any] = {"max_tokens": max_tokens or self.max_tokens, "temperature": temperature}
        for round_ in (1, 2):
            completion = self._ask(cap, asked, schema, answer, purpose=purpose, seed=seed, **params)
            choice = completion.choices[0] if completion.choices else None
            text = (choice.message.content or "") if choice is not None else ""
            try:
                answer.value = parse_output(text, schema)
                return answer
            except OutputProblem as exc:
                problem = str(exc)
                log.warning("LLM %s answer unusable (round %d of 2): endpoint=%s model=%s mode=%s reason=%s",
                            purpose, round_, self.endpoint.label, self.model, answer.mode, problem)
                log.debug("LLM %s unusable answer (finish_reason=%s): %s...%s", purpose,
                          choice.finish_reason if choice is not None else None, text[:600], text[-300:])
            if choice is not None and choice.finish_reason == "length":
                # Cut off at max_tokens: a small model under a grammar loops inside a string. Showing it the
                # loop would prime another; ask afresh with a repetition penalty (a standard parameter).
                asked = messages
                params["frequency_penalty"] = LOOP_PENALTY
                problem = f"the answer was cut off at {params['max_tokens']} tokens"
                continue
            asked = [*messages, {"role": "assistant", "content": text[:4000]},
                     {"role": "user", "content": REPAIR.format(problem=problem)}]
        raise LLMOutputInvalid(f"the model's answer was not the JSON asked for, even after one repair ({problem})",
                               endpoint=self.endpoint.label, mode=answer.mode, code="invalid output")

    def text(self, messages: list[dict[str, str]], *, purpose: str, max_tokens: int | None = None,
             temperature: float = 0.2) -> Answer[str]:
        answer: Answer[str] = Answer("", "none")
        body = {"model": self.model, "messages": messages, "temperature": temperature,
                "max_tokens": max_tokens or self.max_tokens}
        completion = self._send(body, "none", purpose, answer)
        answer.value = (completion.choices[0].message.content or "").strip() if completion.choices else ""
        return answer

    def _ask(self, cap: Capability, messages: list[dict[str, str]], schema: type[BaseModel], answer: Answer[Any],
             *, purpose: str, seed: int | None, **params: Any) -> Any:
        """One completion in the strongest mode the endpoint accepts. Until a mode is confirmed, one thread
        negotiates and the others wait for what it learns (up to ``NEGOTIATION_GRACE``), so a refusal happens
        once per endpoint+model (a few times at most, from a server that refuses slowly)."""
        for _ in range(len(MODES) + 1):
            negotiating = not cap.confirmed
            with _negotiating(cap) if negotiating else contextlib.nullcontext():
                mode = answer.mode = cap.mode
                body = self._body(messages, schema, mode, seed, params)
                try:
                    completion = self._send(body, mode, purpose, answer)
                except _ModeRefused as refused:
                    now = cap.downgrade(mode, refused.said)
                    if now is None:  # another thread moved past this mode already (and said so)
                        continue
                    log.warning("LLM endpoint refused structured-output mode %s, using %s from now on: endpoint=%s "
                                "model=%s said=%s", mode, now, self.endpoint.label, self.model, refused.said)
                    continue
                except _SeedRefused:
                    self.endpoint.seed_supported = False
                    log.warning("LLM endpoint refused `seed`, sending none from now on: endpoint=%s",
                                self.endpoint.label)
                    continue
                cap.confirmed = True
                return completion
        raise LLMUnavailable("the LLM endpoint refused every way of asking for JSON",
                             endpoint=self.endpoint.label, mode=answer.mode)

    def _body(self, messages: list[dict[str, str]], schema: type[BaseModel], mode: Mode, seed: int | None,
              params: dict[str, Any]) -> dict[str, Any]:
        if mode in ("json_object", "none"):  # nothing enforces the shape: show it, in the system message
            reminder = JSON_REMINDER.format(schema=schema_hint(schema))
            if messages and messages[0]["role"] == "system":
                messages = [messages[0] | {"content": messages[0]["content"] + reminder}, *messages[1:]]
            else:
                messages = [{"role": "system", "content": reminder.strip()}, *messages]
        body: dict[str, Any] = {"model": self.model, "messages": messages, **params}
        fmt = response_format(mode, schema)
        if fmt is not None:
            body["response_format"] = fmt
        if seed is not None and self.endpoint.seed_supported:
            body["seed"] = seed
        return body

    def _send(self, body: dict[str, Any], mode: str, purpose: str, answer: Answer[Any]) -> Any:
        """The one place a request leaves for an LLM endpoint: concurrency cap, latency-sized timeout, our
        retries of transport failures. A mode or ``seed`` refusal is raised at once, never retried."""
        endpoint = self.endpoint
        timeout = self.floor
        try:
            for attempt in Retrying(stop=stop_after_attempt(self.max_retries + 1), wait=_wait, reraise=True,
                                    retry=retry_if_exception(_transient)):
                with attempt, endpoint.slot():
                    timeout = endpoint.timeout(self.floor, self.ceiling)
                    answer.calls += 1
                    started = time.monotonic()
                    try:
                        completion = self.client.chat.completions.create(**body, timeout=timeout)
                    except openai.APITimeoutError:
                        endpoint.observe(timeout)
                        raise
                    except openai.APIStatusError as exc:
                        self._classify_refusal(exc, body, mode)
                        log.info("LLM %s attempt %d failed: endpoint=%s HTTP %s", purpose,
                                 attempt.retry_state.attempt_number, endpoint.label, exc.status_code)
                        raise
                    endpoint.observe(time.monotonic() - started)
                    answer.add_usage(completion)
                    return completion
        except (_ModeRefused, _SeedRefused):
            raise
        except openai.OpenAIError as exc:
            detail = redact(_server_text(exc) if isinstance(exc, openai.APIStatusError) else str(exc))[:300]
            log.warning("LLM %s request failed: endpoint=%s model=%s mode=%s error=%s: %s", purpose, endpoint.label,
                        self.model, mode, type(exc).__name__, detail)
            raise LLMUnavailable(plain_reason(exc, timeout), endpoint=endpoint.label, mode=mode,
                                 code=_code(exc)) from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    @staticmethod
    def _classify_refusal(exc: openai.APIStatusError, body: dict[str, Any], mode: str) -> None:
        if exc.status_code not in _MODE_STATUSES:
            return
        said = _server_text(exc).lower()
        if "response_format" in body and any(word in said for word in _MODE_WORDS):
            raise _ModeRefused(redact(_server_text(exc))[:300]) from exc
        if "seed" in body and "seed" in said and exc.status_code < 500:
            raise _SeedRefused() from exc
