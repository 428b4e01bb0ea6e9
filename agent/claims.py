"""Claim-level grounding: is each factual sentence of a draft supported by a chunk it cites?

A sentence is supported when its embedding is close to a sentence (or a window of two) of a cited chunk
and every number, link and named thing in it also appears in the cited text. Greetings, thanks,
apologies, offers to help or to move to DM, sign-offs and questions back to the author are not factual
claims and are not checked. This catches what a citation alone cannot: a draft that cites the right FAQ
and then adds a sentence of its own (an invented policy, or an answer to an injected question).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np

from ground.text import sentences
from knowledge.embeddings import embed_cached

SUPPORT_THRESHOLD = 0.62
_WARM_SLICE = 128  # windows embedded per step of the warm-up (it checks its time between steps)
_NON_FACTUAL = re.compile(
    r"^\W*(hi|hey|hello|dear|thanks|thank you|sorry|we'?re sorry|i'?m sorry|apologies|congrats|congratulations|"
    r"welcome|good to hear|great question|happy to help|glad|cheers|best|kind regards|regards|\u2014|-)\b|"
    r"\b(dm|direct message|private message|message us|reach out|get back to you|let us know|feel free|"
    r"we'?ll (check|look into|follow up|be in touch)|we'?re checking|hope (this|that) helps|enjoy|have a great)\b",
    re.I,
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_URL = re.compile(r"https?://[^\s)>\]]+|\b[\w-]+\.(?:com|org|net|io|example|co\.uk|xyz|info|biz)(?:/[^\s)>\]]*)?", re.I)
_PROPER = re.compile(r"\b[A-Z][a-zA-Z]{2,}\b")
# "one" is left out: it is far more often a pronoun ("the one you ordered") than a quantity.
_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_WORDS) if w != "one"} | {"thirty": "30", "forty": "40", "fifty": "50"}
# Promises a reply must never make unless the source says so, whatever the sentence's overall similarity.
_COMMITMENTS = re.compile(r"\b(free|refund\w*|guarantee\w*|lifetime|unlimited|discount\w*|compensat\w*|"
                          r"same[- ]day|next[- ]day|overnight|express|24/7|waive\w*|replace(ment)? at no)\b", re.I)


@dataclass
class ClaimVerdict:
    sentence: str
    score: float
    supported: bool
    reason: str = ""


def split_sentences(text: str) -> list[str]:
    return [s for s in sentences(text, line_breaks=True) if len(s) > 1]


def is_factual(sentence: str, names: set[str], boilerplate: str = "") -> bool:
    words = re.findall(r"[\w']+", sentence)
    if len(words) < 4 or sentence.rstrip().endswith("?") or sentence.lstrip()[:1] in ("\u2014", "\u2013", "-"):
        return False
    if boilerplate and sentence.strip().lower() in boilerplate.lower():
        return False  # the platform's greeting or sign-off
    if _NON_FACTUAL.search(sentence):
        return False
    return sentence.lower().strip(" !.,") not in names


@lru_cache(maxsize=4096)
def _windows(text: str) -> tuple[str, ...]:
    parts = split_sentences(text)
    pairs = [f"{a} {b}" for a, b in pairwise(parts)]
    return (*parts, *pairs, *([text] if text.strip() else []))


def embed_source_windows(texts: Iterable[str], budget: int, seconds: float) -> int:
    """Embed the windows the claim check compares against for these knowledge chunks into the process's
    shared cache, up to ``budget`` windows and for about ``seconds`` at most; how many were embedded. Run
    before traffic (worker warm-up), a burst's first drafts check their claims against vectors already there
    instead of all embedding their sources' windows at once."""
    deadline = time.monotonic() + seconds
    done = 0
    pending: list[str] = []
    for text in texts:
        more = _windows(text)
        if done + len(pending) + len(more) > budget:
            break
        pending.extend(more)
        if len(pending) >= _WARM_SLICE:
            embed_cached(pending)
            done, pending = done + len(pending), []
            if time.monotonic() >= deadline:
                return done
    if pending:
        embed_cached(pending)
    return done + len(pending)


def _normalise_number(value: str) -> str:
    return value.replace(",", "").rstrip(".")


@dataclass(frozen=True)
class _SourceFacts:
    """What the detail checks look up in the cited text, computed once per draft (not per sentence)."""

    lowered: str
    numbers: frozenset[str]

    @classmethod
    def of(cls, source: str) -> _SourceFacts:
        return cls(source.lower(), frozenset(_normalise_number(n) for n in _NUMBER.findall(source)))


def _unsupported_details(sentence: str, facts: _SourceFacts, names: set[str]) -> list[str]:
    lowered, numbers = facts.lowered, facts.numbers
    missing = [n for n in _NUMBER.findall(sentence) if _normalise_number(n) not in numbers]
    missing += [w for w in re.findall(r"[a-z]+", sentence.lower()) if w in _NUMBER_WORDS
                and _NUMBER_WORDS[w] not in numbers and w not in lowered]
    missing += [m.group(0) for m in _COMMITMENTS.finditer(sentence) if m.group(0).lower() not in lowered]
    missing += [u for u in _URL.findall(sentence) if u.lower().rstrip("/.") not in lowered]
    missing += [
        m.group(0) for m in _PROPER.finditer(sentence)
        if m.start() > 0 and m.group(0).lower() not in lowered and m.group(0).lower() not in names
    ]
    return missing


def check_claims(
    text: str, cited: list[dict[str, Any]], names: set[str], boilerplate: str = "",
    threshold: float = SUPPORT_THRESHOLD,
) -> list[ClaimVerdict]:
    """A verdict for each factual sentence of ``text`` against the cited chunks."""
    claims = [s for s in split_sentences(text) if is_factual(s, names, boilerplate)]
    if not claims:
        return []
    source_text = "\n".join(str(h.get("text") or "") for h in cited)
    if not cited:
        return [ClaimVerdict(c, 0.0, False, "no cited source") for c in claims]
    windows = [w for h in cited for w in _windows(str(h.get("text") or ""))]
    # Windows come from the knowledge base and recur across messages: embedded once per process.
    vectors = embed_cached(claims + windows)
    claim_vectors, window_vectors = vectors[: len(claims)], vectors[len(claims) :]
    best = (claim_vectors @ window_vectors.T).max(axis=1) if len(windows) else np.zeros(len(claims))
    verdicts = []
    facts = _SourceFacts.of(source_text)
    for claim, score in zip(claims, best, strict=True):
        details = _unsupported_details(claim, facts, names)
        if score < threshold:
            verdicts.append(ClaimVerdict(claim, round(float(score), 3), False, "not close to any cited sentence"))
        elif details:
            verdicts.append(ClaimVerdict(claim, round(float(score), 3), False, f"not in the sources: {details}"))
        else:
            verdicts.append(ClaimVerdict(claim, round(float(score), 3), True))
    return verdicts
