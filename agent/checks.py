"""Self-checks run on every draft before review; results are shown to the CM, never hidden.

Severity ``block`` means the draft must not be approved as written (a CM may still edit and approve it);
``warn`` asks the CM to look. Grounding (claims, numbers, links), privacy (public replies, PII), safety
(canary, system-prompt leak, injected instructions) and platform lint each have their own check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from agent.claims import check_claims
from agent.guard import canary_leaked, injection_signals, prompt_overlap
from agent.guidelines import BrandRules, PlatformProfile
from agent.relevance import judge
from agent.risk import personal_data
from agent.state import CheckResult, DraftResult, InboundMessage

_URL = re.compile(
    r"https?://[^\s)>\]]+|\bwww\.[^\s)>\]]+|(?<![@\w.-])[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|xyz|info|biz|ly|co|app|"
    r"shop|example|uk|de|fr)\b(?:/[^\s)>\]]*)?", re.I
)
_NUMBER = re.compile(r"(?<![\w.])[$€£]?\d+(?:[.,:]\d+)*%?")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.]{2,30})")
_HASHTAG = re.compile(r"(?<![\w#&])#([A-Za-z]\w{1,50})")
_MARKDOWN = re.compile(r"\*\*[^*]+\*\*|__[^_]+__|^\s{0,3}#{1,6}\s|\[[^\]]+\]\([^)]+\)|`[^`]+`|^\s*[-*]\s", re.M)
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
_ACCOUNT_SPECIFIC = re.compile(r"\b(my|our) (order|account|refund|delivery|parcel|package|payment|subscription)\b|"
                               r"\bwhere is my\b|\btracking\b", re.I)

Severity = Literal["info", "warn", "block"]


@dataclass
class CheckContext:
    """Everything the checks look at besides the draft."""

    message: InboundMessage
    hits: list[dict[str, Any]]
    profile: PlatformProfile
    brand: BrandRules
    guidelines: list[dict[str, Any]] = field(default_factory=list)
    canary: str = ""
    system_prompt: str = ""
    suspicious_sources: list[str] = field(default_factory=list)
    vocabulary: frozenset[str] = frozenset()  # the workspace's own names (knowledge.search.brand_vocabulary)


def _norm_url(url: str) -> str:
    return re.sub(r"^https?://(www\.)?", "", url.rstrip(".,;:!?'\"").rstrip("/").lower())


def _ok(name: str, detail: str = "", severity: Severity = "warn") -> CheckResult:
    return CheckResult(name=name, passed=True, detail=detail, severity=severity)


def _fail(name: str, detail: str, severity: Severity = "block") -> CheckResult:
    return CheckResult(name=name, passed=False, detail=detail, severity=severity)


def _cited(draft: DraftResult, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [h for h in hits if h["id"] in set(draft.citations)]


def _names(ctx: CheckContext) -> set[str]:
    author = ctx.message.author
    names = {author.handle.lower().lstrip("@"), author.name.lower()}
    if author.display_name:
        names.update(w.lower() for w in author.display_name.split())
    return names


def check_answered(draft: DraftResult) -> CheckResult:
    if draft.needs_human_answer:
        return _fail("answered", "no source answers this: a human must answer", "warn")
    return _ok("answered")


def check_answers_question(draft: DraftResult, ctx: CheckContext) -> CheckResult:
    """Relevance before grounding: a cited source must answer the question asked, not merely support the
    sentences copied from it (agent/relevance.py). Holds and acknowledgements cite nothing to judge."""
    cited = _cited(draft, ctx.hits)
    if draft.reply_kind != "answer" or not cited:
        return _ok("answers_the_question", f"nothing cited to judge ({draft.reply_kind})")
    verdicts = judge(ctx.message.text, cited, vocabulary=ctx.vocabulary)
    answering = [v for v in verdicts if v.answers]
    if answering:
        best = max(answering, key=lambda v: v.similarity)
        return _ok("answers_the_question", f"{best.source_id}: {best.reason}", "block")
    best = max(verdicts, key=lambda v: v.similarity)
    return _fail("answers_the_question", f"{best.source_id} does not answer the message: {best.reason}")


def check_citations(draft: DraftResult, hits: list[dict[str, Any]]) -> CheckResult:
    known = {h["id"] for h in hits}
    unknown = [c for c in draft.citations if c not in known]
    if unknown:
        return _fail("citations_valid", f"unknown sources: {', '.join(unknown)}")
    if not draft.citations and draft.reply_kind == "answer" and not draft.needs_human_answer:
        return _fail("citations_valid", "an answer with no cited source")
    return _ok("citations_valid", f"{len(draft.citations)} cited")


def check_claims_supported(draft: DraftResult, ctx: CheckContext) -> CheckResult:
    boilerplate = f"{ctx.profile.greeting}\n{ctx.profile.sign_off}"
    verdicts = check_claims(draft.text, _cited(draft, ctx.hits), _names(ctx), boilerplate)
    bad = [v for v in verdicts if not v.supported]
    if bad:
        detail = "; ".join(f"{v.sentence[:80]!r} ({v.reason}, similarity {v.score})" for v in bad[:4])
        return _fail("claims_supported", f"{len(bad)}/{len(verdicts)} factual sentences unsupported: {detail}")
    return _ok("claims_supported", f"{len(verdicts)} factual sentences, all supported by cited sources")


def check_numbers(draft: DraftResult, hits: list[dict[str, Any]]) -> CheckResult:
    source = "\n".join(str(h.get("text") or "") for h in _cited(draft, hits)).replace(",", "")
    missing = [n for n in _NUMBER.findall(draft.text) if n.replace(",", "") not in source]
    if missing:
        return _fail("numbers_in_sources", f"not in cited sources: {missing}")
    return _ok("numbers_in_sources")


def check_links(draft: DraftResult, ctx: CheckContext) -> CheckResult:
    allowed = frozenset().union(*(_links_of(str(h.get("text") or "")) for h in ctx.hits + ctx.guidelines))
    foreign = [u for u in _URL.findall(draft.text) if _norm_url(u) not in allowed]
    if foreign:
        return _fail("links_in_kb", f"links not in the knowledge base: {foreign}")
    return _ok("links_in_kb")


@lru_cache(maxsize=2048)
def _links_of(text: str) -> frozenset[str]:
    """A knowledge text's links, normalised (the same chunks come back draft after draft: read once)."""
    return frozenset(_norm_url(u) for u in _URL.findall(text))


def check_public_privacy(draft: DraftResult, ctx: CheckContext) -> CheckResult:
    """A public reply never carries account or order details, not even the author's own."""
    if not ctx.message.public:
        return _ok("public_privacy", "private reply")
    kb = "\n".join(str(h.get("text") or "") for h in ctx.hits + ctx.guidelines)
    found = [k for k in personal_data(draft.text) if k not in personal_data(kb) or k == "order_or_account_id"]
    if found:
        return _fail("public_privacy", f"public reply contains {', '.join(found)}: move it to a DM")
    if _ACCOUNT_SPECIFIC.search(ctx.message.text) and draft.needs_human_answer and not draft.move_to_dm and not \
            re.search(r"\b(dm|direct message|private message|message us|email us)\b", draft.text, re.I):
        return _fail("public_privacy", "account-specific question answered in public without offering a DM", "warn")
    return _ok("public_privacy")


def check_pii_leak(draft: DraftResult, ctx: CheckContext) -> CheckResult:
    """Personal data that is neither in the knowledge base nor the author's own message."""
    allowed = "\n".join([ctx.message.text] + [str(h.get("text") or "") for h in ctx.hits + ctx.guidelines])
    emails = set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.-]+", draft.text))
    leaked = [e for e in emails if e.lower() not in allowed.lower()]
    leaked += [k for k in personal_data(draft.text) if k in ("card_number", "phone", "street_address")
               and k not in personal_data(allowed)]
    if leaked:
        return _fail("pii_leak", f"personal data not from the knowledge base or the author: {leaked}")
    return _ok("pii_leak")


def check_canary(draft: DraftResult, ctx: CheckContext) -> CheckResult:
    if ctx.canary and canary_leaked(draft.text, ctx.canary):
        return _fail("system_prompt_canary", "the draft contains the system-prompt canary: the prompt leaked")
    if ctx.system_prompt and prompt_overlap(draft.text, ctx.system_prompt):
        return _fail("system_prompt_canary", "the draft repeats the system prompt word for word")
    return _ok("system_prompt_canary")


def check_injection(ctx: CheckContext, draft: DraftResult) -> CheckResult:
    inbound = [ctx.message.text] + [t.text for t in ctx.message.thread]
    signals = sorted({s for text in inbound for s in injection_signals(text)})
    cited_bad = [s for s in ctx.suspicious_sources if s in draft.citations]
    if signals:
        return _fail("injection", f"the inbound message contains instructions to the model ({', '.join(signals)}): "
                     "not followed; read the draft with care")
    if cited_bad:
        return _fail("injection", f"cites knowledge that contains instructions to the model: {cited_bad}")
    if ctx.suspicious_sources:
        return _ok("injection", f"knowledge with embedded instructions was withheld: {ctx.suspicious_sources}")
    return _ok("injection")


def check_platform(draft: DraftResult, ctx: CheckContext) -> list[CheckResult]:
    profile, size = ctx.profile, len(draft.text)
    length = (_ok if 0 < size <= profile.max_chars else _fail)(
        "platform_length", f"{size}/{profile.max_chars} characters on {profile.platform}", "block"
    )
    problems = []
    allowed = {ctx.message.author.handle.lower().lstrip("@")}
    allowed |= {t.author.lower().lstrip("@") for t in ctx.message.thread}
    mentions = _MENTION.findall(draft.text)
    if [m for m in mentions if m.lower() not in allowed] or len(mentions) > profile.max_mentions:
        problems.append(f"mentions {mentions} (only the author or thread participants)")
    tags = _HASHTAG.findall(draft.text)
    if len(tags) > profile.max_hashtags:
        problems.append(f"{len(tags)} hashtags (at most {profile.max_hashtags})")
    if not profile.markdown and _MARKDOWN.search(draft.text):
        problems.append(f"Markdown that {profile.platform} does not render")
    if not profile.emoji and _EMOJI.search(draft.text):
        problems.append(f"emoji, which the {profile.platform} guideline does not use")
    lint = _fail("platform_lint", "; ".join(problems), "warn") if problems else _ok("platform_lint")
    return [length, lint]


def check_readable(draft: DraftResult) -> CheckResult:
    """Garbled text (words run together, letters swapped for symbols) is what obeying an injection looks like."""
    words = [w for w in _URL.sub(" ", draft.text).split() if not w.startswith(("@", "#"))]
    run_together = [w for w in words if len(w) > 30]
    letters = sum(c.isalpha() for c in draft.text)
    odd = sum(c.isdigit() or c in "@&*$^%" for c in "".join(words))
    if run_together or (letters and odd / letters > 0.25):
        sample = run_together[0][:40] if run_together else draft.text[:40]
        return _fail("readable", f"the draft looks garbled or encoded: {sample!r}")
    return _ok("readable")


def check_banned(draft: DraftResult, brand: BrandRules) -> CheckResult:
    lowered = draft.text.lower()
    found = [p for p in brand.banned_phrases if p.lower() in lowered]
    if found:
        return _fail("banned_phrases", f"uses banned phrases: {found}")
    return _ok("banned_phrases")


def run_checks(draft: DraftResult, ctx: CheckContext) -> list[CheckResult]:
    return [
        check_answered(draft),
        check_answers_question(draft, ctx),
        check_citations(draft, ctx.hits),
        check_claims_supported(draft, ctx),
        check_numbers(draft, ctx.hits),
        check_links(draft, ctx),
        check_public_privacy(draft, ctx),
        check_pii_leak(draft, ctx),
        check_canary(draft, ctx),
        check_injection(ctx, draft),
        *check_platform(draft, ctx),
        check_readable(draft),
        check_banned(draft, ctx.brand),
    ]


def flagged(checks: list[CheckResult]) -> bool:
    """True when a blocking check failed: the CM must not approve the draft as written."""
    return any(not c.passed and c.severity == "block" for c in checks)


REVISABLE = {"answers_the_question", "claims_supported", "numbers_in_sources", "links_in_kb", "public_privacy",
             "pii_leak",
             "platform_length", "banned_phrases", "platform_lint"}
