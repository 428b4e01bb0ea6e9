"""Self-checks run on every draft before review; results are shown to the CM, never hidden."""

from __future__ import annotations

import re
from typing import Any

from agent.guidelines import BrandRules, PlatformProfile
from agent.state import CheckResult, DraftResult

_URL = re.compile(r"https?://[^\s)>\]]+")
_NUMBER = re.compile(r"(?<![\w.])[$€£]?\d+(?:[.,:]\d+)*%?")


def _norm_url(url: str) -> str:
    return url.rstrip(".,;:!?'\"").rstrip("/").lower()


def check_citations(draft: DraftResult, hits: list[dict[str, Any]]) -> CheckResult:
    known = {h["id"] for h in hits}
    unknown = [c for c in draft.citations if c not in known]
    if unknown:
        return CheckResult(name="citations_valid", passed=False, detail=f"unknown sources: {', '.join(unknown)}")
    if not draft.citations and not draft.needs_human_answer:
        return CheckResult(name="citations_valid", passed=False, detail="an answer with no cited source")
    return CheckResult(name="citations_valid", passed=True, detail=f"{len(draft.citations)} cited")


def _cited_text(draft: DraftResult, hits: list[dict[str, Any]]) -> str:
    cited = set(draft.citations)
    return "\n".join(str(h.get("text") or "") for h in hits if h["id"] in cited)


def check_links(draft: DraftResult, hits: list[dict[str, Any]]) -> CheckResult:
    allowed = {_norm_url(u) for h in hits for u in _URL.findall(str(h.get("text") or ""))}
    foreign = [u for u in _URL.findall(draft.text) if _norm_url(u) not in allowed]
    if foreign:
        return CheckResult(name="links_in_kb", passed=False, detail=f"links not in the knowledge base: {foreign}")
    return CheckResult(name="links_in_kb", passed=True)


def check_numbers(draft: DraftResult, hits: list[dict[str, Any]]) -> CheckResult:
    source = _cited_text(draft, hits)
    missing = [n for n in _NUMBER.findall(draft.text) if n not in source]
    if missing:
        return CheckResult(name="numbers_in_sources", passed=False, detail=f"not in cited sources: {missing}")
    return CheckResult(name="numbers_in_sources", passed=True)


def check_length(draft: DraftResult, profile: PlatformProfile) -> CheckResult:
    size = len(draft.text)
    passed = 0 < size <= profile.max_chars
    return CheckResult(
        name="platform_length", passed=passed, detail=f"{size}/{profile.max_chars} characters on {profile.platform}"
    )


def check_banned(draft: DraftResult, brand: BrandRules) -> CheckResult:
    lowered = draft.text.lower()
    found = [p for p in brand.banned_phrases if p.lower() in lowered]
    if found:
        return CheckResult(name="banned_phrases", passed=False, detail=f"uses banned phrases: {found}")
    return CheckResult(name="banned_phrases", passed=True)


def check_answered(draft: DraftResult) -> CheckResult:
    if draft.needs_human_answer:
        return CheckResult(name="answered", passed=False, detail="no source answers this: a human must answer")
    return CheckResult(name="answered", passed=True)


def run_checks(
    draft: DraftResult, hits: list[dict[str, Any]], profile: PlatformProfile, brand: BrandRules
) -> list[CheckResult]:
    return [
        check_answered(draft),
        check_citations(draft, hits),
        check_numbers(draft, hits),
        check_links(draft, hits),
        check_length(draft, profile),
        check_banned(draft, brand),
    ]
