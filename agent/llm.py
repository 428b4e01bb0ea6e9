"""Drafting through any OpenAI-compatible endpoint.

Transport retries (429/5xx/timeouts, honouring Retry-After) are the SDK's, with an explicit timeout;
tenacity adds the one app-level retry layer, for output that does not parse. Servers without JSON-schema
structured output get a plain completion validated with the same model.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import openai
from pydantic import BaseModel, Field, ValidationError
from tenacity import retry, retry_if_exception_type, stop_after_attempt

from agent.errors import DraftingError
from agent.guidelines import BrandRules, PlatformProfile
from agent.prompts import DRAFT_SYSTEM, DRAFT_USER, JSON_ONLY_SUFFIX
from agent.state import DraftResult, InboundMessage
from replydesk.settings import Settings

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class LLMDraft(BaseModel):
    reply: str = Field(description="The reply text, ready for the platform.")
    citations: list[str] = Field(description="Ids of the sources the reply uses.")
    needs_human_answer: bool = Field(description="True when the sources do not answer the message.")
    confidence: float = Field(ge=0, le=1)


class MalformedOutput(Exception):
    """The model answered, but not with the JSON we asked for."""


def _schema_unsupported(exc: openai.BadRequestError) -> bool:
    text = str(exc).lower()
    return "response_format" in text or "json_schema" in text or "schema" in text


class LLMDrafter:
    def __init__(
        self,
        settings: Settings,
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
        )
        self.system_prompt, self.user_template = prompt_override or (DRAFT_SYSTEM, DRAFT_USER)
        self._schema_ok = True
        self._lock = threading.Lock()

    def build_messages(
        self,
        message: InboundMessage,
        hits: list[dict[str, Any]],
        profile: PlatformProfile,
        brand: BrandRules,
        instructions: str | None,
    ) -> list[dict[str, str]]:
        sources = "\n".join(f"[{h['id']}] {h.get('text', '')}" for h in hits) or "(none)"
        thread = "\n".join(f"{t.author}: {t.text}" for t in message.thread) or "(none)"
        user = self.user_template.format(
            platform=message.platform,
            visibility="public" if message.public else "private",
            max_chars=profile.max_chars,
            platform_rules=profile.rules or "(none)",
            brand_voice=brand.text or "(none)",
            author_name=message.author.name,
            author_handle=message.author.handle.lstrip("@"),
            thread=thread,
            text=message.text,
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
    ) -> DraftResult:
        messages = self.build_messages(message, hits, profile, brand, instructions)
        try:
            parsed, usage = self._call(messages)
        except MalformedOutput as exc:
            raise DraftingError(f"model output was not valid JSON after retries: {exc}") from exc
        except openai.OpenAIError as exc:
            raise DraftingError(f"LLM endpoint failed: {type(exc).__name__}: {exc}") from exc
        known = {h["id"] for h in hits}
        return DraftResult(
            text=parsed.reply.strip(),
            citations=[c for c in dict.fromkeys(parsed.citations) if c in known],
            composer="llm",
            needs_human_answer=parsed.needs_human_answer,
            confidence=parsed.confidence,
            model=self.model,
            usage=usage,
            note="" if set(parsed.citations) <= known else "Dropped citations of unknown sources.",
        )

    @retry(retry=retry_if_exception_type(MalformedOutput), stop=stop_after_attempt(2), reraise=True)
    def _call(self, messages: list[dict[str, str]]) -> tuple[LLMDraft, dict[str, int]]:
        if self._schema_ok:
            try:
                completion = self.client.chat.completions.parse(
                    model=self.model, messages=messages, response_format=LLMDraft, temperature=0.2  # type: ignore[arg-type]
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
            return LLMDraft.model_validate_json(content), _usage(plain)
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
