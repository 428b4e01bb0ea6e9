"""The offline composer: no LLM, the best-matching knowledge answer personalised for author and platform.

This is a real mode (teams without an LLM, and the fallback when the endpoint is down): every factual
sentence it writes is copied from a cited knowledge chunk; only the greeting, empathy line and sign-off
are its own.
"""

from __future__ import annotations

import re
from typing import Any

from agent.guidelines import PlatformProfile
from agent.relevance import (
    CLEAR_LEAD,
    QUESTION_MATCH,
    QUESTION_RELATED,
    about_own_order,
    asks_something,
    best_answer,
)
from agent.state import DraftResult, InboundMessage
from ground.text import sentences as split_sentences

_ANSWERABLE_KINDS = ("faq", "policy", "other")
_ACKNOWLEDGED = ("praise", "feedback")
_THANKS = re.compile(r"\b(thanks|thank you|thank u|thx|ty|cheers|appreciate\w*)\b", re.I)
_ACCOUNT_SPECIFIC = re.compile(
    r"\b(my|our) (order|account|refund|delivery|parcel|package|payment|subscription|bike)\b.{0,60}"
    r"\b(hasn'?t|has not|never|still|where|late|missing|wrong|arrived|status|stuck|charged)\b|\bwhere is my\b",
    re.I | re.S,
)


def account_specific(message: InboundMessage) -> bool:
    """The author asks about their own order or account: details belong in a private channel."""
    return bool(_ACCOUNT_SPECIFIC.search(message.text))


def private_offer(message: InboundMessage) -> str:
    if message.public:
        return "Send us a DM with your order number and we'll look into it for you."
    return "Reply here with your order number and we'll look into it for you."


def _answer_text(hit: dict[str, Any]) -> str:
    if hit.get("answer"):
        return str(hit["answer"]).strip()
    text = str(hit.get("text") or "").strip()
    title = str(hit.get("title") or "")
    first, _, rest = text.partition("\n")
    # Prose chunks start with their heading line; the answer is the body.
    if rest and (first.strip() in title or len(first) < 80):
        return rest.strip()
    return text


def fit_sentences(text: str, budget: int) -> str:
    """Whole sentences that fit the budget (never a cut-off fact); at least the first sentence."""
    sentences = split_sentences(text)
    kept: list[str] = []
    for sentence in sentences:
        candidate = " ".join([*kept, sentence])
        if len(candidate) > budget and kept:
            break
        kept.append(sentence)
    return " ".join(kept)


def _frame(message: InboundMessage, profile: PlatformProfile, sentiment: str) -> tuple[str, str]:
    name = message.author.name
    greeting = profile.greeting.replace("{name}", name).replace("{handle}", message.author.handle.lstrip("@"))
    if sentiment == "negative":
        greeting = f"{greeting} Sorry for the trouble."
    elif message.author_history:
        greeting = f"{greeting} Good to hear from you again."
    return greeting, profile.sign_off


def _assemble(greeting: str, body: str, sign_off: str, profile: PlatformProfile) -> str:
    glue = "\n\n" if profile.max_chars > 500 else " "
    parts = [greeting, body] + ([sign_off] if sign_off else [])
    return glue.join(p.strip() for p in parts if p.strip())


def acknowledgement(
    message: InboundMessage, profile: PlatformProfile, category: str, forward_to_name: str | None = None,
    note: str = "",
) -> DraftResult:
    """Praise, thanks and feedback get a short, warm thank-you in the platform's voice: no facts, nothing
    to cite, no holding line. Feedback says where it goes when the guidelines name a team for it."""
    greeting, sign_off = _frame(message, profile, "neutral")
    if category == "feedback":
        body = (f"Thanks for the idea, we'll pass it on to our {forward_to_name} team." if forward_to_name
                else "Thanks for the idea, we'll share it with the team.")
    elif _THANKS.search(message.text) and message.thread:  # thanks for help given earlier in the thread
        body = "Thanks so much for letting us know, glad we could help! Enjoy the ride."
    else:
        body = "Thanks so much for sharing this, it made our day! Enjoy every ride."
    text = _assemble(greeting, body, sign_off, profile)
    return DraftResult(
        text=fit_sentences(text, profile.max_chars)[: profile.max_chars], composer="offline",
        reply_kind="acknowledge", confidence=1.0,
        note=(note + " " if note else "") + f"{category.capitalize()}: a thank-you, no facts needed"
        + (f"; forward to {forward_to_name}." if forward_to_name else "."),
    )


def _hold(message: InboundMessage, profile: PlatformProfile, greeting: str, sign_off: str, why: str,
          note: str) -> DraftResult:
    dm = account_specific(message) or about_own_order(message.text)
    holding = "Thanks for reaching out! We're checking this with the team and will get back to you shortly."
    if dm:
        holding = f"Thanks for reaching out! {private_offer(message)}"
    elif message.public:
        holding = holding.replace("shortly.", "shortly — feel free to send us a DM in the meantime.")
    text = _assemble(greeting, holding, sign_off, profile)
    return DraftResult(
        text=fit_sentences(text, profile.max_chars)[: profile.max_chars],
        composer="offline",
        needs_human_answer=True,
        reply_kind="hold",
        confidence=0.0,
        move_to_dm=message.public,
        note=(note + " " if note else "") + f"Holding reply: {why}",
    )


def compose_offline(
    message: InboundMessage,
    hits: list[dict[str, Any]],
    profile: PlatformProfile,
    *,
    sentiment: str = "neutral",
    min_score: float = 0.30,
    skip_ids: tuple[str, ...] = (),
    prefer_ids: tuple[str, ...] = (),
    note: str = "",
    examples: tuple[str, ...] = (),
    category: str = "question",
    forward_to_name: str | None = None,
    relevance: tuple[float, float, float] = (QUESTION_MATCH, QUESTION_RELATED, CLEAR_LEAD),
    vocabulary: frozenset[str] = frozenset(),
) -> DraftResult:
    if category in _ACKNOWLEDGED and not asks_something(message.text):
        return acknowledgement(message, profile, category, forward_to_name, note)
    greeting, sign_off = _frame(message, profile, sentiment)
    if about_own_order(message.text):
        return _hold(message, profile, greeting, sign_off,
                     "asks about their own order or account, which someone has to look up.", note)
    dm = account_specific(message)
    pool = [h for h in hits if h.get("kind") in _ANSWERABLE_KINDS and h["id"] not in skip_ids]
    candidates = {h["id"] for h in pool if float(h.get("score", 0)) >= min_score}
    if not candidates:
        return _hold(message, profile, greeting, sign_off, "no knowledge source matched well enough.", note)
    # Relevance before grounding: the source must answer *this* question (agent/relevance.py). A source an
    # approved reply to a similar message used is tried first when it answers: the CM chose it before.
    preferred = candidates & set(prefer_ids)
    best, verdict = best_answer(message.text, pool, *relevance, vocabulary, preferred) if preferred else (None, None)
    if best is None:
        best, verdict = best_answer(message.text, pool, *relevance, vocabulary, candidates)
    if best is None:
        why = verdict.reason if verdict is not None else "no source answers the question."
        return _hold(message, profile, greeting, sign_off, f"no source answers the question ({why}).", note)
    offer = private_offer(message) if dm else ""
    thanks = "Thanks for the kind words! " if category == "praise" else ""
    overhead = len(_assemble(greeting, f"{thanks}{offer}", sign_off, profile)) + 2
    body = fit_sentences(_answer_text(best), max(profile.max_chars - overhead, 40))
    text = _assemble(greeting, f"{thanks}{body} {offer}".strip(), sign_off, profile)
    learned = " Source chosen as in an approved reply to a similar message." if best["id"] in prefer_ids else ""
    return DraftResult(
        text=text,
        citations=[best["id"]],
        composer="offline",
        needs_human_answer=False,
        confidence=round(float(best.get("score", 0)), 3),
        move_to_dm=bool(dm and message.public),
        note=(note + " " if note else "") + f"Personalised answer from {best['id']}: "
        f"{verdict.reason if verdict else ''}.{learned}",
        examples=list(examples),
    )


def offline_variant(
    message: InboundMessage, hits: list[dict[str, Any]], profile: PlatformProfile, first: DraftResult,
    *, sentiment: str = "neutral", min_score: float = 0.30, vocabulary: frozenset[str] = frozenset(),
) -> tuple[str, DraftResult] | None:
    """A second version: the next-best source if one qualifies, else the same answer cut to one sentence."""
    if first.reply_kind != "answer":
        return None
    other = compose_offline(message, hits, profile, sentiment=sentiment, min_score=min_score,
                            skip_ids=tuple(first.citations), vocabulary=vocabulary)
    if not other.needs_human_answer:
        return "answer from the next-best source", other
    best = next((h for h in hits if h["id"] in first.citations), None)
    if best is None:
        return None
    greeting, sign_off = _frame(message, profile, sentiment)
    short = (split_sentences(_answer_text(best)) or [""])[0]
    text = _assemble(greeting, short, sign_off, profile)
    if text == first.text:
        return None
    return "shorter: the key fact only", first.model_copy(update={"text": text})
