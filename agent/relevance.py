"""Relevance before grounding: does a knowledge answer answer *this* question?

A cited FAQ can support every sentence of a draft and still answer another question ("tracking hasn't
moved" answered with the GPS tracker FAQ). Grounding checks cannot see that; this module compares the
asked need with what the source answers:

* **what is asked**: the message's question sentences (those with "?" or an interrogative opening),
  or the whole message when it asks nothing explicitly;
* **what the source answers**: a FAQ's question and answer, or a prose chunk's heading and text;
* **the need, names masked**: the workspace's own names and most common words (its products, its brand,
  "bike": :func:`knowledge.search.brand_vocabulary`, plus the candidates' entities) are written "it" on
  both sides before their sentence embeddings (local MiniLM) are compared, so "what's the torque on the
  Trail motor?" is not close to "What gears does the Lumen Trail have?" merely because both name the Trail.
  The need similarity is the mean of the cosine to the source's question and to its answer;
* **lexical agreement on the asked object**: a content word (stemmed, not brand vocabulary) shared with
  the source's question and with few other candidates, a rare word (a name such as "Klarna") only this
  source knows, or a unit the message asks in ("28mph", "115 kg") that the source states quantities in;
* **which product**: a source about one of our entities does not answer a message that names another one
  ("how much can the Cargo carry?" is not answered from the Commuter's FAQ); when the message names none
  (a follow-up in a thread), the same question about another entity ranked lower by the thread-aware
  retrieval does not answer either.

A source answers when its need is close enough on its own (``QUESTION_MATCH``), or reasonably close
(``QUESTION_RELATED``) *and* the asked object agrees lexically or retrieval ranks it clearly ahead
(``CLEAR_LEAD``). When the message names something (a capitalised name: "a showroom in Tokyo") that no
candidate mentions, only a close need counts. The thresholds were measured, not guessed: ``python -m bench
relevance`` sweeps them over the labelled cases of the accuracy and tone suites (answers and holds), and
scores each half of the cases with the setting chosen on the other half. A message about the author's
*own* order or account (its status, where it is) is never answered from a FAQ: someone has to look it up.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from knowledge.embeddings import common_word, embed_cached

QUESTION_MATCH = 0.45
QUESTION_RELATED = 0.30
CLEAR_LEAD = 0.16
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_INTERROGATIVE = re.compile(
    r"^\W*(how|what|whats|what's|when|where|which|who|why|can|do|does|did|is|are)\b(?!\s+not\b)", re.I)
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
    figures: list[str] = field(default_factory=list)  # figures the message asks about that the source states

    def as_dict(self) -> dict[str, Any]:
        return {"answers": self.answers, "source_id": self.source_id, "source_question": self.source_question,
                "similarity": self.similarity, "reason": self.reason, "shared": self.shared}


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: the Snowball stemmer bm25s already uses for the lexical index

    return Stemmer.Stemmer("english")


# A quantity names the dimension asked about ("28mph": a speed, "115 kg": a weight): a source that states
# quantities in the same unit is about that dimension, however differently its question is worded.
_QUANTITY = re.compile(
    r"\d+(?:[.,]\d+)?\s*(km/h|kmh|kph|mph|kg|kgs|lbs?|km|miles?|mi|wh|kwh|nm|cm|mm|volts?|watts?)(?![a-z])", re.I)
_UNIT = {"kmh": "km/h", "kph": "km/h", "kgs": "kg", "lbs": "lb", "miles": "mi", "mile": "mi", "volt": "v",
         "volts": "v", "watt": "w", "watts": "w"}


# The word-level helpers below are cached (pure functions of their text, frozensets out): judge() runs them
# on every candidate source for every message, and the sources recur from message to message.
_TEXTS = 4096


@lru_cache(maxsize=_TEXTS)
def units(text: str) -> frozenset[str]:
    """The units of the quantities a text states or asks about."""
    return frozenset(_UNIT.get(u.lower(), u.lower()) for u in _QUANTITY.findall(text))


_FIGURE = re.compile(r"(?<![\d.,])(\d{2,}(?:[.,]\d+)?)(?![\d.,]*\d)")


@lru_cache(maxsize=_TEXTS)
def figures(text: str) -> frozenset[str]:
    """Numbers of two digits or more ("28mph", "capped at 20"): a message quoting a figure asks about the
    source that states it. Single digits are left out (they count days, kids and bikes more than specs)."""
    return frozenset(_FIGURE.findall(text.replace(",", "")))


ELLIPTICAL_WORDS = 3  # a question of this many content words or fewer leans on the sentence before it


# "Hello team," / "morning!" opening a message: a greeting, never the context a question leans on.
GREETING = re.compile(r"^\s*(?:hi|hey|hello|hiya|howdy|yo|morning|good (?:morning|afternoon|evening)|greetings)"
                       r"(?:\s+(?:there|team|all|folks|guys|everyone|y'all)(?!['\u2019]))?\b(?!['\u2019])[\s,!.:;-]*",
                       re.IGNORECASE)


def asked_parts(text: str) -> list[str]:
    """The sentences that ask something; the whole text when none does explicitly. A short question that
    leans on the sentence before it ("I've got 2 kids. would they both fit on the back??") keeps it; an
    opening greeting is no such sentence, nor part of the question."""
    text = GREETING.sub("", text, count=1) or text
    parts = [p.strip() for p in _SENTENCE.split(text) if p.strip()]
    asked = []
    for i, part in enumerate(parts):
        if "?" in part or _INTERROGATIVE.match(part):
            short = len([w for w in _words(part) if w not in _STOP and len(w) > 2]) <= ELLIPTICAL_WORDS
            before = parts[i - 1] if i and short and "?" not in parts[i - 1] else ""
            asked.append(f"{before} {part}".strip())
    return asked or [text.strip()]


def asks_something(text: str) -> bool:
    return any("?" in p or _INTERROGATIVE.match(p) for p in _SENTENCE.split(text) if p.strip())


def about_own_order(text: str) -> bool:
    """The author asks where *their* order or refund is: a lookup, not a FAQ."""
    return bool(_ACCOUNT_STATUS.search(text))


def _words(text: str) -> list[str]:
    words = (w.replace("\u2019", "'").strip("'") for w in _WORD.findall(text.lower()))
    return [re.sub(r"'(s|re|ve|ll|d|m|t)$", "", w) for w in words]


@lru_cache(maxsize=_TEXTS)
def content_stems(text: str) -> frozenset[str]:
    words = [w for w in _words(text) if w not in _STOP and len(w) > 2]
    return frozenset(_stemmer().stemWords(words))


@lru_cache(maxsize=_TEXTS)
def rare_words(text: str) -> frozenset[str]:
    """Words the embedding model's everyday vocabulary does not hold (names, brands), which it embeds poorly."""
    return frozenset(w for w in _words(text) if len(w) > 3 and w not in _STOP and not common_word(w))


_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]{2,})\b")
_CALENDAR = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
})


# A name signing the message off ("thanks! - Sam", "Cheers, Priya"): who writes, not what is asked about.
_SIGN_OFF = re.compile(r"(?:\s[-\u2013\u2014~]+\s*|(?i:thanks|thank you|thx|ty|cheers|regards|best|love)[,!.]*\s+)"
                       r"[A-Z][a-z]+(?:\s+[A-Z][a-z]*\.?)?[\s.!]*$")


def proper_names(text: str) -> set[str]:
    """Words written capitalised inside a sentence ("a showroom in Tokyo"): the writer's sign of a name.
    Month and day names say when, not what; a name signing the message off says who wrote it."""
    found: set[str] = set()
    for line in _SIGN_OFF.sub("", text.strip()).splitlines():
        found.update(m.group(1).lower() for m in _CAPITALISED.finditer(line.strip()))
    return found - _STOP - _CALENDAR


def _entities_named(text: str, hits: list[dict[str, Any]]) -> set[str]:
    """The candidates' entities the message names by a word no other candidate entity's name has
    ("the Cargo" names the Lumen Cargo, "Lumen" names none of them)."""
    names = {str(h["entity"]) for h in hits if h.get("entity")}
    if len(names) < 2:
        return set()
    stem = _stemmer().stemWord
    words_of = {n: {stem(w) for w in _words(n) if w not in _STOP} for n in names}
    said = {stem(w) for w in _words(text)}
    named = set()
    for name, words in words_of.items():
        others = set().union(*(o for other, o in words_of.items() if other != name))
        if (words - others) & said:
            named.add(name)
    return named


def source_question(hit: dict[str, Any]) -> str:
    """What a source answers: a FAQ's question, or a prose chunk's innermost heading."""
    if hit.get("question"):
        return str(hit["question"])
    title = str(hit.get("title") or "")
    return title.split(" > ")[-1] if title else str(hit.get("text") or "")[:120]


_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*")
_DETERMINER = re.compile(r"(?:\b(?:the|a|an|my|your|our|this|that|these|those)\s+)$", re.I)


@lru_cache(maxsize=_TEXTS)
def mask_names(text: str, vocabulary: frozenset[str]) -> str:
    """The text with the workspace's own names and words ("the Lumen Commuter", "bikes") written "it".

    Two questions about the same product share its name, and a sentence-embedding model counts that as
    closeness: "what's the torque on the Trail motor?" sounds like "What gears does the Lumen Trail have?".
    With the names masked, what is compared is the need (torque vs gears, an order vs a feature)."""
    if not vocabulary:
        return text
    stems = _vocabulary_stems(vocabulary)
    out: list[str] = []
    last = 0
    masking = False
    for match in _NAME_WORD.finditer(text):
        word = _words(match.group())
        named = bool(word) and all(_stemmer().stemWord(w) in stems or w in vocabulary for w in word)
        between = text[last:match.start()]
        if named and masking and not between.strip():
            last = match.end()  # one name of several words ("Lumen Commuter") is one "it"
            continue
        if named:
            kept = _DETERMINER.sub("", "".join(out) + between) if not masking else "".join(out) + between
            out = [kept, "its" if re.search(r"['\u2019]s$", match.group()) else "it"]
        else:
            out.append(between + match.group())
        masking = named
        last = match.end()
    out.append(text[last:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


@lru_cache(maxsize=64)
def _one_copy(vocabulary: frozenset[str]) -> frozenset[str]:
    """One object per distinct vocabulary: mask_names' cache keys then share it instead of each holding a
    copy of a brand's few hundred words."""
    return vocabulary


@lru_cache(maxsize=8)
def _vocabulary_stems(vocabulary: frozenset[str]) -> frozenset[str]:
    return frozenset(_stemmer().stemWords(list(vocabulary)))


def source_answer(hit: dict[str, Any]) -> str:
    """What a source says: a FAQ's answer, or a prose chunk's text (its opening is what an embedding sees)."""
    return str(hit.get("answer") or hit.get("text") or "")[:600]


@lru_cache(maxsize=512)
def _similarities(parts: tuple[str, ...], questions: tuple[str, ...], answers: tuple[str, ...],
                  ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Best cosine of any asked part to each source's question, and to its answer. Cached: the composer,
    the checks and a variant judge the same pairs within one draft. The sources' questions and answers
    recur from message to message (they are the knowledge): their vectors come from the process's
    embedding cache, so a new message pays only for its own parts."""
    vectors = embed_cached([*parts, *questions, *answers])
    asked = vectors[: len(parts)]
    answered = vectors[len(parts): len(parts) + len(questions)]
    said = vectors[len(parts) + len(questions):]
    return (tuple(float(x) for x in np.max(asked @ answered.T, axis=0)),
            tuple(float(x) for x in np.max(asked @ said.T, axis=0)))


def judge(message_text: str, hits: list[dict[str, Any]], match: float = QUESTION_MATCH,
          related: float = QUESTION_RELATED, lead: float = CLEAR_LEAD,
          vocabulary: frozenset[str] = frozenset()) -> list[Relevance]:
    """A relevance verdict per hit, in the hits' order (one embedding call for all of them).

    ``vocabulary`` holds the workspace's own names and most common words (knowledge.search.brand_vocabulary);
    the names of the candidates' entities are added to it. Needs are compared with them masked, and they
    are never the key word that singles a candidate out: a product of ours is what the retrieval found,
    not evidence that this source answers what is asked about it."""
    if not hits:
        return []
    vocabulary = _one_copy(
        vocabulary | frozenset(w for h in hits for w in _words(str(h.get("entity") or "")) if w not in _STOP))
    stems = _vocabulary_stems(vocabulary)
    parts = asked_parts(message_text)
    questions = [source_question(h) for h in hits]
    q_sims, a_sims = _similarities(tuple(mask_names(p, vocabulary) for p in parts),
                                   tuple(mask_names(q, vocabulary) for q in questions),
                                   tuple(mask_names(source_answer(h), vocabulary) for h in hits))
    asked_stems = content_stems(" ".join(parts)) - stems
    asked_rare = rare_words(message_text) - vocabulary
    asked_units = units(" ".join(parts))  # the dimension asked about, not one mentioned in passing
    asked_figures = figures(" ".join(parts))
    scores = [float(h.get("score", 0.0)) for h in hits]
    # A key word must point at few candidates: a word most of them share does not single one out (and a
    # rare word, a name such as "Klarna", must point at one).
    stems_of = [content_stems(f"{q} {h.get('title') or ''}") for q, h in zip(questions, hits, strict=True)]
    counts = Counter(stem for stems_ in stems_of for stem in stems_)
    rare_of = [rare_words(str(h.get("text") or "")) & asked_rare for h in hits]
    rare_counts = Counter(w for words in rare_of for w in words)
    few = max(1, len(hits) // 2)
    # A name the message asks about that no candidate mentions ("a showroom in Tokyo"): the knowledge may
    # not know it at all, so only a close need counts, never a loosely related one with a shared word.
    known = set(_words(" ".join(f"{q} {h.get('title') or ''} {h.get('text') or ''}"
                                 for q, h in zip(questions, hits, strict=True))))
    unknown = sorted(proper_names(message_text) - known - vocabulary)
    asked_about = _entities_named(message_text, hits)
    masked = [mask_names(q, vocabulary).lower() for q in questions]
    out = []
    for i, (hit, question) in enumerate(zip(hits, questions, strict=True)):
        # The need: how close the asked parts are to what the source asks and what it says, names masked.
        sim = round((q_sims[i] + a_sims[i]) / 2, 3)
        on = f"{question!r} (need similarity {sim}: question {q_sims[i]:.2f}, answer {a_sims[i]:.2f})"
        shared = sorted(stem for stem in asked_stems & stems_of[i] if counts[stem] <= few)
        shared += sorted(w for w in rare_of[i] if rare_counts[w] == 1)  # a name two sources know is no key
        shared += sorted(asked_units & units(source_answer(hit)))  # a dimension, not a name: need not be rare
        stated = sorted(asked_figures & figures(source_answer(hit)))
        # Retrieval's own evidence: this source stands clearly ahead of every other candidate.
        ahead = scores[i] - max((s for j, s in enumerate(scores) if j != i), default=0.0)
        entity = str(hit.get("entity") or "")
        twin = next((hits[j] for j in range(i) if masked[j] == masked[i] and hits[j].get("entity")
                     and hits[j].get("entity") != entity), None)
        if entity and asked_about and entity not in asked_about:
            answers, reason = False, (f"{question!r} is about the {entity}; the message asks about the "
                                      f"{', '.join(sorted(asked_about))}")
        elif entity and twin is not None and not asked_about:
            answers, reason = False, (f"{question!r} asks the same about the {entity} as a source about the "
                                      f"{twin.get('entity')} that the retrieval ranks first for this thread")
        elif sim >= match:
            answers, reason = True, f"the asked need matches {on}"
        elif sim >= related and unknown:
            answers, reason = False, (f"{on} is only loosely related, and no source mentions "
                                      f"{', '.join(unknown[:3])}, which the message asks about")
        elif sim >= related and shared:
            answers, reason = True, f"related to {on} and about the same thing ({', '.join(shared[:4])})"
        elif sim >= related and ahead >= lead:
            answers, reason = True, f"related to {on} and retrieved well ahead of any other source (+{ahead:.2f})"
        elif sim >= related:
            answers, reason = False, f"{on} is only loosely related and shares no key word with the message"
        else:
            answers, reason = False, f"{on} answers something else"
        if answers and stated:
            reason += f"; it states the figures asked about ({', '.join(stated)})"
        out.append(Relevance(answers, str(hit.get("id")), question, sim, reason, shared, stated))
    return out


def best_answer(message_text: str, hits: list[dict[str, Any]], match: float = QUESTION_MATCH,
                related: float = QUESTION_RELATED, lead: float = CLEAR_LEAD,
                vocabulary: frozenset[str] = frozenset(), among: set[str] | None = None,
                ) -> tuple[dict[str, Any] | None, Relevance | None]:
    """The source that answers the message best, or None with the verdict on the best-ranked one, so a hold
    can say why. Among those that answer, one stating more of the figures the message quotes wins ("28mph
    or capped at 20?" is about the source saying "20 mph" and "28 mph"), then the closest need. Every hit
    is judged (a source's lead is over all of them), but only those in ``among`` (all when None) may be
    chosen."""
    verdicts = judge(message_text, hits, match, related, lead, vocabulary)
    eligible = [(h, v) for h, v in zip(hits, verdicts, strict=True) if among is None or h["id"] in among]
    answering = [(h, v) for h, v in eligible if v.answers]
    if answering:
        return max(answering, key=lambda pair: (len(pair[1].figures), pair[1].similarity))
    return None, (eligible[0][1] if eligible else None)
