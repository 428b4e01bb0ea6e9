"""Hybrid, context-aware retrieval: the entry point used by the CLI, the API and the agent.

Rankings, fused by weighted reciprocal rank fusion (RRF):
  * dense (Chroma; chunk text and FAQ-question views) and BM25 over the workspace, for the message;
  * when the thread names one of the workspace's entities (resolved by :mod:`knowledge.entities`,
    most recent mention wins), dense and BM25 again *within that entity's chunks*, weighted higher —
    "is the wifi free there?" is about the hotel named two turns ago, not about every hotel;
  * when the message is elliptical ("and for kids?"), the previous question + the message, weighted low;
  * when some of its words are broken ("int ernet", "theinternet", "interned connection"), the same
    rankings again for the message as the knowledge would spell it (:mod:`knowledge.respell`), beside
    the message's own: a mended reading adds evidence, it never replaces what was written.
RRF uses a small constant (k=10, not the customary 60): candidate lists are short (an entity has tens of
chunks), and with k=60 the gap between first and tenth place all but vanishes. Guidelines are not
retrieved by similarity: they are selected by kind and platform (:func:`guidelines_for`).

``Hit.score`` is the cosine similarity to the message, capped so it never rises down the list; an
optional ``min_score`` on it turns weak results into "no confident answer".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

from knowledge.embeddings import common_word, embed_cached
from knowledge.entities import FILLERS, tokens
from knowledge.errors import KnowledgeError
from knowledge.lexical import FILTER_FIELDS, WorkspaceIndex, workspace_index
from knowledge.models import Chunk, Hit
from knowledge.spoken import clean_query
from knowledge.store import Collections, KnowledgeStore, check_workspace

RRF_K = 10
W_DENSE, W_BM25 = 1.0, 0.5
W_ENTITY_DENSE, W_ENTITY_BM25, W_ENTITY_SOUND = 4.0, 0.25, 0.3
W_EXPANSION = 0.5
W_RESPELLED = 1.0  # the mended reading counts as much as the message (tuned on clean + noisy DSTC11 val)
ELLIPTICAL_MAX_WORDS = 3
OVERFETCH_MIN_SHARE = 0.2  # filters letting through at least this share are applied after an unfiltered query
MAX_CONTEXT_TURNS = 20
# How a question starts, for transcripts that carry no "?": "umm does it have parking"
_QUESTION_TEXT = "do does did is are was were can could what where when which who why how would will should any has"
_QUESTION_START = frozenset(_QUESTION_TEXT.split())
# bm25s's longer English list (a superset of the short one BM25 indexing uses): function words do not
# make a message self-contained, so they do not count against "elliptical"; nor do spoken fillers.
_FUNCTION = frozenset(STOPWORDS_EN_PLUS) | {"like", "well", "so", "ok", "okay", "oh", "yeah"}
ContextArg = str | list[str] | list[dict[str, Any]] | None


@dataclass
class Retrieval:
    hits: list[Hit]
    confident: bool
    entities: list[str] = field(default_factory=list)
    expanded: bool = False


def context_turns(context: ContextArg) -> list[str]:
    """Earlier turns, oldest first: a string (one turn per line), a list of strings, or of {"text"}."""
    if context is None:
        return []
    if isinstance(context, str):
        turns = context.splitlines()
    elif isinstance(context, list):
        turns = [str(t.get("text") or "") if isinstance(t, dict) else str(t) for t in context]
    else:
        raise KnowledgeError("context must be a string or a list of turns")
    return [t.strip() for t in turns if t and t.strip()][-MAX_CONTEXT_TURNS:]


def normalise_filters(filters: dict[str, Any] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in (filters or {}).items():
        if name not in FILTER_FIELDS:
            raise KnowledgeError(f"unknown filter {name!r}; filter on {', '.join(FILTER_FIELDS)}")
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            raise KnowledgeError(f"filter {name!r} needs a string or a non-empty list of strings")
        out[name] = [v.lower() for v in values] if name in ("kind", "platform", "locale", "tags") else list(values)
    if "kind" not in out:
        out["!kind"] = ["guideline"]  # guidelines are selected by metadata, never by similarity
    return out


def where_clause(filters: dict[str, list[str]], entities: list[str] | None = None) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    for name, values in filters.items():
        if name == "tags":
            tag_clauses = [{"tags": {"$contains": v}} for v in values]
            clauses.append(tag_clauses[0] if len(tag_clauses) == 1 else {"$or": tag_clauses})
        elif name.startswith("!"):
            clauses.append({name[1:]: {"$nin": values}})
        else:
            clauses.append({name: {"$in": values}})
    if entities:
        clauses.append({"entity": {"$in": entities}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _elliptical(message: str) -> bool:
    return sum(1 for t in tokens(message) if t not in _FUNCTION) <= ELLIPTICAL_MAX_WORDS


def _garbled(query: str, index: WorkspaceIndex) -> bool:
    """Does the message hold a word that is neither everyday English nor in the knowledge ("al dor city")?
    Only then is the sound channel asked: on clean text it adds nothing but noise at the top."""
    return any(not common_word(t) and not index.entities.corpus_df[t] for t in tokens(query) if t.isalpha())


def _is_question(turn: str) -> bool:
    if "?" in turn:
        return True
    words = [t for t in tokens(clean_query(turn)) if t not in ("like", "well", "so", "ok", "okay", "oh", "and")]
    return bool(words) and words[0] in _QUESTION_START


def _previous_question(turns: list[str]) -> str | None:
    for turn in reversed(turns[-4:]):
        if _is_question(turn):
            return turn
    return None


def rrf(rankings: list[tuple[str, float, list[str]]]) -> dict[str, float]:
    fused: dict[str, float] = defaultdict(float)
    for _name, weight, ids in rankings:
        for rank, cid in enumerate(ids):
            fused[cid] += weight / (RRF_K + rank + 1)
    return fused


def retrieve(
    store: KnowledgeStore,
    query: str,
    workspace: str,
    k: int = 5,
    context: ContextArg = None,
    filters: dict[str, Any] | None = None,
    min_score: float | None = None,
) -> Retrieval:
    check_workspace(workspace)
    if not query.strip():
        return Retrieval(hits=[], confident=False)
    flt = normalise_filters(filters)
    cols = store.open(workspace)
    index = workspace_index(store, workspace, cols.generation) if cols is not None else None
    if cols is None or index is None or not len(index):
        return Retrieval(hits=[], confident=False)
    if "!kind" in flt and not index.kinds.intersection(flt["!kind"]):
        del flt["!kind"]  # nothing to exclude: spare Chroma the filter
    query = clean_query(query)
    turns = context_turns(context)
    resolved = index.entities.resolve([*turns, query]) if index.entities else []
    names = [r.entity for r in resolved]
    previous = _previous_question(turns) if turns and _elliptical(query) else None
    texts = [query] + ([f"{previous}\n{query}"] if previous else [])
    respelled = index.respeller.respell(query)
    mended = respelled != " ".join(t for t in tokens(query) if t not in FILLERS)
    vectors = embed_cached(texts + ([respelled] if mended else []))
    depth = max(4 * k, 20)
    mask = index.mask(flt)
    cosine: dict[str, float] = {}  # similarity to the message itself

    def ids(rows: list[tuple[str, float]], of_message: bool = True) -> list[str]:
        if of_message:
            for cid, sim in rows:
                cosine[cid] = max(cosine.get(cid, -1.0), sim)
        return [cid for cid, _s in rows]

    def dense(vector: np.ndarray) -> list[tuple[str, float]]:
        return _nearest(store, cols, index, vector, depth, flt, mask)

    rankings = [("dense", W_DENSE, ids(dense(vectors[0]))),
                ("bm25", W_BM25, ids(index.search(query, depth, mask), of_message=False))]
    if names:
        in_entities = index.mask(flt, names)
        rankings += [
            ("entity-dense", W_ENTITY_DENSE, ids(index.entity_dense(store, cols, names, vectors[0], mask, depth))),
            ("entity-bm25", W_ENTITY_BM25, ids(index.search(query, depth, in_entities), of_message=False)),
        ]
        if _garbled(query, index):
            sounds = index.entity_sounds(store, cols, names, query, mask, depth)
            rankings.append(("entity-sound", W_ENTITY_SOUND, ids(sounds, of_message=False)))
    if mended:  # the message as the knowledge would spell it, beside (not instead of) the message
        mended_rankings = [("dense", W_DENSE, dense(vectors[-1])),
                           ("bm25", W_BM25, index.search(respelled, depth, mask))]
        if names:
            mended_rankings += [
                ("entity-dense", W_ENTITY_DENSE, index.entity_dense(store, cols, names, vectors[-1], mask, depth)),
                ("entity-bm25", W_ENTITY_BM25, index.search(respelled, depth, index.mask(flt, names)))]
        rankings += [(f"respelled-{name}", W_RESPELLED * weight, ids(rows, of_message=False))
                     for name, weight, rows in mended_rankings]
    if previous:
        rankings += [("expanded-dense", W_EXPANSION, ids(dense(vectors[1]), of_message=False)),
                     ("expanded-bm25", W_EXPANSION, ids(index.search(texts[1], depth, mask), of_message=False))]
    fused = rrf(rankings)
    top = sorted(fused, key=lambda c: -fused[c])[:k]
    fetched = index.fetch(store, cols, top)
    hits: list[Hit] = []
    ceiling = 1.0
    for cid in top:
        if cid not in fetched:
            continue  # deleted between the ranking and now
        chunk, content_hash, vector = fetched[cid]
        if cid not in cosine:  # found by BM25 only: score its stored text vector against the message
            cosine[cid] = float(np.dot(np.asarray(vector, dtype=np.float32), vectors[0]))
        ceiling = min(ceiling, cosine[cid])
        hit = Hit.from_chunk(chunk, ceiling, content_hash)
        hit.fused = round(fused[cid], 5)
        hit.retrievers = [name for name, _w, ranked in rankings if cid in ranked]
        hits.append(hit)
    confident = bool(hits) and (min_score is None or hits[0].score >= min_score)
    if min_score is not None:
        hits = [h for h in hits if h.score >= min_score]
    return Retrieval(hits=hits, confident=confident, entities=names, expanded=previous is not None)


def _nearest(
    store: KnowledgeStore, cols: Collections, index: WorkspaceIndex, vector: np.ndarray, depth: int,
    flt: dict[str, list[str]], mask: np.ndarray | None,
) -> list[tuple[str, float]]:
    """Dense neighbours under the filters. A Chroma ``where`` on a broad filter costs tens of ms (it
    pre-filters through its metadata store), so broad filters are applied here to an over-fetched
    unfiltered result, and only selective ones are sent to Chroma. A workspace small enough to hold in
    process is ranked there (:meth:`WorkspaceIndex.dense`), exactly and with the filters applied."""
    in_process = index.dense(store, cols, vector, depth, mask)
    if in_process is not None:
        return in_process
    if mask is None:
        return store.nearest(cols, vector, depth)
    share = float(mask.mean())
    if share >= OVERFETCH_MIN_SHARE:
        fetch = min(len(index), int(depth / share * 1.5) + 10)
        rows = store.nearest(cols, vector, fetch)
        kept = [(cid, sim) for cid, sim in rows if (row := index.row(cid)) >= 0 and mask[row]]
        if len(kept) >= depth or fetch >= len(index):
            return kept[:depth]
    return store.nearest(cols, vector, depth, where_clause(flt))


def search_knowledge(
    store: KnowledgeStore,
    query: str,
    workspace: str,
    k: int = 5,
    context: ContextArg = None,
    filters: dict[str, Any] | None = None,
    min_score: float | None = None,
) -> list[Hit]:
    """Ranked hits for a message (and its thread); see :func:`retrieve` for the details."""
    return retrieve(store, query, workspace, k=k, context=context, filters=filters, min_score=min_score).hits


def brand_vocabulary(store: KnowledgeStore, workspace: str) -> frozenset[str]:
    """The workspace's own names and most common words (see :attr:`WorkspaceIndex.vocabulary`)."""
    check_workspace(workspace)
    cols = store.open(workspace)
    index = workspace_index(store, workspace, cols.generation) if cols is not None else None
    return index.vocabulary if index is not None else frozenset()


def guidelines_for(store: KnowledgeStore, workspace: str, platform: str | None = None) -> list[Chunk]:
    """Guidelines by metadata: brand-wide ones plus the platform's own (never by similarity)."""
    chosen = store.by_kind(workspace, "guideline")
    if platform is None:
        return chosen
    return [g for g in chosen if not g.platform or g.platform == platform.lower()]
