"""Text as people say it: fillers, and a sound-based representation that survives garbled words.

Voice-to-text and hasty typing give "umm do they have al dor city", "master card", "house keeping". Two
helpers make retrieval robust to that:
  * :func:`clean_query` drops hesitations ("umm", "uh", "you know", "i mean") that carry no meaning but
    pull dense and BM25 rankings towards chit-chat;
  * :class:`SoundRanker` ranks a handful of chunks (one entity's) by character n-grams of their
    *sound* — each word's metaphone code (jellyfish), spaces removed, so "house keeping" and
    "housekeeping", "al dor city" and "outdoor seating" share n-grams their spellings do not.
"""

from __future__ import annotations

import re
from functools import lru_cache

import jellyfish
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

# Hesitations only: "like", "well", "so" are fillers too, but also words ("I would like").
HESITATIONS = frozenset({"um", "umm", "uh", "uhm", "er", "erm", "hmm", "mm", "ah"})
_SKIP = HESITATIONS | frozenset(STOPWORDS_EN)
_PHRASES = re.compile(r"\b(?:you know|i mean)\b[,]?\s*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+|\d+")
NGRAMS = (3, 4)


def clean_query(text: str) -> str:
    """The message without hesitations; the text itself if nothing else would be left."""
    kept = _PHRASES.sub(" ", text)
    kept = " ".join(w for w in kept.split() if w.strip(",.!?").lower() not in HESITATIONS)
    return kept if kept.strip() else text


@lru_cache(maxsize=100_000)
def _code(word: str) -> str:
    return jellyfish.metaphone(word) if word.isalpha() else word


def sound_string(text: str) -> str:
    """Metaphone codes of the content words, run together ("house keeping" -> "HSKPNK")."""
    return "".join(_code(w.lower()) for w in _WORD.findall(text) if w.lower() not in _SKIP)


class SoundRanker:
    """TF-IDF over character n-grams of sound strings, for a few chunks (fitted per entity)."""

    def __init__(self, texts: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.size = len(texts)
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True, lowercase=False)
        sounds = [sound_string(t) or "_" for t in texts]
        self.matrix = self.vectorizer.fit_transform(sounds) if texts else None

    def scores(self, query: str) -> np.ndarray:
        if self.matrix is None:
            return np.zeros(0, dtype=np.float32)
        vec = self.vectorizer.transform([sound_string(query) or "_"])
        return np.asarray((self.matrix @ vec.T).toarray()).ravel().astype(np.float32)
