"""Relevance before grounding: does a knowledge answer answer *this* question?

A cited FAQ can support every sentence of a draft and still answer another question ("tracking hasn't
moved" answered with the GPS tracker FAQ). Grounding checks cannot see that; this module compares the
asked need with what the FAQ answers:

* **what is asked**: the message's question sentences (those with "?" or an interrogative opening),
  or the whole message when it asks nothing explicitly;
* **what the source answers**: a FAQ's question, or a prose chunk's heading;
* **agreement**: the cosine of their sentence embeddings (local MiniLM), plus lexical agreement on
  the asked object — a content word (stemmed) shared with the FAQ's question, or a rare word (a name
  such as "Klarna" that the embedding model does not know as an everyday word) shared with the source.

A FAQ answers when its question is close enough on its own (``QUESTION_MATCH``), or reasonably close
(``QUESTION_RELATED``) *and* the asked object agrees lexically. Both thresholds were measured, not
guessed: ``python -m bench relevance`` sweeps them over the labelled cases of the accuracy and tone
suites (answers, holds, acknowledgements) and prints the table the values below were read from.
A message about the author's *own* order or account (its status, where it is) is never answered
from a FAQ: someone has to look it up.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from knowledge.embeddings import common_word, embed_texts

QUESTION_MATCH = 0.40
NAMED_MATCH = 0.60  # above this a question matches even if a name in the message is not in the source
QUESTION_RELATED = 0.35
CLEAR_LEAD = 0.16
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_INTERROGATIVE = re.compile(
    r"^\W*(how|what|whats|what's|when|where|which|who|why|can|do|does|did|is|are)\b", re.I)
_WORD = re.compile(r"[a-z][a-z'\u2019]+")
_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "did", "for", "from",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or",
    "our", "so", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    "about", "any", "also", "just", "really", "still", "get", "got", "one", "ive", "im", "dont", "doesnt",
    "lol", "tbh", "thing", "things", "actually", "even", "much", "many", "way", "want", "need", "like", "know",
    "think", "make", "made", "use", "used", "yet", "ok", "okay", "pls", "please", "hi", "hey", "hello", "thanks",
    "thank", "u", "ur", "y", "all", "some", "more", "most", "very", "too", "can't", "cant", "won't", "wont",
    "should", "whats",
})
_ACCOUNT_STATUS = re.compile(
    r"\b(my|our) (order|account|refund|delivery|parcel|package|payment|bike)\b.{0,80}"
    r"\b(hasn'?t|has not|haven'?t|never|still|late|missing|stuck|moved|where)\b|\bwhere('?s| is) my\b|"
    r"\btracking (hasn'?t|has not|isn'?t|is not|still|hasnt)\b|\b(order|delivery)\b.{0,40}\bstill (says|shows|not)\b",
    re.I | re.S,
)


@dataclass
class Relevance:
    """The verdict on one source for one message, with what it was based on."""

    answers: bool
    source_id: str
    source_question: str
    similarity: float
    reason: str
    shared: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"answers": self.answers, "source_id": self.source_id, "source_question": self.source_question,
                "similarity": self.similarity, "reason": self.reason, "shared": self.shared}


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: the Snowball stemmer bm25s already uses for the lexical index

    return Stemmer.Stemmer("english")


def asked_parts(text: str) -> list[str]:
    """The sentences that ask something; the whole text when none does explicitly."""
    parts = [p.strip() for p in _SENTENCE.split(text) if p.strip()]
    asked = [p for p in parts if "?" in p or _INTERROGATIVE.match(p)]
    return asked or [text.strip()]


def asks_something(text: str) -> bool:
    return any("?" in p or _INTERROGATIVE.match(p) for p in _SENTENCE.split(text) if p.strip())


def about_own_order(text: str) -> bool:
    """The author asks where *their* order or refund is: a lookup, not a FAQ."""
    return bool(_ACCOUNT_STATUS.search(text))


def _words(text: str) -> list[str]:
    words = (w.replace("\u2019", "'").strip("'") for w in _WORD.findall(text.lower()))
    return [re.sub(r"'(s|re|ve|ll|d|m|t)$", "", w) for w in words]


def content_stems(text: str) -> set[str]:
    words = [w for w in _words(text) if w not in _STOP and len(w) > 2]
    return set(_stemmer().stemWords(words))


def rare_words(text: str) -> set[str]:
    """Words the embedding model's everyday vocabulary does not hold (names, brands), which it embeds poorly."""
    return {w for w in _words(text) if len(w) > 3 and w not in _STOP and not common_word(w)}


_PLACE = re.compile(r"\b(?:in|at|near|from|to|around)\s+(?:the\s+)?([A-Z][a-z]{2,})\b")


_CALENDAR = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
})


def named_things(text: str) -> set[str]:
    """Places the message asks about ("in Tokyo", "in the Netherlands"): a capitalised name after a place
    preposition. Month and day names say when, not where; a product of ours ("my Commuter") is no place."""
    places = {m.group(1).lower() for m in _PLACE.finditer(text)}
    return {p for p in places if p not in _STOP} - _CALENDAR


def source_question(hit: dict[str, Any]) -> str:
    """What a source answers: a FAQ's question, or a prose chunk's innermost heading."""
    if hit.get("question"):
        return str(hit["question"])
    title = str(hit.get("title") or "")
    return title.split(" > ")[-1] if title else str(hit.get("text") or "")[:120]


@lru_cache(maxsize=512)
def _similarities(parts: tuple[str, ...], questions: tuple[str, ...]) -> tuple[float, ...]:
    """Best cosine of any asked part to each source question. Cached: the composer, the checks and a
    variant judge the same pairs within one draft."""
    vectors = embed_texts([*parts, *questions])
    asked, answered = vectors[: len(parts)], vectors[len(parts):]
    return tuple(float(x) for x in np.max(asked @ answered.T, axis=0))


def judge(message_text: str, hits: list[dict[str, Any]], match: float = QUESTION_MATCH,
          related: float = QUESTION_RELATED, lead: float = CLEAR_LEAD) -> list[Relevance]:
    """A relevance verdict per hit, in the hits' order (one embedding call for all of them)."""
    if not hits:
        return []
    parts = asked_parts(message_text)
    questions = [source_question(h) for h in hits]
    similarity = _similarities(tuple(parts), tuple(questions))
    asked_stems = content_stems(" ".join(parts))
    asked_rare = rare_words(message_text)
    asked_names = named_things(message_text)
    named_anywhere = asked_names & set(_words(" ".join(
        f"{q} {h.get('title') or ''} {h.get('text') or ''}" for q, h in zip(questions, hits, strict=True))))
    scores = [float(h.get("score", 0.0)) for h in hits]
    # A key word must single one candidate out: a stem in several candidates' questions is the brand's
    # common vocabulary ("bike") or the product several FAQs are about ("Trail"), not what is asked.
    stems_of = [content_stems(f"{q} {h.get('title') or ''}") for q, h in zip(questions, hits, strict=True)]
    counts = Counter(stem for stems in stems_of for stem in stems)
    out = []
    for i, (hit, question, sim) in enumerate(zip(hits, questions, similarity, strict=True)):
        sim = round(float(sim), 3)
        shared = sorted(stem for stem in asked_stems & stems_of[i] if counts[stem] == 1)
        shared += sorted(asked_rare & rare_words(str(hit.get("text") or "")))
        # Retrieval's own evidence: this source stands clearly ahead of every other candidate.
        ahead = scores[i] - max((s for j, s in enumerate(scores) if j != i), default=0.0)
        unnamed = asked_names - set(_words(f"{question} {hit.get('title') or ''} {hit.get('text') or ''}"))
        unnamed -= named_anywhere  # a name some candidate knows (a product of ours) is the retrieval's job
        if sim >= match and unnamed and sim < NAMED_MATCH:
            # The message names a place the source never mentions: a source about
            # something else that merely sounds alike ("see the bikes in person in Tokyo" vs "bikes for
            # corporate fleets") must not answer it.
            answers, reason = False, (f"{question!r} is close (similarity {sim}) but never mentions "
                                      f"{', '.join(sorted(unnamed)[:3])}, which the message asks about")
        elif sim >= match:
            answers, reason = True, f"the question matches {question!r} (similarity {sim})"
        elif sim >= related and shared:
            answers, reason = True, (f"related to {question!r} (similarity {sim}) and about the same thing "
                                     f"({', '.join(shared[:4])})")
        elif sim >= related and ahead >= lead:
            answers, reason = True, (f"related to {question!r} (similarity {sim}) and retrieved well ahead of "
                                     f"any other source (+{ahead:.2f})")
        elif sim >= related:
            answers, reason = False, (f"{question!r} is only loosely related (similarity {sim}) and shares no "
                                      "key word with the message")
        else:
            answers, reason = False, f"{question!r} answers something else (similarity {sim})"
        out.append(Relevance(answers, str(hit.get("id")), question, sim, reason, shared))
    return out


def best_answer(message_text: str, hits: list[dict[str, Any]], match: float = QUESTION_MATCH,
                related: float = QUESTION_RELATED, lead: float = CLEAR_LEAD,
                ) -> tuple[dict[str, Any] | None, Relevance | None]:
    """The source that answers the message best (closest question among those that answer), or None with
    the verdict on the best-ranked source, so a hold can say why."""
    verdicts = judge(message_text, hits, match, related, lead)
    answering = [(h, v) for h, v in zip(hits, verdicts, strict=True) if v.answers]
    if answering:
        return max(answering, key=lambda pair: pair[1].similarity)
    return None, (verdicts[0] if verdicts else None)
