"""Risk flags, urgency and routing: transparent rules a CM can read, with the reason stated.

Risk signals are high-stakes and rare, so they are explicit patterns rather than a learned model: a CM can
see why a message was escalated, and a miss is fixed by adding a pattern. Teams come from the escalation
guideline's front matter (``teams: {safety: "Trust & Safety", ...}``) when a workspace has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agent.state import InboundMessage

_LEGAL = re.compile(
    r"\b(lawyers?|attorneys?|solicitors?|sue|suing|lawsuit|legal action|take (you|this) to court|court case|"
    r"small[- ]claims|class[- ]action|trading standards|consumer protection|ombudsman|cease and desist)\b", re.I)
_SELF_HARM = re.compile(
    r"\b(kill(ing)? myself|suicid\w*|self[- ]harm\w*|end(ing)? (it all|my life)|want(ed)? to die|"
    r"hurt(ing)? myself|don'?t want to (be here|live) anymore|no reason to live)\b", re.I)
_SAFETY = re.compile(
    r"\b(caught fire|on fire|fire (started|broke out)|flames?|smok(e|ed|ing) (coming|came|from|out)|smok(ed|ing)|"
    r"spark(s|ed|ing)|swell(ing|ed)|swollen|explod\w*|overheat\w*|too hot to touch|injur\w*|hospital|a&e|"
    r"emergency room|i crashed|crashed (on|into|at|while|going)|(brakes?|frame|fork|handlebars?) "
    r"(failed|snapped|broke|cracked)|electric shock|got hurt|burn(ed|t|s)? (my|his|her|their)|burns on)\b", re.I)
_SECURITY = re.compile(
    r"\b(hack(ed|er)?|account (was |got |has been )?(taken over|stolen|compromised)|"
    r"someone (else )?(has )?(logged|got) in(to)? my (\w+ ){0,3}account|"
    r"(changed|reset) my (email|password) (without|and i didn'?t)|phish\w*|"
    r"data (breach|leak)|vulnerabilit\w*|exploit|someone else'?s (order|account|bike|details)|"
    r"one[- ]time code|2fa code|password (was )?(changed|leaked))\b", re.I)
# The escalation guideline's Billing rule: chargebacks and payment disputes, double or unexpected charges,
# overdue refunds, financing problems, pricing errors. "charged ... twice" allows a few words between
# ("charged my card twice for the same order"); a bare mention of Klarna or Affirm is a question, not a
# dispute, so financing needs a problem word nearby.
_BILLING = re.compile(
    r"\b(charge ?backs?|(charged|billed)( \w+){0,4} (twice|two times|double|again)|double[- ](charged|billed)|"
    r"(duplicate|double|unexpected|unauthori[sz]ed|unrecogni[sz]ed|extra|wrong) (charge|payment|transaction)s?|"
    r"charged (the )?wrong amount|(took|taken|taking) (my )?(payment|money)( \w+){0,2} (twice|two times|again)|"
    r"payment dispute|dispute (the|a|this) (charge|payment)|"
    r"refund (is |was )?(still )?(overdue|missing)|pricing error|"
    r"(klarna|affirm)\b.{0,60}\b(wrong|problem|issue|error|declined|charged|dispute|not working))\b", re.I)
_ABUSE = re.compile(
    r"\b(idiots?|stupid|morons?|scum|shut up|f+u+c+k+\w*|f\*+k?\w*|bitch\w*|retard\w*|losers?|clowns?|"
    r"pathetic|go to hell|i know where (you|your)\w* \w+)\b", re.I)
_SPAM = re.compile(
    r"(\b(crypto|forex|bitcoin|giveaway|onlyfans|dm me for|follow back|f4f|cheap followers|link in (my )?bio|"
    r"click my bio|earn \$?\d+\w* (a|per) (day|week))\b|https?://\S+.*https?://\S+)", re.I)
_VIP_TEXT = re.compile(
    r"\b(i'?m a (journalist|reporter)|(journalist|reporter|editor) (at|for|with)|press (inquiry|enquiry|request)|"
    r"writing (a|an) (story|article|piece) (on|about)|for (a|an|our) (article|story|podcast|documentary))\b", re.I)
_URGENT = re.compile(r"\b(urgent\w*|asap|immediately|right now|emergency|tonight|stranded|help!+)\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_PHONE = re.compile(r"(?<![\w/])\+?\d[\d\s().-]{8,}\d\b")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_ORDER = re.compile(
    r"\b(order|account|acct|invoice|tracking)\s*(number|no\.?|#|id)?\s*[:#]?\s*[A-Z]{0,4}-?\d{5,}\b", re.I
)
_POSTAL = re.compile(
    r"\b\d{1,5}\s+\w+(\s\w+)?\s+(street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd)\b", re.I
)

DEFAULT_TEAMS = {
    "self_harm": "Trust & Safety",
    "product_safety": "Trust & Safety",
    "security": "Security",
    "legal": "Legal",
    "billing": "Billing",
    "vip": "Partnerships & Comms",
}


@dataclass(frozen=True)
class Team:
    """A team a message is routed to: ``id`` is the stable identifier routing, the API, insights and eval
    suites use; ``name`` is what a person reads and may be renamed without breaking any of them."""

    id: str
    name: str


def team_slug(name: str) -> str:
    """``Trust & Safety`` → ``trust-and-safety``: lower case, ``&`` read as "and", other runs as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower().replace("&", " and ")).strip("-")


def team_of(value: Any) -> Team | None:
    """A team from the guideline's front matter: a display name (its slug is the id) or ``{id, name}``."""
    if isinstance(value, dict):
        name = str(value.get("name") or value.get("id") or "").strip()
        ident = str(value.get("id") or "").strip() or team_slug(name)
        return Team(team_slug(ident), name or ident) if ident else None
    if isinstance(value, str) and value.strip():
        return Team(team_slug(value), value.strip())
    return None


def teams_from_config(teams: dict[str, Any] | None) -> dict[str, Team]:
    """Teams per routing reason: the defaults, overridden by the escalation guideline's ``teams:``."""
    merged: dict[str, Any] = DEFAULT_TEAMS | dict(teams or {})
    out: dict[str, Team] = {}
    for reason, value in merged.items():
        team = team_of(value)
        if team is not None:
            out[str(reason)] = team
    return out


def luhn_ok(digits: str) -> bool:
    numbers = [int(d) for d in digits if d.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(numbers)):
        total += d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
    return total % 10 == 0


def personal_data(text: str) -> list[str]:
    """Kinds of personal data in a text: emails, phone numbers, card numbers, order/account ids, addresses."""
    kinds = []
    if _EMAIL.search(text):
        kinds.append("email")
    if any(luhn_ok(m.group(0)) for m in _CARD.finditer(text)):
        kinds.append("card_number")
    elif _PHONE.search(text):
        kinds.append("phone")
    if _ORDER.search(text):
        kinds.append("order_or_account_id")
    if _POSTAL.search(text):
        kinds.append("street_address")
    return kinds


def is_vip(message: InboundMessage, config: dict[str, Any]) -> bool:
    author = message.author
    handles = {str(h).lower().lstrip("@") for h in config.get("vip_handles") or []}
    min_followers = int(config.get("vip_min_followers") or 50_000)
    return (
        author.handle.lower().lstrip("@") in handles
        or bool(author.verified)
        or (author.followers or 0) >= min_followers
        or bool(_VIP_TEXT.search(message.text))
    )


def risk_flags(message: InboundMessage, config: dict[str, Any] | None = None) -> list[str]:
    text = message.text
    checks = (
        ("self_harm", _SELF_HARM), ("safety", _SAFETY), ("security", _SECURITY),
        ("legal_threat", _LEGAL), ("billing_dispute", _BILLING),
    )
    flags = [name for name, pattern in checks if pattern.search(text)]
    if message.public and personal_data(text):
        flags.append("pii_public")
    if is_vip(message, config or {}):
        flags.append("vip")
    return flags


def looks_abusive(text: str) -> bool:
    return bool(_ABUSE.search(text))


def looks_like_spam(text: str) -> bool:
    return bool(_SPAM.search(text))


def urgency(flags: list[str], category: str, sentiment_score: float, text: str) -> str:
    if {"self_harm", "safety", "security", "legal_threat"} & set(flags):
        return "high"
    if _URGENT.search(text) or "vip" in flags or (category == "complaint" and sentiment_score <= -0.5):
        return "high"
    if category in ("praise", "feedback", "spam", "other"):
        return "low"
    return "normal"


@dataclass
class Routing:
    route: str
    reason: str
    reason_category: str
    team: Team | None = None
    suggested_action: str | None = None
    forward: Team | None = None  # drafted here, and also passed to this team (product feedback)

    @property
    def escalate_to(self) -> str | None:
        return self.team.id if self.team else None

    @property
    def escalate_to_name(self) -> str | None:
        return self.team.name if self.team else None


def route_message(
    flags: list[str], category: str, teams: dict[str, Any] | None = None, category_confidence: float = 1.0
) -> Routing:
    """Escalations first (Trust & Safety, Security, Legal, Billing, VIP), then moderation, spam, drafting."""
    team = teams_from_config(teams)
    ordered = (
        ("self_harm", "self_harm", "mentions self-harm: reply privately with care and crisis resources"),
        ("safety", "product_safety", "reports a safety incident (fire, smoke, injury or failure)"),
        ("security", "security", "possible account takeover, data exposure or vulnerability"),
        ("legal_threat", "legal", "threatens legal action or a regulatory complaint"),
        ("billing_dispute", "billing", "payment dispute or billing error"),
        ("vip", "vip", "press, creator or partner: Partnerships & Comms follows up"),
    )
    for flag, reason_category, reason in ordered:
        if flag in flags:
            return Routing("escalate", reason, reason_category, team=team.get(reason_category))
    if category == "crisis" and category_confidence >= 0.7:
        return Routing("escalate", "crisis language without a specific rule", "crisis",
                       team=team.get("product_safety"))
    if category == "abuse":
        return Routing("moderate", "abusive or harassing language: suggest hiding or reporting it", "abuse",
                       suggested_action="hide_or_report")
    if "pii_public" in flags:
        return Routing("moderate", "the author posted personal data publicly: suggest hiding it and replying "
                       "privately", "pii_public", suggested_action="hide_and_dm")
    if category == "spam":
        return Routing("ignore", "looks like spam", "spam", suggested_action="report_spam")
    if category == "sales":
        return Routing("escalate", "sales or partnership enquiry", "vip", team=team.get("vip"))
    if category == "feedback" and team.get("product_feedback"):
        product = team["product_feedback"]
        return Routing("draft", f"feedback: thank them and pass it to {product.name}", "feedback", forward=product)
    return Routing("draft", f"{category.replace('_', ' ')}: the knowledge base may answer", "answerable")
