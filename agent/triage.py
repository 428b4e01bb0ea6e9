"""First-cut triage: sentiment from VADER (a lexicon built for social-media text) plus keyword rules.

Keyword rules are a deliberate stop-gap for intent and risk: they are transparent to a CM and need no
model. A learned taxonomy (``replydesk intents load``) replaces the intent part later.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agent.state import InboundMessage, Triage

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("crisis", re.compile(r"\b(lawyer|attorney|sue|suing|lawsuit|legal action|court|fire|burn(ed|t)?|injur\w*|"
                          r"hospital|explod\w*|smok(e|ing)|kill myself|suicid\w*|self[- ]harm)\b", re.I)),
    ("abuse", re.compile(r"\b(idiot|stupid|moron|scum|shut up|f+u+c+k+\w*|bitch|retard\w*)\b", re.I)),
    ("spam", re.compile(r"(\b(crypto|forex|bitcoin|giveaway|promo code|onlyfans|dm me for|follow back)\b|"
                        r"https?://\S+.*https?://\S+)", re.I)),
    ("sales", re.compile(r"\b(partnership|collab\w*|sponsor\w*|wholesale|reseller|affiliate|bulk order)\b", re.I)),
    ("complaint", re.compile(r"\b(still (hasn'?t|not|no)|never (arrived|came|got)|worst|terrible|awful|unacceptable|"
                             r"refund|broken|disappointed|angry|late|ridiculous|scam)\b", re.I)),
    ("praise", re.compile(r"\b(love|loving|amazing|awesome|great job|thank(s| you)|best|fantastic|obsessed)\b", re.I)),
    ("question", re.compile(r"(\?|\b(how|what|when|where|why|which|can i|do you|does it|is there|is it)\b)", re.I)),
]
_SECURITY = re.compile(r"\b(hack(ed)?|password|account (was )?(taken|stolen)|data (breach|leak)|phish\w*)\b", re.I)
_LEGAL = re.compile(r"\b(lawyer|attorney|sue|suing|lawsuit|legal action|court)\b", re.I)
_SAFETY = re.compile(r"\b(fire|burn(ed|t)?|injur\w*|hospital|explod\w*|smok(e|ing))\b", re.I)
_SELF_HARM = re.compile(r"\b(kill myself|suicid\w*|self[- ]harm|end it all)\b", re.I)
_PII = re.compile(r"(\b\d{13,19}\b|\b[\w.+-]+@[\w-]+\.[\w.]+\b|\+?\d[\d\s().-]{8,}\d)")


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> tuple[str, float]:
    score = float(_vader().polarity_scores(text)["compound"])
    label = "negative" if score <= -0.05 else "positive" if score >= 0.05 else "neutral"
    return label, score


def risk_flags(message: InboundMessage) -> list[str]:
    flags = []
    text = message.text
    if _LEGAL.search(text):
        flags.append("legal_threat")
    if _SAFETY.search(text):
        flags.append("safety")
    if _SELF_HARM.search(text):
        flags.append("self_harm")
    if _SECURITY.search(text):
        flags.append("security")
    if message.public and _PII.search(text):
        flags.append("pii_public")
    return flags


def triage_message(message: InboundMessage) -> Triage:
    intent, confidence = "other", 0.3
    for name, pattern in _RULES:
        if pattern.search(message.text):
            intent, confidence = name, 0.6
            break
    label, score = sentiment(message.text)
    flags = risk_flags(message)
    urgency = "high" if flags or (intent == "complaint" and score < -0.5) else "normal"
    route, reason, team = "draft", f"{intent} the knowledge base may answer", None
    if "self_harm" in flags or "safety" in flags:
        route, reason, team = "escalate", "safety risk reported", "trust-and-safety"
    elif "legal_threat" in flags:
        route, reason, team = "escalate", "legal threat", "legal"
    elif "security" in flags:
        route, reason, team = "escalate", "possible account or data security issue", "security"
    elif intent == "abuse":
        route, reason = "moderate", "abusive language: suggest hide/report"
    elif intent == "spam":
        route, reason = "ignore", "looks like spam"
    return Triage(
        intent=intent,
        confidence=confidence,
        sentiment=label,
        sentiment_score=round(score, 3),
        urgency=urgency,
        route=route,
        route_reason=reason,
        escalate_to=team,
        risk_flags=flags,
    )
