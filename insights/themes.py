"""Themes: clusters of similar messages, each with a representative quote, a count and top terms.

Vectors are the local MiniLM embeddings the knowledge base uses (no network). Clustering is
scikit-learn's agglomerative clustering with a cosine distance threshold, so the number of themes
follows the data instead of being fixed in advance; labels are class-based TF-IDF terms (each theme's
messages as one document), also from scikit-learn.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from insights.data import clean_text
from knowledge.embeddings import DIMENSIONS, embed_texts

# Agglomerative clustering holds an n x n distance matrix: past this many texts, cluster an even
# sample and attach the rest to their nearest theme (every message is still counted).
MAX_CLUSTERED = 3000
_CACHE_LIMIT = 50_000
_QUOTABLE_WORDS = 6
# Chat filler that says nothing about a theme, on top of scikit-learn's English list. Apostrophes split
# words ("doesn't" -> "doesn"), so those stems are listed too.
CHAT_STOP_WORDS = frozenset({
    "does", "did", "doesn", "didn", "don", "isn", "aren", "wasn", "haven", "hasn", "couldn", "wouldn", "just",
    "like", "got", "get", "hi", "hey", "hello", "thanks", "thank", "pls", "please", "know", "want", "need",
    "really", "amp", "lol", "yes", "okay", "guys", "whats", "im", "ive", "youre",
})
_cache: dict[str, np.ndarray] = {}
_cache_lock = threading.Lock()


@dataclass
class Cluster:
    members: list[int]  # positions in the input list
    representative: int  # the member closest to the theme's centre
    terms: list[str]
    cohesion: float  # mean cosine similarity of members to the centre

    @property
    def count(self) -> int:
        return len(self.members)


def embed_cached(texts: list[str]) -> np.ndarray:
    """Embed with a per-process cache: a summary, its digest and a gap refresh see the same texts.

    A plain dict keyed by content hash (cleared when full) is all this needs; no eviction policy pays.
    """
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    with _cache_lock:
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in _cache}.items())
    if missing:
        vectors = embed_texts([t for _, t in missing])
        with _cache_lock:
            if len(_cache) + len(missing) > _CACHE_LIMIT:
                _cache.clear()
            _cache.update({k: v for (k, _), v in zip(missing, vectors, strict=True)})
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    with _cache_lock:
        for i, key in enumerate(keys):
            vector = _cache.get(key)
            out[i] = vector if vector is not None else embed_texts([texts[i]])[0]
    return out


# scikit-learn (with scipy and, when installed, pandas: ~110 MB resident) is imported when themes are
# computed, not by every process that imports insights (the API server does, for its routes).
@lru_cache(maxsize=1)
def stop_words() -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS | CHAT_STOP_WORDS)


def _labels(vectors: np.ndarray, distance: float) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    n = len(vectors)
    if n == 1:
        return np.zeros(1, dtype=int)
    fit_idx = np.arange(n) if n <= MAX_CLUSTERED else np.linspace(0, n - 1, MAX_CLUSTERED).astype(int)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, metric="cosine", linkage="average")
    fitted = model.fit_predict(vectors[fit_idx])
    if n <= MAX_CLUSTERED:
        return np.asarray(fitted)
    labels = np.full(n, -1, dtype=int)
    labels[fit_idx] = fitted
    centres = np.stack([vectors[fit_idx][fitted == c].mean(axis=0) for c in range(fitted.max() + 1)])
    centres /= np.clip(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12, None)
    rest = np.where(labels == -1)[0]
    sims = vectors[rest] @ centres.T
    nearest = sims.argmax(axis=1)
    next_label = int(fitted.max()) + 1
    for row, idx in enumerate(rest):
        if 1.0 - sims[row, nearest[row]] <= distance:
            labels[idx] = nearest[row]
        else:
            labels[idx] = next_label
            next_label += 1
    return labels


def _terms(docs: list[str], top: int = 4) -> list[list[str]]:
    """Class-based TF-IDF: words frequent in one theme and rare in the others."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        vectorizer = TfidfVectorizer(
            stop_words=stop_words(), ngram_range=(1, 2), token_pattern=r"(?u)\b[a-zA-Z]{3,}\b", sublinear_tf=True
        )
        matrix = vectorizer.fit_transform(docs)
    except ValueError:  # every document empty after stop words
        return [[] for _ in docs]
    vocab = np.array(vectorizer.get_feature_names_out())
    out: list[list[str]] = []
    for row in range(matrix.shape[0]):
        weights = matrix.getrow(row).toarray().ravel()
        order = [i for i in weights.argsort()[::-1] if weights[i] > 0]
        picked: list[str] = []
        for i in order:
            term = str(vocab[i])
            # Skip a word already inside a picked phrase (and a phrase made only of picked words).
            if any(term in p.split() or p in term.split() for p in picked) or term in picked:
                continue
            picked.append(term)
            if len(picked) == top:
                break
        out.append(picked)
    return out


def cluster_texts(texts: list[str], distance: float = 0.6) -> list[Cluster]:
    """Group texts into themes, largest first; every text belongs to exactly one theme."""
    if not texts:
        return []
    cleaned = [clean_text(t) or t for t in texts]
    vectors = embed_cached(cleaned)
    labels = _labels(vectors, distance)
    groups: dict[int, list[int]] = {}
    for idx, label in enumerate(labels):
        groups.setdefault(int(label), []).append(idx)
    ordered = sorted(groups.values(), key=lambda m: (-len(m), m[0]))
    terms = _terms([" ".join(cleaned[i] for i in members) for members in ordered])
    clusters: list[Cluster] = []
    for members, words in zip(ordered, terms, strict=True):
        block = vectors[members]
        centre = block.mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        sims = block @ centre
        # A two-word message ("PS4") can sit near any centre; quote one that says something when possible.
        wordy = [j for j, i in enumerate(members) if len(cleaned[i].split()) >= _QUOTABLE_WORDS] or list(
            range(len(members))
        )
        best = max(wordy, key=lambda j: float(sims[j]))
        clusters.append(
            Cluster(members=members, representative=members[best], terms=words, cohesion=round(float(sims.mean()), 3))
        )
    return clusters
