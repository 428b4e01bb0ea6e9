"""Drafting (and triage sentiment) through any OpenAI-compatible endpoint.

One retry layer for transport errors: the SDK's (429/5xx/timeouts, honouring Retry-After), with an explicit
timeout. tenacity retries only output that does not parse, then gives up with a named error: the caller
falls back to the offline composer and says so. The guard (agent/resilience.py) decides before each call
whether the endpoint may be used at all (circuit breaker, per-source rate limit, daily token budget).
Servers without JSON-schema structured output get a plain completion validated with the same model.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Literal, TypeVar, cast

import openai
from pydantic import BaseModel, Field, ValidationError
from tenacity import retry, retry_if_exception_type, stop_after_attempt

from agent.errors import DraftingError
from agent.guidelines import BrandRules, PlatformProfile
from agent.limited_http import limited_http_client
from agent.prompts import DRAFT_SYSTEM, DRAFT_USER, JSON_ONLY_SUFFIX, TRIAGE_SYSTEM, TRIAGE_USER
from agent.resilience import LLMGuard, source_key
from agent.state import DraftResult, InboundMessage, ThreadSummary
from ground.settings import Settings

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
Parsed = TypeVar("Parsed", bound=BaseModel)


class LLMSummary(BaseModel):
    wants: str = ""
    said: str = ""
    open_questions: list[str] = Field(default_factory=list)


class LLMDraft(BaseModel):
    reply: str = Field(description="The reply text, ready for the platform.")
    citations: list[str] = Field(description="Ids of the sources the reply uses.")
    needs_human_answer: bool = Field(description="True when the sources do not answer the message.")
    confidence: float = Field(ge=0, le=1)
    move_to_dm: bool = False
    suggested_route: Literal["draft", "escalate"] = "draft"
    route_reason: str = ""
    sentiment: Literal["positive", "neutral", "negative", "mixed"] | None = None
    summary: LLMSummary | None = None


class LLMSentiment(BaseModel):
    sentiment: Literal["positive", "neutral", "negative", "mixed"]
    score: float = Field(ge=-1, le=1)
    urgency: Literal["low", "normal", "high"] = "normal"
    reason: str = ""


class MalformedOutput(Exception):
    """The model answered, but not with the JSON we asked for."""


def _schema_unsupported(exc: openai.BadRequestError) -> bool:
    text = str(exc).lower()
    return "response_format" in text or "json_schema" in text or "schema" in text


class LLMDrafter:
    def __init__(
        self,
        settings: Settings,
        guard: LLMGuard | None = None,
        canary: str = "",
        *,
        client: openai.OpenAI | None = None,
        prompt_override: tuple[str, str] | None = None,
    ) -> None:
        """``client`` and ``prompt_override`` (system, user template) are seams for eval runs, which
        route calls through their own cache and try alternative prompts; the app never passes them."""
        self.model = settings.llm_model
        self.client = client or openai.OpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or "not-needed",
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
            http_client=limited_http_client(settings),  # per-endpoint limits shared by every caller
        )
        self.guard = guard or LLMGuard(settings, None)
        self.canary = canary
        self._system_template, self.user_template = prompt_override or (DRAFT_SYSTEM, DRAFT_USER)
        self._schema_ok = True
        self._lock = threading.Lock()

    @property
    def system_prompt(self) -> str:
        # Not format(): an override prompt may hold unescaped braces (JSON examples); ours escapes them.
        text = self._system_template.replace("{canary}", self.canary or "(none)")
        return text.replace("{{", "{").replace("}}", "}")

    def build_messages(
        self,
        message: InboundMessage,
        hits: list[dict[str, Any]],
        profile: PlatformProfile,
        brand: BrandRules,
        instructions: str | None,
        examples: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, str]]:
        sources = "\n".join(f"[{h['id']}] {h.get('text', '')}" for h in hits) or "(none)"
        thread = "\n".join(f"{t.author}: {t.text}" for t in message.thread) or "(none)"
        shown = "\n\n".join(
            f"[{e['id']}] message: {e['message']}\n    approved reply: {e['reply']}" for e in examples or []
        )
        user = self.user_template.format(
            platform=message.platform,
            visibility="public" if message.public else "private",
            max_chars=profile.max_chars,
            platform_rules=profile.rules or "(none)",
            brand_voice=brand.text or "(none)",
            author_name=message.author.name,
            author_handle=message.author.handle.lstrip("@"),
            history="\n".join(f"- {h}" for h in message.author_history[-5:]) or "(none)",
            thread=thread,
            text=message.text,
            examples=shown or "(none)",
            sources=sources,
            instructions=f"\nREVIEWER INSTRUCTIONS FOR THIS VERSION:\n{instructions}\n" if instructions else "",
        )
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": user}]

    def draft(
        self,
        message: InboundMessage,
        hits: list[dict[str, Any]],
        profile: PlatformProfile,
        brand: BrandRules,
        instructions: str | None = None,
        examples: list[dict[str, Any]] | None = None,
    ) -> DraftResult:
        messages = self.build_messages(message, hits, profile, brand, instructions, examples)
        source = source_key(message.workspace, message.platform, message.author.id)
        parsed, usage = self._guarded(messages, LLMDraft, message.workspace, source)
        known = {h["id"] for h in hits}
        summary = parsed.summary
        return DraftResult(
            text=parsed.reply.strip(),
            citations=[c for c in dict.fromkeys(parsed.citations) if c in known],
            composer="llm",
            needs_human_answer=parsed.needs_human_answer,
            confidence=parsed.confidence,
            model=self.model,
            usage=usage,
            note="" if set(parsed.citations) <= known else "Dropped citations of unknown sources.",
            move_to_dm=parsed.move_to_dm,
            suggested_route=parsed.suggested_route,
            route_reason=parsed.route_reason,
            sentiment=parsed.sentiment,
            summary=ThreadSummary(**summary.model_dump(), source="llm") if summary else None,
            examples=[str(e["id"]) for e in examples or []],
        )

    def sentiment(self, text: str, context: str, workspace: str) -> LLMSentiment:
        messages = [
            {"role": "system", "content": TRIAGE_SYSTEM},
            {"role": "user", "content": TRIAGE_USER.format(context=context or "(none)", text=text)},
        ]
        parsed, _ = self._guarded(messages, LLMSentiment, workspace, None)
        return parsed

    def _guarded(
        self, messages: list[dict[str, str]], schema: type[Parsed], workspace: str, source: str | None
    ) -> tuple[Parsed, dict[str, int]]:
        refusal = self.guard.refusal(workspace, source)
        if refusal is not None:
            raise DraftingError(refusal)
        try:
            parsed, usage = cast(tuple[Parsed, dict[str, int]], self._call(messages, schema))
        except MalformedOutput as exc:
            self.guard.breaker.success()  # the endpoint works; the model's output did not parse
            raise DraftingError(f"model output was not valid JSON after retries: {exc}") from exc
        except openai.OpenAIError as exc:
            self.guard.failed()
            raise DraftingError(f"LLM endpoint failed: {type(exc).__name__}: {exc}") from exc
        except Exception:
            self.guard.failed()  # never leave a half-open breaker waiting for a verdict
            raise
        self.guard.record(workspace, source, usage)
        return parsed, usage

    @retry(retry=retry_if_exception_type(MalformedOutput), stop=stop_after_attempt(2), reraise=True)
    def _call(self, messages: list[dict[str, str]], schema: type[Parsed]) -> tuple[Parsed, dict[str, int]]:
        if self._schema_ok:
            try:
                completion = self.client.chat.completions.parse(
                    model=self.model, messages=messages, response_format=schema, temperature=0.2  # type: ignore[arg-type]
                )
                choice = completion.choices[0].message
                if choice.parsed is None:
                    raise MalformedOutput(choice.refusal or "empty structured output")
                return choice.parsed, _usage(completion)
            except openai.BadRequestError as exc:
                if not _schema_unsupported(exc):
                    raise
                with self._lock:
                    self._schema_ok = False
            except (ValidationError, json.JSONDecodeError) as exc:
                raise MalformedOutput(str(exc)[:200]) from exc
        fallback = [*messages[:-1], {"role": "user", "content": messages[-1]["content"] + JSON_ONLY_SUFFIX}]
        plain = self.client.chat.completions.create(
            model=self.model, messages=fallback, temperature=0.2  # type: ignore[arg-type]
        )
        content = _FENCE.sub("", plain.choices[0].message.content or "").strip()
        try:
            return schema.model_validate_json(content), _usage(plain)
        except ValidationError as exc:
            raise MalformedOutput(str(exc)[:200]) from exc


def _usage(completion: Any) -> dict[str, int]:
    usage = getattr(completion, "usage", None)
    if usage is None:
        return {}
    return {
        "prompt_tokens": int(usage.prompt_tokens or 0),
        "completion_tokens": int(usage.completion_tokens or 0),
        "total_tokens": int(usage.total_tokens or 0),
    }
