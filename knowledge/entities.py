"""Which of the workspace's entities (hotels, products, plans...) a thread is talking about.

Chunks may carry an ``entity``: the named thing a document is about. A message such as "is there
parking there?" only makes sense with the thread before it, where the entity was named — often loosely:
lower case, "the Bridge" for "Bridge Guest House", "Allen Bell" for "Allenbell", a typo. We find name
mentions in each turn and let the most recent mention win.

A mention is a contiguous run of the text's tokens lining up with a contiguous run of the name's tokens
(exactly, as a compound written split or joined, or fuzzily for a long token the corpus does not know).
It counts when it covers most of the name's weight (tokens weighted by rarity among the workspace's
names, so "guest house" alone names nothing) including one of the name's rarest tokens. A one-word
mention must also be distinctive: not an everyday word, or a word the workspace's other documents never
use — so "is it worth it?" does not name "Worth House". Everything is learnt from the workspace's own
names and chunks; nothing is specific to a dataset.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN
from rapidfuzz import fuzz, process

_TOKEN = re.compile(r"[a-z0-9]+")
_IGNORED = frozenset({"the"})  # "The Lensfield Hotel" is "the Lensfield" or "Lensfield Hotel" in chat
MIN_COVER = 0.45  # share of the name's weight a mention must cover
FUZZY_MIN_LEN = 6
FUZZY_CUTOFF = 80.0
FUZZY_WEIGHT = 0.9
AMBIGUITY_MARGIN = 0.25
_FUNCTION_WORDS = frozenset(STOPWORDS_EN)


def tokens(text: str) -> list[str]:
    """Lower-case ASCII word tokens: accents folded, '&' read as 'and', apostrophes dropped."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    folded = folded.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return [t for t in _TOKEN.findall(folded) if t not in _IGNORED]


@dataclass(frozen=True)
class Mention:
    entity: str
    score: float  # covered share of the name's weight, discounted for fuzzy matches
    start: int  # token span in the turn
    end: int
    complete: bool  # every token of the name was matched
    words: tuple[str, ...] = ()  # the name tokens matched


@dataclass(frozen=True)
class Resolved:
    entity: str
    score: float
    turns_back: int  # 0: the message itself, 1: the turn before it, ...


class EntityIndex:
    """Name lexicon of one workspace, with token weights learnt from its names and chunks."""

    def __init__(
        self,
        names: Iterable[str],
        chunks: Iterable[tuple[str | None, str]] = (),
        common_word: Callable[[str], bool] = lambda _t: False,
    ) -> None:
        self.names: dict[str, list[str]] = {}
        for name in names:
            toks = tokens(name)
            if toks and name not in self.names:
                self.names[name] = toks
        df = Counter(t for toks in self.names.values() for t in set(toks))
        n = max(len(self.names), 1)
        # Function words ("of", "and") carry no weight: "end of Cambridge" is not "Mahal of Cambridge".
        self.idf = {t: 0.0 if t in _FUNCTION_WORDS else math.log(1 + n / c) for t, c in df.items()}
        self.postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self.starts: dict[str, list[tuple[str, int]]] = defaultdict(list)  # postings a match may start at
        for name, toks in self.names.items():
            # A match runs forward from where it starts and must take one of the name's rarest words
            # (see _score), so a start after the last of them can never count: it is not posted.
            top = max(self.idf[t] for t in toks)
            last_rarest = max(p for p, t in enumerate(toks) if self.idf[t] == top)
            for pos, tok in enumerate(toks):
                self.postings[tok].append((name, pos))
                if pos <= last_rarest:
                    self.starts[tok].append((name, pos))
        self.vocab = sorted(self.postings)
        self.common_word = common_word
        self.corpus_df: Counter[str] = Counter()
        self.foreign_df: Counter[str] = Counter()  # chunks not about an entity whose name has the token
        for entity, text in chunks:
            present = set(tokens(text))
            self.corpus_df.update(present)
            own = set(self.names.get(entity or "", ()))
            self.foreign_df.update(t for t in present if t in self.postings and t not in own)
        self._fuzzy = lru_cache(maxsize=50_000)(self._fuzzy_uncached)

    def __bool__(self) -> bool:
        return bool(self.names)

    def _fuzzy_uncached(self, token: str) -> tuple[str, ...]:
        # Only an unknown long word may be a misspelt name: "priced" is not "Prince".
        if len(token) < FUZZY_MIN_LEN or token in self.postings or self.corpus_df[token] or self.common_word(token):
            return ()
        found = process.extract(token, self.vocab, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=3)
        return tuple(str(choice) for choice, _score, _idx in found)

    def _identifies(self, word: str, span_words: int) -> bool:
        """Can this word, within a span of ``span_words`` name words, identify an entity?

        An unusual word can; an everyday word only if no other entity's name has it and — when it
        stands alone — the workspace's other documents never use it ("the Bridge", not "worth it").
        """
        if word in _FUNCTION_WORDS:
            return False
        if not self.common_word(word):
            return True
        unique = len(self.postings[word]) == 1
        return unique and (span_words > 1 or self.foreign_df[word] == 0)

    def _align(self, text: Sequence[str], i: int, name: Sequence[str], j: int) -> tuple[int, set[int], bool]:
        """Extend a match from text[i] / name[j]; returns (text end, matched name positions, fuzzy?)."""
        matched: set[int] = set()
        fuzzy = False
        while i < len(text) and j < len(name):
            if text[i] == name[j]:
                matched.add(j)
                i, j = i + 1, j + 1
            elif i + 1 < len(text) and text[i] + text[i + 1] == name[j]:  # "allen bell" ~ "allenbell"
                matched.add(j)
                i, j = i + 2, j + 1
            elif j + 1 < len(name) and name[j] + name[j + 1] == text[i]:  # "guesthouse" ~ "guest house"
                matched.update((j, j + 1))
                i, j = i + 1, j + 2
            elif name[j] in self._fuzzy(text[i]):
                matched.add(j)
                fuzzy = True
                i, j = i + 1, j + 1
            else:
                break
        return i, matched, fuzzy

    def _starts(self, text: Sequence[str], i: int) -> set[tuple[str, int]]:
        tok = text[i]
        keys = {tok, *self._fuzzy(tok)}
        if i + 1 < len(text):
            keys.add(tok + text[i + 1])
        starts = {hit for key in keys for hit in self.starts.get(key, ())}
        for cut in range(2, len(tok) - 1):  # one text token written for two name tokens
            for name, pos in self.starts.get(tok[:cut], ()):
                toks = self.names[name]
                if pos + 1 < len(toks) and toks[pos + 1] == tok[cut:]:
                    starts.add((name, pos))
        return starts

    def mentions(self, text: str) -> list[Mention]:
        """Entities named in one piece of text; a reading inside a longer one is dropped."""
        toks = tokens(text)
        best: dict[str, Mention] = {}
        for i in range(len(toks)):
            for name, j in self._starts(toks, i):
                end, matched, fuzzy = self._align(toks, i, self.names[name], j)
                mention = self._score(name, matched, fuzzy, i, end)
                if mention and (name not in best or mention.score > best[name].score):
                    best[name] = mention
        found = list(best.values())
        # "Nandos City Centre" also contains "Nandos": the shorter reading loses.
        return [
            m for m in found
            if not any(o.start <= m.start and m.end <= o.end and (o.end - o.start) > (m.end - m.start)
                       for o in found)
        ]

    def _score(self, name: str, matched: set[int], fuzzy: bool, start: int, end: int) -> Mention | None:
        if not matched:
            return None
        toks = self.names[name]
        weights = [self.idf[t] for t in toks]
        if not any(weights):  # a name of function words only ("The Who"): every word counts
            weights = [1.0] * len(toks)
        cover = sum(weights[p] for p in matched) / sum(weights)
        if cover < MIN_COVER or max(weights[p] for p in matched) < max(weights):
            return None
        words = {toks[p] for p in matched}
        complete = len(matched) == len(toks)
        if not (complete and len(words) > 1) and not any(self._identifies(w, len(words)) for w in words):
            return None
        # Everyday words name something only from the head of its name ("the Bridge", "Alpha-Milton"):
        # a tail such as "guest house" or "city centre" is how people describe places, not name them.
        if not complete and min(matched) > 0 and all(self.common_word(w) for w in words):
            return None
        score = round(cover * (FUZZY_WEIGHT if fuzzy else 1.0), 4)
        return Mention(name, score, start, end, complete, tuple(sorted(words)))

    def _rivals(self, mention: Mention) -> set[str]:
        """Entities whose names also contain every word of a partial mention ("Pizza Hut")."""
        sets = [{name for name, _pos in self.postings.get(word, ())} for word in mention.words]
        return set.intersection(*sets) if sets else set()

    def resolve(self, turns: Sequence[str], max_back: int = 20) -> list[Resolved]:
        """Entities of the most recent turn that names any (``turns[-1]`` is the message itself).

        The best-covered readings of that turn are returned together ("Avalon or Limehouse — which one
        has a buffet?" is about both). A partial reading ("Pizza Hut") defers to an earlier turn that
        named one of the entities it could mean in full ("Pizza Hut Cherry Hinton"). Failing that, a
        name given in full beats the longer names that contain it ("Nandos", not "Nandos City Centre").
        """
        recent = list(turns[-max_back:])
        for back, turn in enumerate(reversed(recent)):
            found = self.mentions(turn)
            if not found:
                continue
            keep = _best_readings(found)
            if all(m.complete for m in keep):
                return [Resolved(m.entity, m.score, back) for m in keep]
            if back + 1 < len(recent):
                candidates = {m.entity for m in keep} | {r for m in keep if not m.complete for r in self._rivals(m)}
                for earlier_back in range(back + 1, len(recent)):
                    earlier = [m for m in self.mentions(recent[-1 - earlier_back])
                               if m.entity in candidates and m.complete]
                    if earlier:
                        return [Resolved(m.entity, m.score, earlier_back) for m in earlier]
            return [Resolved(m.entity, m.score, back) for m in _full_names_first(keep)]
        return []


def _full_names_first(readings: list[Mention]) -> list[Mention]:
    """Drop partial readings of a span that also reads as a name in full."""
    full_spans = {(m.start, m.end) for m in readings if m.complete}
    return [m for m in readings if m.complete or (m.start, m.end) not in full_spans]


def _best_readings(found: list[Mention]) -> list[Mention]:
    """Per text span, the readings close to the best one; different spans name different entities."""
    spans: dict[tuple[int, int], list[Mention]] = defaultdict(list)
    for mention in found:
        spans[(mention.start, mention.end)].append(mention)
    keep: list[Mention] = []
    for group in spans.values():
        top = max(m.score for m in group)
        keep.extend(m for m in group if m.score >= top - AMBIGUITY_MARGIN)
    return sorted(keep, key=lambda m: (-m.score, m.start))
