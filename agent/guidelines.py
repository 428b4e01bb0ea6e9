"""Platform tone profiles and brand rules, read from guideline documents (front matter), not code."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

# Used only when a workspace has no guideline for a platform; a CM sees the draft either way.
_FALLBACK_MAX_CHARS = 2000


class PlatformProfile(BaseModel):
    platform: str
    max_chars: int = _FALLBACK_MAX_CHARS
    greeting: str = "Hi {name},"
    sign_off: str = ""
    emoji: bool = False
    markdown: bool = Field(default=False, description="Whether the platform renders Markdown.")
    max_hashtags: int = 2
    max_mentions: int = 2
    guideline_id: str | None = None
    guideline_hash: str | None = None
    rules: str = ""


class BrandRules(BaseModel):
    banned_phrases: list[str] = Field(default_factory=list)
    guideline_ids: list[str] = Field(default_factory=list)
    text: str = ""


def platform_profile(platform: str, guidelines: list[dict[str, Any]]) -> PlatformProfile:
    for chunk in guidelines:
        attrs = chunk.get("attrs") or {}
        if (chunk.get("platform") or "").lower() == platform.lower():
            return PlatformProfile(
                platform=platform,
                max_chars=int(attrs.get("max_chars") or _FALLBACK_MAX_CHARS),
                greeting=str(attrs.get("greeting") or "Hi {name},"),
                sign_off=str(attrs.get("sign_off") or ""),
                emoji=bool(attrs.get("emoji", False)),
                markdown=bool(attrs.get("markdown", False)),
                max_hashtags=int(attrs.get("max_hashtags", 2)),
                max_mentions=int(attrs.get("max_mentions", 2)),
                guideline_id=chunk.get("id"),
                guideline_hash=chunk.get("content_hash"),
                rules=str(chunk.get("text") or ""),
            )
    return PlatformProfile(platform=platform)


def brand_rules(guidelines: list[dict[str, Any]]) -> BrandRules:
    banned: list[str] = []
    ids: list[str] = []
    texts: list[str] = []
    for chunk in guidelines:
        attrs = chunk.get("attrs") or {}
        if chunk.get("platform"):
            continue
        phrases = attrs.get("banned_phrases") or []
        if isinstance(phrases, list):
            banned.extend(str(p) for p in phrases)
        ids.append(str(chunk.get("id")))
        if attrs.get("guideline") == "brand_voice":
            texts.append(str(chunk.get("text") or ""))
    return BrandRules(banned_phrases=banned, guideline_ids=ids, text="\n\n".join(texts))
