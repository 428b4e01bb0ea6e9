"""Drafting (and triage sentiment) through any OpenAI-compatible endpoint, via the one client layer.

agent/llm_client.py negotiates the structured-output mode, parses tolerantly (one repair round) and
retries transport failures once per layer. The guard (agent/resilience.py) decides before each call
whether the endpoint may be used at all (circuit breaker, per-source rate limit, daily token budget);
a model whose output does not parse is not an outage, so it does not trip the breaker.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import openai
from pydantic import BaseModel, Field, field_validator

from agent.errors import DraftingError, LLMOutputInvalid
from agent.guidelines import BrandRules, PlatformProfile
from agent.llm_client import LLMClient
from agent.prompts import DRAFT_SYSTEM, DRAFT_USER, TRIAGE_SYSTEM, TRIAGE_USER
from agent.resilience import LLMGuard, source_key
from agent.state import DraftResult, InboundMessage, ThreadSummary
from ground.settings import Settings

Parsed = TypeVar("Parsed", bound=BaseModel)
SENTIMENT_MAX_TOKENS = 150


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

    @field_validator("confidence", mode="before")
    @classmethod
    def _share(cls, value: Any) -> Any:
        return as_share(value)


class LLMSentiment(BaseModel):
    sentiment: Literal["positive", "neutral", "negative", "mixed"]
    score: float = Field(ge=-1, le=1)
    urgency: Literal["low", "normal", "high"] = "normal"
    reason: str = ""

    @field_validator("score", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return min(1.0, max(-1.0, value)) if isinstance(value, int | float) and not isinstance(value, bool) else value


def as_share(value: Any) -> Any:
    """A self-rated confidence as a share of 1. Models often answer in percent (85 for 0.85), and a grammar
    cannot bound a JSON number, so a small model's 5 or 120 would otherwise cost the whole draft; the value
    only orders the queue and is never shown as a fact. Anything but a number is left to the schema."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if 1 < value <= 100:
        value = value / 100
    return min(1.0, max(0.0, float(value)))


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
        self.llm = LLMClient(settings, client=client)
        self.model = self.llm.model
        self.guard = guard or LLMGuard(settings, None)
        self.canary = canary
        self._system_template, self.user_template = prompt_override or (DRAFT_SYSTEM, DRAFT_USER)

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
        parsed, usage = self._guarded(messages, LLMDraft, message.workspace, source, purpose="draft")
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
        parsed, _ = self._guarded(messages, LLMSentiment, workspace, None, purpose="triage sentiment",
                                  max_tokens=SENTIMENT_MAX_TOKENS)
        return parsed

    def _guarded(
        self, messages: list[dict[str, str]], schema: type[Parsed], workspace: str, source: str | None,
        *, purpose: str, max_tokens: int | None = None,
    ) -> tuple[Parsed, dict[str, int]]:
        refusal = self.guard.refusal(workspace, source)
        if refusal is not None:
            raise DraftingError(refusal, endpoint=self.llm.endpoint.label, mode="(not sent)")
        try:
            answer = self.llm.structured(messages, schema, purpose=purpose, max_tokens=max_tokens)
        except LLMOutputInvalid:
            self.guard.breaker.success()  # the endpoint works; the model's output did not parse
            raise
        except DraftingError:
            self.guard.failed()
            raise
        except Exception:
            self.guard.failed()  # never leave a half-open breaker waiting for a verdict
            raise
        usage = answer.usage | {"llm_calls": answer.calls}
        self.guard.record(workspace, source, usage)
        return answer.value, usage
