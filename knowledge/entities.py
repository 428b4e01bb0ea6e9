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

Spoken and typed threads garble names: "akorn guessed hose", "cite stop", "huntingdon umm marriott". A
name token also matches a word that sounds the same (jellyfish's metaphone code), fillers inside a name
are skipped, and a word split in two is joined before it is compared.

Which entity the thread is *about* is a matter of salience, not of the last word that looks like a name
(:meth:`EntityIndex.resolve`): a strong mention (the name in full, or its rare head word) sets the subject;
a weak one — the tail of a name ("cherry hinton" is also an area), a name in an address ("41 Warkworth
Street"), one everyday word ("oak"), a single garbled word — only narrows or confirms the subject, or
sets it when the thread has none (or the subject has faded over many turns). When several entities were
offered, the one a later turn picks up is the referent.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import jellyfish
from bm25s.stopwords import STOPWORDS_EN
from rapidfuzz import fuzz, process

_TOKEN = re.compile(r"[a-z0-9]+")
# A sentence ends at a line break (a list item's first word starts one), and at . ! ? unless a dash follows
# on the same line: "thanks! - Sam" is a sign-off inside the sentence.
_CASED = re.compile(r"[A-Za-z0-9]+|\n|[.!?](?![.!?]*[ \t]*-)")
_IGNORED = frozenset({"the"})  # "The Lensfield Hotel" is "the Lensfield" or "Lensfield Hotel" in chat
MIN_COVER = 0.45  # share of the name's weight a mention must cover
FUZZY_MIN_LEN = 6
FUZZY_CUTOFF = 80.0
FUZZY_WEIGHT = 0.9
AMBIGUITY_MARGIN = 0.25
STRONG = 0.5  # evidence at which a mention sets the thread's subject, whatever came before
WEAK_FACTOR = 0.5  # evidence kept by a weak mention (a name's tail, an address, one everyday word)
DECAY = 0.85  # salience kept per turn without a mention
PHONETIC_MIN_LEN = 3
PHONETIC_MIN_RATIO = 60.0  # spelling similarity a sound-alike must also have
_FUNCTION_WORDS = frozenset(STOPWORDS_EN)
# Hesitations a transcript carries inside a name ("huntingdon umm marriott"); skipped while matching.
FILLERS = frozenset({"um", "umm", "uh", "uhm", "er", "erm", "hmm", "mm", "ah", "like", "well", "so"})
_TWO_WORD_FILLERS = frozenset({("you", "know"), ("i", "mean")})
# Words a transcript writes for a number word that sounds the same: "restaurant two to", "won seven".
_SAID_AS = {"to": "two", "too": "two", "for": "four", "fore": "four", "won": "one", "ate": "eight"}
# Words that make the name before them an address or a place, not the entity: "41 Warkworth Street".
PLACE_WORDS = frozenset({"street", "st", "road", "rd", "lane", "avenue", "ave", "way", "drive", "close", "court",
                         "crescent", "square", "terrace", "row", "walk", "boulevard", "blvd", "highway", "parkway",
                         "area", "district", "neighbourhood", "neighborhood", "side", "postcode"})


def tokens(text: str) -> list[str]:
    """Lower-case ASCII word tokens: accents folded, '&' read as 'and', apostrophes dropped."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    folded = folded.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return [t for t in _TOKEN.findall(folded) if t not in _IGNORED]


def cased_tokens(text: str) -> tuple[list[str], frozenset[int]]:
    """:func:`tokens`, and the positions of words written capitalised inside a sentence ("the Cargo"):
    a writer's sign of a proper name, which a transcript (all lower case) does not give."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    folded = folded.replace("&", " and ").replace("'", "").replace("\u2019", "")
    toks: list[str] = []
    caps: set[int] = set()
    sentence_start = True
    for match in _CASED.finditer(folded):
        word = match.group()
        if not word[0].isalnum():
            sentence_start = True  # . ! ? or a line break
            continue
        low = word.lower()
        if low in _IGNORED:
            continue
        if word[0].isupper() and not word.isupper() and not sentence_start:
            caps.add(len(toks))
        toks.append(low)
        sentence_start = False
    return toks, frozenset(caps)


@dataclass(frozen=True)
class Mention:
    entity: str
    score: float  # covered share of the name's weight, discounted for fuzzy matches
    start: int  # token span in the turn
    end: int
    complete: bool  # every token of the name was matched
    words: tuple[str, ...] = ()  # the name tokens matched
    weak: bool = False  # a name's tail, an address, one everyday or garbled word: confirms, rarely sets

    @property
    def evidence(self) -> float:
        return self.score * (WEAK_FACTOR if self.weak else 1.0)


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
        self.sounds: dict[str, list[str]] = defaultdict(list)  # metaphone code -> name tokens
        for tok in self.vocab:
            code = _sound(tok)
            if code:
                self.sounds[code].append(tok)
        self.common_word = common_word
        self.corpus_df: Counter[str] = Counter()
        self.foreign_df: Counter[str] = Counter()  # chunks not about an entity whose name has the token
        for entity, text in chunks:
            present = set(tokens(text))
            self.corpus_df.update(present)
            own = set(self.names.get(entity or "", ()))
            self.foreign_df.update(t for t in present if t in self.postings and t not in own)
        self._fuzzy = lru_cache(maxsize=50_000)(self._fuzzy_uncached)
        self._sounds_like = lru_cache(maxsize=50_000)(self._sounds_like_uncached)
        self._pair_starts = lru_cache(maxsize=100_000)(self._pair_starts_uncached)
        self.mentions = lru_cache(maxsize=4096)(self._mentions)

    def __bool__(self) -> bool:
        return bool(self.names)

    def _fuzzy_uncached(self, token: str) -> tuple[str, ...]:
        """Name tokens this word may stand for: one that sounds the same ("cite" ~ "city", "akorn" ~
        "acorn"), or — for an unknown long word — a close spelling ("kirkwod")."""
        found = list(self._sounds_like(token))
        # Only an unknown long word may be misspelt: "priced" is not "Prince".
        if found or token in self.postings or token in _FUNCTION_WORDS:
            return tuple(found)
        if len(token) >= FUZZY_MIN_LEN and not self.corpus_df[token] and not self.common_word(token):
            spelt = process.extract(token, self.vocab, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=3)
            found += [str(choice) for choice, _score, _idx in spelt if choice not in found]
        return tuple(found)

    def _sounds_like_uncached(self, token: str) -> tuple[str, ...]:
        """Name tokens that sound like this word. An everyday word stands only for another everyday
        word ("cite" for "city", "hose" for "house"): "price" is a word, not a garbled "Prezzo"."""
        if token in self.postings or token in _FUNCTION_WORDS or token in FILLERS:
            return ()
        everyday = self.common_word(token)
        return tuple(
            t for t in self.sounds.get(_sound(token), ())
            if (t[0] == token[0] or t[:2] in _SAME_SOUND_STARTS) and (not everyday or self.common_word(t))
            and fuzz.ratio(token, t) >= PHONETIC_MIN_RATIO  # short codes collide: "get" is not "Cote"
        )

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
        fuzzy = gap = False
        while i < len(text) and j < len(name):
            if matched and text[i] != name[j] and i + 1 < len(text):
                if text[i] in FILLERS:
                    i += 1  # "huntingdon umm marriott"
                    continue
                if (text[i], text[i + 1]) in _TWO_WORD_FILLERS and i + 2 < len(text):
                    i += 2  # "university you know arms"
                    continue
            if text[i] == name[j] or _SAID_AS.get(text[i]) == name[j]:  # "restaurant two to"
                matched.add(j)
                fuzzy = fuzzy or text[i] != name[j]
                i, j = i + 1, j + 1
            elif i + 1 < len(text) and text[i] + text[i + 1] == name[j]:  # "allen bell" ~ "allenbell"
                matched.add(j)
                i, j = i + 2, j + 1
            elif i + 1 < len(text) and name[j] in self._sounds_like(text[i] + text[i + 1]):  # "alen bel"
                matched.add(j)
                fuzzy = True
                i, j = i + 2, j + 1
            elif j + 1 < len(name) and name[j] + name[j + 1] == text[i]:  # "guesthouse" ~ "guest house"
                matched.update((j, j + 1))
                i, j = i + 1, j + 2
            elif name[j] in self._fuzzy(text[i]):
                matched.add(j)
                fuzzy = True
                i, j = i + 1, j + 1
            elif matched and not gap and i + 1 < len(text) and j + 1 < len(name) and text[i + 1] == name[j + 1]:
                gap = fuzzy = True  # one word lost to the transcript: "huntingdon myriad hotel"
                i, j = i + 1, j + 1
            else:
                break
        return i, matched, fuzzy

    def _starts(self, text: Sequence[str], i: int) -> frozenset[tuple[str, int]]:
        return self._pair_starts(text[i], text[i + 1] if i + 1 < len(text) else "")

    def _pair_starts_uncached(self, tok: str, following: str) -> frozenset[tuple[str, int]]:
        keys = {tok, *self._fuzzy(tok)}
        if following:
            keys.add(tok + following)
            keys.update(self._sounds_like(tok + following))
        starts = {hit for key in keys for hit in self.starts.get(key, ())}
        for cut in range(2, len(tok) - 1):  # one text token written for two name tokens
            for name, pos in self.starts.get(tok[:cut], ()):
                toks = self.names[name]
                if pos + 1 < len(toks) and toks[pos + 1] == tok[cut:]:
                    starts.add((name, pos))
        return frozenset(starts)

    def _mentions(self, text: str) -> list[Mention]:
        """Entities named in one piece of text; a reading inside a longer one is dropped."""
        toks, caps = cased_tokens(text)
        best: dict[str, Mention] = {}
        for i in range(len(toks)):
            for name, j in self._starts(toks, i):
                end, matched, fuzzy = self._align(toks, i, self.names[name], j)
                mention = self._score(name, matched, fuzzy, i, end, toks, caps)
                if mention and (name not in best or mention.score > best[name].score):
                    best[name] = mention
        found = list(best.values())
        # "Nandos City Centre" also contains "Nandos": the shorter reading loses.
        return [
            m for m in found
            if not any(o.start <= m.start and m.end <= o.end and (o.end - o.start) > (m.end - m.start)
                       for o in found)
        ]

    def _score(
        self, name: str, matched: set[int], fuzzy: bool, start: int, end: int, text: Sequence[str] = (),
        caps: frozenset[int] = frozenset(),
    ) -> Mention | None:
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
        proper = not fuzzy and any(p in caps for p in range(start, end))  # "the Cargo", not "cargo space"
        if not (complete and len(words) > 1) and not any(self._identifies(w, len(words)) for w in words) and not (
                proper and all(len(self.postings[w]) == 1 for w in words)):
            return None
        # Everyday words name something only from the head of its name ("the Bridge", "Alpha-Milton"):
        # a tail such as "guest house" or "city centre" is how people describe places, not name them.
        if not complete and min(matched) > 0 and all(self.common_word(w) for w in words):
            return None
        score = round(cover * (FUZZY_WEIGHT if fuzzy else 1.0), 4)
        said = "".join(text[start:end])
        garbled = fuzzy and (len(said) < 5 or any(self.common_word(t) for t in text[start:end]))
        one_everyday = len(words) == 1 and self.common_word(next(iter(words))) and not proper  # "oak"
        tail = min(matched) > 0  # "cherry hinton", "city centre" are also areas
        weak = (len(words) == 1 and garbled) or (not complete and (tail or one_everyday))  # or "barge"
        if end < len(text) and text[end] in PLACE_WORDS and self.names[name][-1] not in PLACE_WORDS:
            weak = True  # "41 warkworth street": an address, not the entity
        return Mention(name, score, start, end, complete, tuple(sorted(words)), weak)

    def _rivals(self, mention: Mention) -> set[str]:
        """Entities whose names also contain every word of a partial mention ("Pizza Hut")."""
        sets = [{name for name, _pos in self.postings.get(word, ())} for word in mention.words]
        return set.intersection(*sets) if sets else set()

    def resolve(self, turns: Sequence[str], max_back: int = 20) -> list[Resolved]:
        """The entities the thread is about, most salient first (``turns[-1]`` is the message itself).

        Turns are read oldest first. A strong mention sets the subject: every entity it names (several
        for "Avalon or Limehouse — which one has a buffet?"), plus the salience they had. A weak mention
        of an entity in the subject confirms it, and narrows an offer of several to the one picked up; a
        weak mention of anything else replaces the subject only when it outweighs the subject's faded
        salience. A partial reading ("Pizza Hut") is of the subject, or of an entity named in full earlier,
        when it can be ("Pizza Hut Cherry Hinton"); otherwise a name given in full beats the longer names
        containing it ("Nandos", not "Nandos City Centre").
        """
        recent = list(turns[-max_back:])
        subject: dict[str, float] = {}
        last_seen: dict[str, int] = {}
        named_in_full: set[str] = set()
        for pos, turn in enumerate(recent):
            subject = {e: v * DECAY for e, v in subject.items()}
            found = self.mentions(turn)
            if not found:
                continue
            readings = self._readings(_best_readings(found), subject, named_in_full)
            named_in_full.update(m.entity for m in found if m.complete)
            strong = [m for m in readings if m.evidence >= STRONG]
            if strong:
                subject = {m.entity: m.evidence + subject.get(m.entity, 0.0) for m in strong}
            else:
                picked = [m for m in readings if m.entity in subject]
                top = max(subject.values(), default=0.0)
                if picked:
                    subject = {m.entity: subject[m.entity] + m.evidence for m in picked}
                elif max(m.evidence for m in readings) > top:
                    subject = {m.entity: m.evidence for m in readings}
                else:
                    continue
            last_seen.update((e, pos) for e in subject)
        ranked = sorted(subject.items(), key=lambda item: (-item[1], -last_seen.get(item[0], 0)))
        return [Resolved(e, round(v, 4), len(recent) - 1 - last_seen[e]) for e, v in ranked]

    def _readings(self, readings: list[Mention], subject: dict[str, float], named: set[str]) -> list[Mention]:
        """Partial readings resolved against the thread so far: of the subject, or of a name given in
        full earlier, when they can be; else a full name beats the longer names containing it."""
        deferred: list[Mention] = []
        for m in readings:
            if m.complete:
                continue
            candidates = {m.entity} | self._rivals(m)
            earlier = sorted(candidates & set(subject)) or sorted(candidates & named)
            deferred.extend(replace(m, entity=e) for e in earlier)
        spans = {(m.start, m.end) for m in deferred}
        # "Pizza Hut" after "Pizza Hut Cherry Hinton": the earlier name, even over a shorter one in full.
        out = deferred + [m for m in _full_names_first(readings) if (m.start, m.end) not in spans]
        unique = {(m.entity, m.start): m for m in out}
        return list(unique.values())


def _sound(token: str) -> str:
    """The metaphone code of a word long enough for the code to mean anything ("" otherwise)."""
    if len(token) < PHONETIC_MIN_LEN or not token.isalpha():
        return ""
    code = jellyfish.metaphone(token)
    return code if len(code) >= 2 else ""


# Spellings of one sound a transcript swaps freely at the start of a word ("cid stop" for "city stop").
_SAME_SOUND_STARTS = frozenset({"ci", "ce", "cy", "ka", "ko", "ku", "ca", "co", "cu", "ph", "kn", "wr", "gn"})


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
