"""LLM-written insights prose is checked like a draft: every number and name must come from the facts.

A number passes when it is in the facts, or follows from them the way a briefing states figures: a
share as a percentage, the change of the negative share in points, a count as a share of the total,
how many items a list holds. A name (a capitalised word past a sentence's start, or any word with a
capital inside it, like "TikTok") passes when the facts contain it. Anything else is an invented
figure or name, and the summary falls back to the extractive one, saying which.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent.claims import split_sentences

_NUMBER = re.compile(r"(?<![\w.])(-?)(\d+(?:,\d{3})*(?:\.\d+)?)\s?(%|percent\b)?")
_WORD = re.compile(r"[A-Za-z][\w'\u2019-]*")
_NUMBER_WORDS = {w: i for i, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"))}
_COMMON_NAMES = {
    "i", "utc", "llm", "ai", "faq", "faqs", "dm", "dms", "ok", "january", "february", "march", "april", "may",
    "june", "july", "august", "september", "october", "november", "december", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday",
}


def _values(data: Any, out: list[float], sizes: list[int]) -> None:
    if isinstance(data, bool):
        return
    if isinstance(data, int | float):
        out.append(float(data))
    elif isinstance(data, dict):
        sizes.append(len(data))
        for value in data.values():
            _values(value, out, sizes)
    elif isinstance(data, list):
        sizes.append(len(data))
        for value in data:
            _values(value, out, sizes)
    elif isinstance(data, str):
        out.extend(float(n.replace(",", "")) for _, n, _ in _NUMBER.findall(data))


def allowed_numbers(facts: dict[str, Any]) -> set[float]:
    values: list[float] = []
    sizes: list[int] = []
    _values(facts, values, sizes)
    allowed = {round(v, 2) for v in values} | {float(n) for n in sizes}
    shares = [v for v in values if 0 < v < 1]
    allowed |= {round(v * 100, p) for v in shares for p in (0, 1)}
    totals = [float(t) for t in (facts.get("total"), (facts.get("previous") or {}).get("total")) if t]
    counts = [v for v in values if v == int(v) and v >= 0]
    allowed |= {round(100 * c / t, p) for c in counts for t in totals for p in (0, 1) if c <= t}
    now, before = facts.get("negative_share"), (facts.get("previous") or {}).get("negative_share")
    if isinstance(now, int | float) and isinstance(before, int | float):
        delta = (now - before) * 100
        allowed |= {round(abs(delta), 0), round(abs(delta), 1), round(delta, 0), round(delta, 1)}
    return allowed


def unsupported(prose: str, facts: dict[str, Any]) -> list[str]:
    """Numbers and names in ``prose`` that the facts do not contain (empty: the prose may be shown)."""
    allowed = allowed_numbers(facts)
    known = {w.lower() for w in _WORD.findall(json.dumps(facts, ensure_ascii=False))} | _COMMON_NAMES
    missing: list[str] = []
    for sign, number, _ in _NUMBER.findall(prose):
        value = float(number.replace(",", "")) * (-1 if sign else 1)
        if round(value, 2) not in allowed and round(value, 0) not in allowed:
            missing.append(f"{sign}{number}")
    for sentence in split_sentences(prose):
        for index, match in enumerate(_WORD.finditer(sentence)):
            word = match.group(0).strip("'\u2019-")
            lowered = word.lower()
            if lowered in _NUMBER_WORDS and float(_NUMBER_WORDS[lowered]) not in allowed and lowered != "one":
                missing.append(word)
                continue
            named = (index > 0 and word[:1].isupper()) or any(c.isupper() for c in word[1:])
            if named and lowered not in known and lowered.removesuffix("'s") not in known:
                missing.append(word)
    return list(dict.fromkeys(missing))
