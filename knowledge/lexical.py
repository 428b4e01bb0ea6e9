"""Per-workspace in-process indexes built from the store: BM25 (bm25s) and the entity lexicon.

Chroma 1.5 has no sparse/BM25 search in local or server mode (STACK-NOTES), so the lexical half of
hybrid retrieval lives here. An index is built on first use and cached per (store, workspace); each
search compares the collection's generation stamp with the one the index was built from and rebuilds
when another write (in this process or any other) has happened since.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS
from chromadb.errors import ChromaError

from knowledge.embeddings import common_word
from knowledge.entities import EntityIndex
from knowledge.models import Chunk
from knowledge.respell import Respeller
from knowledge.spoken import SoundRanker
from knowledge.store import Collections, KnowledgeStore

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
VOCABULARY_SHARE = 0.5  # a word in at least this share of a workspace's chunks is its own vocabulary
# Up to this many chunks a workspace's dense ranking is one exact product in process (its text and question
# vectors: at most 15 MB), not two HNSW queries through Chroma's bindings, which hold the interpreter lock
# for their whole run (~1.5 ms each): with 32 drafting lanes in one process that lock is the bottleneck.
DENSE_IN_PROCESS_MAX = 5_000
FETCHED_MAX = 2_048  # chunks (text, metadata, vector: ~3 KB each) an index keeps from its reads of hits
FILTER_FIELDS = ("kind", "platform", "locale", "source", "doc_id", "entity", "tags")
_stemmer = Stemmer.Stemmer("english")
_cache: dict[tuple[str, str], WorkspaceIndex] = {}
_locks: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
_cache_lock = threading.Lock()


def tokenize(texts: list[str]) -> Any:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer, show_progress=False)


@dataclass
class WorkspaceIndex:
    generation: str
    ids: list[str]
    columns: dict[str, np.ndarray]
    tags: list[frozenset[str]]
    bm25: bm25s.BM25 | None
    entities: EntityIndex
    entity_rows: dict[str, np.ndarray]
    build_seconds: float = 0.0
    _masks: dict[str, np.ndarray] = field(default_factory=dict)
    _entity_vectors: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    _entity_sounds: dict[str, tuple[np.ndarray, SoundRanker]] = field(default_factory=dict)
    _rows: dict[str, int] = field(default_factory=dict)
    _dense: tuple[np.ndarray, np.ndarray] | None = None
    _dense_lock: threading.Lock = field(default_factory=threading.Lock)
    _dense_refused: bool = False
    _fetched: dict[str, tuple[Chunk, str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def kinds(self) -> set[str]:
        if not hasattr(self, "_kinds"):
            self._kinds = set(self.columns["kind"].tolist())
        return self._kinds

    def mask(self, filters: dict[str, list[str]], entities: list[str] | None = None) -> np.ndarray | None:
        """Rows allowed by the filters (and, if given, belonging to one of the entities)."""
        if not filters and not entities:
            return None
        key = json.dumps([filters, entities], sort_keys=True)
        cached = self._masks.get(key)
        if cached is not None:
            return cached
        allowed = np.ones(len(self.ids), dtype=bool)
        for name, values in filters.items():
            if name == "tags":
                wanted = set(values)
                allowed &= np.fromiter((bool(t & wanted) for t in self.tags), dtype=bool, count=len(self.tags))
            elif name.startswith("!"):
                allowed &= ~np.isin(self.columns[name[1:]], values)
            else:
                allowed &= np.isin(self.columns[name], values)
        if entities:
            in_entity = np.zeros(len(self.ids), dtype=bool)
            for entity in entities:
                in_entity[self.entity_rows.get(entity, np.empty(0, dtype=np.int64))] = True
            allowed &= in_entity
        if len(self._masks) > 256:
            self._masks.clear()
        self._masks[key] = allowed
        return allowed

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """BM25 ranking of the query over allowed rows: (chunk id, score) with score > 0."""
        if self.bm25 is None or k <= 0 or (mask is not None and not mask.any()):
            return []
        terms = bm25s.tokenize([query], stopwords="en", stemmer=_stemmer, show_progress=False, return_ids=False)[0]
        known = [t for t in terms if t in self.bm25.vocab_dict]
        if not known:
            return []
        scores = self.bm25.get_scores(known)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[int(r)], float(scores[r])) for r in top if scores[r] > 0]

    def entity_dense(
        self, store: KnowledgeStore, cols: Collections, entities: list[str], vector: np.ndarray,
        mask: np.ndarray | None, k: int,
    ) -> list[tuple[str, float]]:
        """Dense ranking within the entities' chunks, in process: an entity has tens to hundreds of
        chunks, whose vectors are fetched once per index generation and scored with one product."""
        scored: list[tuple[str, float]] = []
        for entity in entities:
            if entity not in self._entity_vectors:
                rows_of = self.entity_rows.get(entity, np.empty(0, dtype=np.int64))
                ids, texts, questions = store.vectors(cols, [self.ids[r] for r in rows_of])
                qmat = np.stack([questions.get(i, np.zeros(texts.shape[1], np.float32)) for i in ids]) if ids else texts
                rows = np.array([self.row(i) for i in ids], dtype=np.int64)
                if len(self._entity_vectors) > 512:
                    self._entity_vectors.clear()
                self._entity_vectors[entity] = (rows, texts, qmat)
            rows, texts, qmat = self._entity_vectors[entity]
            if not len(rows):
                continue
            sims = np.maximum(texts @ vector, qmat @ vector)
            for row, sim in zip(rows, sims, strict=True):
                if row >= 0 and (mask is None or mask[row]):
                    scored.append((self.ids[row], float(sim)))
        scored.sort(key=lambda item: -item[1])
        return scored[:k]

    def fetch(self, store: KnowledgeStore, cols: Collections, ids: list[str]) -> dict[str, tuple[Chunk, str, Any]]:
        """:meth:`KnowledgeStore.fetch` of the chunks with their text vectors, kept for this index's generation
        (a chunk does not change without a new one). The hits of one brand recur from message to message, and
        Chroma's bindings hold the interpreter lock while they read: ~2 ms of every draft on the samples."""
        # Lanes search at once and a full cache is replaced, not emptied: answer from the dict read here and
        # what this call fetched, so a hit never goes missing because another lane swapped the dict meanwhile.
        cached = self._fetched
        found = {cid: cached[cid] for cid in ids if cid in cached}
        missing = [cid for cid in ids if cid not in found]
        if missing:
            got = store.fetch(cols, missing, vectors=True)
            found.update(got)
            if len(cached) + len(got) > FETCHED_MAX:
                self._fetched = dict(got)
            else:
                cached.update(got)
        return {cid: found[cid] for cid in ids if cid in found}

    def dense(
        self, store: KnowledgeStore, cols: Collections, vector: np.ndarray, k: int, mask: np.ndarray | None,
    ) -> list[tuple[str, float]] | None:
        """Exact dense ranking over the allowed rows, best view (chunk text or FAQ question) per chunk, as
        :meth:`KnowledgeStore.nearest` ranks them; None when the workspace is too large to hold in process.
        The vectors are read from the store once per index generation."""
        if len(self.ids) > DENSE_IN_PROCESS_MAX or k <= 0 or self._dense_refused:
            return None
        if self._dense is None:
            with self._dense_lock:
                if self._dense is None and not self._dense_refused:
                    try:
                        found, texts, questions = store.vectors(cols, list(self.ids))
                    except ChromaError as exc:
                        # Chunks another process wrote into an embedded store are in its metadata but not
                        # in this process's vector segment (Chroma's embedded mode is single-process):
                        # rank through Chroma's own query, as before, rather than fail the search.
                        log.warning("dense ranking of %d chunks stays in Chroma: %s", len(self.ids), exc)
                        self._dense_refused = True
                        return None
                    rows = np.array([self.row(i) for i in found], dtype=np.int64)
                    keep = rows >= 0  # chunks written after this index was built wait for the next one
                    if found:  # views: [chunk text, FAQ question (else the text again)] x chunk x dimension
                        asked = np.stack([questions.get(i, texts[n]) for n, i in enumerate(found)])
                        self._dense = (rows[keep], np.stack([texts, asked])[:, keep])
                    else:
                        self._dense = (rows, np.zeros((2, 0, len(vector)), dtype=np.float32))
        rows, views = self._dense
        if not len(rows):
            return []
        sims = (views @ vector).max(axis=0)
        if mask is not None:
            allowed = mask[rows]
            rows, sims = rows[allowed], sims[allowed]
        k = min(k, len(rows))
        if k == 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.ids[int(rows[t])], float(sims[t])) for t in top]

    def entity_sounds(
        self, store: KnowledgeStore, cols: Collections, entities: list[str], query: str,
        mask: np.ndarray | None, k: int,
    ) -> list[tuple[str, float]]:
        """Ranking within the entities' chunks by how the query *sounds* (:class:`SoundRanker`): a
        garbled question ("al dor city", "master card") still shares sound n-grams with its FAQ."""
        scored: list[tuple[str, float]] = []
        for entity in entities:
            if entity not in self._entity_sounds:
                rows_of = self.entity_rows.get(entity, np.empty(0, dtype=np.int64))
                fetched = store.fetch(cols, [self.ids[r] for r in rows_of])
                ids = [self.ids[r] for r in rows_of if self.ids[r] in fetched]
                rows = np.array([self.row(i) for i in ids], dtype=np.int64)
                if len(self._entity_sounds) > 512:
                    self._entity_sounds.clear()
                texts = [fetched[i][0].question or fetched[i][0].text for i in ids]  # what users paraphrase
                self._entity_sounds[entity] = (rows, SoundRanker(texts))
            rows, ranker = self._entity_sounds[entity]
            for row, sim in zip(rows, ranker.scores(query), strict=True):
                if sim > 0 and (mask is None or mask[row]):
                    scored.append((self.ids[row], float(sim)))
        scored.sort(key=lambda item: -item[1])
        return scored[:k]

    @property
    def respeller(self) -> Respeller:
        """Mends a message's broken words against this workspace's vocabulary (:mod:`knowledge.respell`)."""
        if not hasattr(self, "_respeller"):
            self._respeller = Respeller(self.entities.corpus_df)
        return self._respeller

    @property
    def vocabulary(self) -> frozenset[str]:
        """The workspace's own names: every word of its entities' names ("Lumen", "Cargo") and the words
        most of its chunks use (the brand, the product category: "bike"). They say *which* thing a message
        is about, never *what* it asks, so relevance compares needs with them masked (agent/relevance.py)."""
        if not hasattr(self, "_vocabulary"):
            names = {t for toks in self.entities.names.values() for t in toks}
            floor = VOCABULARY_SHARE * len(self.ids)
            frequent = {t for t, n in self.entities.corpus_df.items() if n >= floor}
            self._vocabulary = frozenset(t for t in names | frequent if t.isalpha() and t not in STOPWORDS_EN_PLUS)
        return self._vocabulary

    def row(self, chunk_id: str) -> int:
        if not self._rows:
            self._rows = {cid: i for i, cid in enumerate(self.ids)}
        return self._rows.get(chunk_id, -1)


def build_index(store: KnowledgeStore, workspace: str, generation: str) -> WorkspaceIndex:
    started = time.perf_counter()
    ids: list[str] = []
    texts: list[str] = []
    values: dict[str, list[str]] = {name: [] for name in FILTER_FIELDS if name != "tags"}
    tags: list[frozenset[str]] = []
    entity_rows: dict[str, list[int]] = defaultdict(list)
    for row, (cid, text, meta) in enumerate(store.records(workspace)):
        ids.append(cid)
        texts.append(text)
        for name in values:
            values[name].append(str(meta.get(name) or ""))
        tags.append(frozenset(meta.get("tags") or ()))
        if meta.get("entity"):
            entity_rows[str(meta["entity"])].append(row)
    bm25 = None
    if ids:
        bm25 = bm25s.BM25()
        bm25.index(tokenize(texts), show_progress=False)
    entities = EntityIndex(
        entity_rows, ((values["entity"][i] or None, texts[i]) for i in range(len(ids))), common_word
    )
    index = WorkspaceIndex(
        generation=generation, ids=ids, columns={n: np.array(v, dtype=object) for n, v in values.items()},
        tags=tags, bm25=bm25, entities=entities,
        entity_rows={e: np.array(rows, dtype=np.int64) for e, rows in entity_rows.items()},
    )
    index.build_seconds = time.perf_counter() - started
    log.info("built lexical index of %s (%d chunks) in %.2fs", workspace, len(ids), index.build_seconds)
    return index


def workspace_index(store: KnowledgeStore, workspace: str, generation: str | None = None) -> WorkspaceIndex | None:
    """The cached index of a workspace, rebuilt if the collection changed since it was built."""
    generation = generation if generation is not None else store.generation(workspace)
    if generation is None:
        return None
    key = (store.key, workspace)
    cached = _cache.get(key)
    if cached is not None and cached.generation == generation:
        return cached
    with _cache_lock:
        lock = _locks[key]
    with lock:  # one build per workspace at a time; others wait for it instead of building twice
        cached = _cache.get(key)
        if cached is not None and cached.generation == generation:
            return cached
        index = build_index(store, workspace, generation)
        _cache[key] = index
        return index
