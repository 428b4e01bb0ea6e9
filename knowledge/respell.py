"""A message re-written in the knowledge's own words: words split or run together, and sound-alikes.

Voice-to-text and hurried typing break the words a question turns on: "int ernet", "con nection",
"theinternet", "variousbeer", "interned connection", "outdoor seeting". Dense and BM25 rankings both miss
them — the model never saw "ernet", and BM25 finds no "interned" in the FAQs. The knowledge base itself
says which words are real here, so :class:`Respeller` rewrites a message against its vocabulary (how
many chunks use each word):

  * two neighbours are joined when the joined word is a word of the knowledge at least as common as
    either part ("int ernet" -> "internet", "break fast" -> "breakfast");
  * a word the knowledge never uses is split in two where both halves are its words ("theinternet");
  * a word the knowledge does not use (fewer than MIN_DF chunks) is replaced by a common word of it
    that sounds the same (jellyfish's metaphone code) and is spelt alike: loosely for a non-word
    ("seeting" -> "seating"), closely for an everyday word ("interned" -> "internet"; "wavy" stays, though
    it sounds like "wifi": too unlike in spelling to tell from a word meant as written).

A word written with a capital inside a sentence that the embedding model knows ("- Sam", "ask Will") is
a name, and a name is never respelled ("sam" would be "same"); a misspelt name the model does not know
("the Cargoo") still is.

Nothing is learnt from any dataset: only the workspace's own word counts. Words the knowledge knows are
never touched, so a clean message comes back as it was (lower-cased), and the caller asks the extra
rankings only when something changed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import lru_cache

import jellyfish
from bm25s.stopwords import STOPWORDS_EN
from rapidfuzz import fuzz

from knowledge.embeddings import common_word
from knowledge.entities import FILLERS, cased_tokens

MIN_DF = 3  # chunks that must use a word before it counts as a word of the knowledge
SOUND_MIN_RATIO = 50.0  # spelling similarity a sound-alike of a non-word must have ("seeting" ~ "seating")
# ... and of an everyday word, which is far more often meant as written: a small knowledge base lacks
# most everyday words ("sent", "last", "kid"), and "send", "list", "kit" are not what was meant.
EVERYDAY_MIN_RATIO = 85.0  # "interned" ~ "internet"
MIN_PART = 2
# Function words: never a sound-alike to replace a word with ("free" is not "for"), always a word to
# split one into ("theinternet", "doesit"); "the" is one though :func:`tokens` drops it.
_FUNCTION = frozenset(STOPWORDS_EN) | {"the"}


@lru_cache(maxsize=100_000)
def _sound(word: str) -> str:
    return jellyfish.metaphone(word) if word.isalpha() else ""


class Respeller:
    """Rewrites messages in the words of one knowledge base (fitted from its document frequencies)."""

    def __init__(self, df: Counter[str]) -> None:
        self.df = df
        self.by_sound: dict[str, list[str]] = defaultdict(list)
        for word, count in df.items():
            if count >= MIN_DF and len(word) >= 3 and word.isalpha() and word not in _FUNCTION:
                self.by_sound[_sound(word)].append(word)
        self._word = lru_cache(maxsize=50_000)(self._word_uncached)

    def known(self, word: str) -> bool:
        return self.df[word] >= MIN_DF

    def respell(self, text: str) -> str:
        """The message's words, lower case, with broken ones mended; the same words if none was."""
        every, capitalised = cased_tokens(text)
        names = {w for i, w in enumerate(every) if i in capitalised and common_word(w)}
        words = [w for w in every if w not in FILLERS]
        out: list[str] = []
        i = 0
        while i < len(words):
            if i + 1 < len(words) and self._joins(words[i], words[i + 1]):
                out.append(words[i] + words[i + 1])
                i += 2
                continue
            out.append(words[i] if words[i] in names else self._word(words[i]))
            i += 1
        return " ".join(out)

    def _joins(self, left: str, right: str) -> bool:
        joined = left + right
        if not (left.isalpha() and right.isalpha()) or not self.known(joined):
            return False
        return self.df[joined] >= max(self.df[left], self.df[right])

    def _word_uncached(self, word: str) -> str:
        if not word.isalpha() or len(word) < 3 or self.known(word) or word in _FUNCTION:
            return word
        if not self.df[word]:
            split = self._split(word)
            if split:
                return split
        return self._sounds_like(word) or word

    def _weight(self, part: str) -> int:
        """How surely a split-off part is a word: its chunk count; a function word is always one."""
        return len(self.df) if part in _FUNCTION else self.df[part] if self.known(part) else 0

    def _split(self, word: str) -> str | None:
        cuts = [(min(self._weight(word[:c]), self._weight(word[c:])), c)
                for c in range(MIN_PART, len(word) - MIN_PART + 1)
                if word[:c] not in _FUNCTION or word[c:] not in _FUNCTION]  # "onto" is a word, not "on to"
        count, cut = max(cuts, default=(0, 0))
        return f"{word[:cut]} {word[cut:]}" if count else None

    def _sounds_like(self, word: str) -> str | None:
        floor = EVERYDAY_MIN_RATIO if common_word(word) else SOUND_MIN_RATIO
        options = [w for w in self.by_sound.get(_sound(word), ())
                   if w != word and abs(len(w) - len(word)) <= 2 and fuzz.ratio(w, word) >= floor]
        # The closest spelling first ("interned" is "internet" before it is "entered"), then the commoner.
        return max(options, key=lambda w: (fuzz.ratio(w, word), self.df[w], w)) if options else None
