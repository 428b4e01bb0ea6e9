"""The Chroma-backed knowledge store: collections per workspace, idempotent upserts, dense search.

Each workspace has two collections: ``kb-{workspace}`` (one record per chunk, embedded as written) and
``kbq-{workspace}`` (FAQ chunks embedded by their question alone — a user's question matches another
phrasing of the same question better than it matches question + answer). Both carry the same metadata,
so filters apply to both. The main collection's metadata records the embedding model (it cannot change
silently) and a generation stamp that every write renews, so in-process indexes built from it (BM25,
entity names) know when they are stale, even when another process wrote.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from ground.names import WORKSPACE_RULE, is_workspace_name
from ground.settings import Settings
from knowledge.embeddings import MODEL_ID, LocalMiniLM, embed_texts
from knowledge.errors import EmbeddingModelMismatch, KnowledgeError
from knowledge.models import Chunk, DocumentSummary, FileReport, IngestReport

_UPSERT_BATCH = 512
_PAGE = 5000
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
Progress = Callable[[int, int], None]


def check_workspace(workspace: str) -> str:
    if not is_workspace_name(workspace):
        raise KnowledgeError(f"invalid workspace {workspace!r}: use {WORKSPACE_RULE}")
    return workspace


def _client(settings: Settings) -> Any:
    key = settings.chroma_url or str(settings.chroma_dir.resolve())
    with _clients_lock:
        if key not in _clients:
            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            if settings.chroma_url:
                match = re.match(r"^(https?)://([^:/]+)(?::(\d+))?/?$", settings.chroma_url)
                if not match:
                    raise KnowledgeError(f"invalid REPLYDESK_CHROMA_URL {settings.chroma_url!r}")
                scheme, host, port = match.groups()
                _clients[key] = chromadb.HttpClient(
                    host=host, port=int(port or 8000), ssl=scheme == "https", settings=chroma_settings
                )
            else:
                settings.chroma_dir.mkdir(parents=True, exist_ok=True)
                _clients[key] = chromadb.PersistentClient(path=key, settings=chroma_settings)
        return _clients[key]


@dataclass
class Collections:
    """A workspace's collections as opened for one search, with the generation stamp read then."""

    main: Any
    questions: Any
    generation: str


# What a workspace's opening can reuse: the question collection's handle, kept per store location and
# workspace beside the main collection's id it was opened with (a reindex makes new collections, hence a
# new id, and the entry is replaced rather than added to); and chunks read by
# metadata under a generation stamp (guidelines, read for triage and again for drafting). The main
# collection itself is asked for again on an opening outside a pinned unit of work (KnowledgeStore.pinned)
# whenever the store's database may have changed (_opened): its metadata carries the generation and the
# embedding model, and a change by another process (ingest, reindex) must be seen by the next search.
_questions_of: dict[tuple[str, str], tuple[str, Any]] = {}
# Collection handles of an embedded store, kept with the stamp its database had when each was asked for:
# while that is unchanged (no write by this process or any other) the handle and the metadata it
# carries (generation, embedding model) are current, and the next unit of work reuses it instead of asking
# Chroma again (~1 ms per draft, holding the interpreter lock that every drafting lane needs).
_opened: dict[tuple[str, str], tuple[tuple[int, ...], Any]] = {}
_by_kind: dict[tuple[str, str, str, str, int], list[tuple[Chunk, dict[str, Any]]]] = {}
_BY_KIND_ENTRIES = 256


# Collections read during one unit of work (a draft: triage, retrieval, guidelines, checks), by store
# location and name; see KnowledgeStore.pinned. Unset outside such a unit (see _opened).
_pinned: ContextVar[dict[tuple[str, str], Any] | None] = ContextVar("replydesk_pinned_collections", default=None)


def _rows(got: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    docs = got.get("documents") or [None] * len(got["ids"])
    metas = got.get("metadatas") or [None] * len(got["ids"])
    for cid, doc, meta in zip(got["ids"], docs, metas, strict=False):
        yield cid, doc or "", dict(meta or {})


class KnowledgeStore:
    """Chunks of one install, isolated per workspace (collections of their own)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = _client(settings)
        self.key = settings.chroma_url or str(settings.chroma_dir.resolve())

    # -- collections -----------------------------------------------------------------------------
    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Within this block each collection is asked of Chroma once, and its metadata (the generation
        stamp) read then holds: one draft sees one version of the knowledge, and its five-odd reads cost
        one ``get_collection`` (each is a round trip through Chroma's bindings, ~1 ms) instead of five.
        A write through this process drops the pins; another process's write is seen by the next unit."""
        token = _pinned.set({})
        try:
            yield
        finally:
            _pinned.reset(token)

    def _open(self, name: str, create: bool, workspace: str) -> Any:
        pins = _pinned.get()
        if create:
            if pins:
                pins.clear()  # a write renews the generation: later reads must see it
            return self.client.get_or_create_collection(
                name=name, embedding_function=LocalMiniLM(), configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": MODEL_ID, "workspace": workspace, "generation": uuid.uuid4().hex},
            )
        if pins is not None and (self.key, name) in pins:
            return pins[(self.key, name)]
        stamp = self._files_stamp()  # before asking: a write in between shows as a changed stamp next time
        held = _opened.get((self.key, name))
        if stamp is not None and held is not None and held[0] == stamp:
            collection = held[1]
        else:
            try:
                collection = self.client.get_collection(name=name, embedding_function=LocalMiniLM())
            except NotFoundError:
                collection = None
            if stamp is not None:
                _opened[(self.key, name)] = (stamp, collection)
        if pins is not None:
            pins[(self.key, name)] = collection
        return collection

    def _files_stamp(self) -> tuple[int, ...] | None:
        """The embedded store's database as it stands: SQLite's file change counter (header bytes 24-27, which
        every commit in rollback-journal mode increments, as Chroma's database runs) and the size and mtime of a
        write-ahead log if there is one; None for a Chroma server. Modification times alone would not do: the
        kernel stamps them from a coarse clock, so two writes a few ms apart can leave the same time."""
        if self.settings.chroma_url:
            return None
        try:
            fd = os.open(os.path.join(self.key, "chroma.sqlite3"), os.O_RDONLY)
        except FileNotFoundError:
            return (0,)
        try:
            counter = int.from_bytes(os.pread(fd, 4, 24), "big")
        finally:
            os.close(fd)
        try:
            wal = os.stat(os.path.join(self.key, "chroma.sqlite3-wal"))
        except FileNotFoundError:
            return (counter,)
        return (counter, wal.st_size, wal.st_mtime_ns)

    def _collection(self, workspace: str, create: bool = True, check_model: bool = True) -> Any:
        collection = self._open(f"kb-{check_workspace(workspace)}", create, workspace)
        if collection is not None and check_model:
            recorded = (collection.metadata or {}).get("embedding_model")
            if recorded and recorded != MODEL_ID:
                raise EmbeddingModelMismatch(
                    f"workspace {workspace!r} was embedded with {recorded!r} but this install uses {MODEL_ID!r}; "
                    f"run `replydesk reindex --workspace {workspace}` to rebuild it"
                )
        return collection

    def _questions(self, workspace: str, create: bool = True) -> Any:
        return self._open(f"kbq-{check_workspace(workspace)}", create, workspace)

    def _touch(self, collection: Any) -> None:
        """Renew the generation stamp (``modify`` replaces the whole metadata, so copy it)."""
        if pins := _pinned.get():
            pins.clear()
        collection.modify(metadata={**(collection.metadata or {}), "generation": uuid.uuid4().hex})

    def generation(self, workspace: str) -> str | None:
        collection = self._collection(workspace, create=False)
        return None if collection is None else str((collection.metadata or {}).get("generation", ""))

    def workspaces(self) -> list[str]:
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(n[3:] for n in names if n.startswith("kb-"))

    # -- writes ----------------------------------------------------------------------------------
    def ingest(
        self, chunks: list[Chunk], workspace: str, prune_sources: list[str] | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Upsert chunks; unchanged ones (same id and content hash) are not embedded again."""
        started = time.perf_counter()
        collection = self._collection(workspace)
        questions = self._questions(workspace)
        by_id: dict[str, Chunk] = {chunk.id: chunk for chunk in chunks}  # a later duplicate id wins
        existing: dict[str, str] = {}
        stored: dict[str, dict[str, Any]] = {}
        ids = list(by_id)
        for start in range(0, len(ids), _PAGE):
            for cid, _doc, meta in _rows(collection.get(ids=ids[start : start + _PAGE], include=["metadatas"])):
                existing[cid] = str(meta.get("content_hash", ""))
                stored[cid] = meta
        rekeyed = self._rekey(collection, questions, [c for c in by_id.values() if c.id not in existing],
                              set(by_id), workspace)
        # Same id and content, but stored under an old, path-bearing source name: new metadata only.
        renamed = [c for c in by_id.values() if c.id in stored and existing[c.id] == c.content_hash
                   and stored[c.id].get("source") != c.source]
        if renamed:
            metas = [c.to_metadata(workspace, str(stored[c.id].get("ingested_at", "")), MODEL_ID) for c in renamed]
            collection.update(ids=[c.id for c in renamed], metadatas=metas)
            faqs = [(c.id, m) for c, m in zip(renamed, metas, strict=True) if c.question]
            if faqs:
                questions.update(ids=[i for i, _m in faqs], metadatas=[m for _i, m in faqs])
            rekeyed |= {c.id: c.content_hash for c in renamed}
        existing |= rekeyed
        todo = [c for c in by_id.values() if existing.get(c.id) != c.content_hash]
        report = IngestReport(
            workspace=workspace, chunks=len(by_id), unchanged=len(by_id) - len(todo),
            updated=sum(1 for c in todo if c.id in existing and c.id not in rekeyed), embedding_model=MODEL_ID,
            rekeyed=len(rekeyed),
        )
        report.added = len(todo) - report.updated
        self._write(collection, questions, todo, workspace, report, progress)
        if prune_sources is not None:
            report.removed = self._prune(collection, questions, prune_sources, set(by_id))
        if todo or report.removed or rekeyed:
            self._touch(collection)
        per_source: dict[str, FileReport] = {}
        for chunk in by_id.values():
            entry = per_source.setdefault(chunk.source, FileReport(source=chunk.source, doc_id=chunk.doc_id, chunks=0))
            entry.chunks += 1
            entry.flagged += "instruction-like" in chunk.flags
        report.documents = list(per_source.values())
        report.files = len(per_source)
        report.flagged = sum(d.flagged for d in report.documents)
        report.seconds = time.perf_counter() - started
        return report

    def _rekey(
        self, collection: Any, questions: Any, missing: list[Chunk], keep: set[str], workspace: str
    ) -> dict[str, str]:
        """Move stored chunks whose id embeds an old, machine-specific path to their new id, vectors and all.

        Knowledge ids once started with the file's path as seen from the ingesting machine
        (``/home/ci/checkout/samples/knowledge/faq.md#…`` or ``samples/knowledge/faq.md#…``). A stored
        chunk with the same content whose id ends with ``/`` + the new id is that chunk under its old
        name: it is copied under the new id (text, metadata and both embeddings; nothing is embedded
        again) and the old id is deleted. Returns {new id: content hash} of the chunks moved.
        """
        wanted: dict[str, list[Chunk]] = {}
        for chunk in missing:
            wanted.setdefault(chunk.content_hash, []).append(chunk)
        if not wanted:
            return {}
        moves: dict[str, Chunk] = {}  # old id → chunk under its new id
        taken: set[str] = set()
        hashes = list(wanted)
        for start in range(0, len(hashes), 100):
            got = collection.get(where={"content_hash": {"$in": hashes[start : start + 100]}}, include=["metadatas"])
            for old_id, _doc, meta in _rows(got):
                if old_id in keep:
                    continue
                for chunk in wanted.get(str(meta.get("content_hash", "")), []):
                    if old_id.endswith("/" + chunk.id) and chunk.id not in taken:
                        moves[old_id] = chunk
                        taken.add(chunk.id)
                        break
        if not moves:
            return {}
        old_ids = list(moves)
        for start in range(0, len(old_ids), _UPSERT_BATCH):
            batch = old_ids[start : start + _UPSERT_BATCH]
            got = collection.get(ids=batch, include=["embeddings", "documents", "metadatas"])
            rows = list(zip(got["ids"], got["embeddings"], got["documents"], got["metadatas"], strict=True))
            metas = {cid: moves[cid].to_metadata(workspace, str((meta or {}).get("ingested_at", "")), MODEL_ID)
                     for cid, _v, _d, meta in rows}
            collection.upsert(ids=[moves[cid].id for cid, *_ in rows], embeddings=[v for _c, v, _d, _m in rows],
                              documents=[d or "" for _c, _v, d, _m in rows], metadatas=[metas[cid] for cid, *_ in rows])
            q = questions.get(ids=batch, include=["embeddings"])
            if q["ids"]:
                questions.upsert(ids=[moves[cid].id for cid in q["ids"]], embeddings=list(q["embeddings"]),
                                 metadatas=[metas[cid] for cid in q["ids"]])
            self._delete_ids(collection, questions, [cid for cid, *_ in rows])
        return {chunk.id: chunk.content_hash for chunk in moves.values()}

    def _write(
        self, collection: Any, questions: Any, todo: list[Chunk], workspace: str, report: IngestReport,
        progress: Progress | None,
    ) -> None:
        now = datetime.now(UTC).isoformat()
        todo = sorted(todo, key=lambda c: len(c.text))  # similar lengths per batch: little padding to embed
        batches = [todo[start : start + _UPSERT_BATCH] for start in range(0, len(todo), _UPSERT_BATCH)]
        if progress:
            progress(0, len(todo))

        def embed(batch: list[Chunk]) -> tuple[Any, float]:
            t0 = time.perf_counter()
            vectors = embed_texts([c.text for c in batch] + [str(c.question) for c in batch if c.question])
            return vectors, time.perf_counter() - t0

        # The next batch is embedded while this one is written: the model's cores do not wait on Chroma.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-embed") as ahead:
            pending = ahead.submit(embed, batches[0]) if batches else None
            done = 0
            for i, batch in enumerate(batches):
                assert pending is not None
                vectors, seconds = pending.result()
                pending = ahead.submit(embed, batches[i + 1]) if i + 1 < len(batches) else None
                report.embed_seconds += seconds
                report.embedded += len(vectors)
                self._upsert(collection, questions, batch, vectors, workspace, now)
                done += len(batch)
                if progress:
                    progress(done, len(todo))

    @staticmethod
    def _upsert(collection: Any, questions: Any, batch: list[Chunk], vectors: Any, workspace: str, now: str) -> None:
        faqs = [c for c in batch if c.question]
        metas = {c.id: c.to_metadata(workspace, now, MODEL_ID) for c in batch}
        collection.upsert(ids=[c.id for c in batch], documents=[c.text for c in batch],
                          embeddings=list(vectors[: len(batch)]), metadatas=[metas[c.id] for c in batch])
        if faqs:
            questions.upsert(ids=[c.id for c in faqs], embeddings=list(vectors[len(batch) :]),
                             metadatas=[metas[c.id] for c in faqs])
        stale = [c.id for c in batch if not c.question]  # a FAQ rewritten as prose loses its question view
        if stale and questions.count():
            questions.delete(ids=stale)

    def _prune(self, collection: Any, questions: Any, sources: list[str], keep: set[str]) -> int:
        """Remove chunks of the given sources that this ingest did not produce."""
        stale: list[str] = []
        for start in range(0, len(sources), 100):
            got = collection.get(where={"source": {"$in": sources[start : start + 100]}}, include=[])
            stale.extend(cid for cid in got["ids"] if cid not in keep)
        self._delete_ids(collection, questions, stale)
        return len(stale)

    @staticmethod
    def _delete_ids(collection: Any, questions: Any, ids: list[str]) -> None:
        for start in range(0, len(ids), _PAGE):
            collection.delete(ids=ids[start : start + _PAGE])
            if questions is not None:
                questions.delete(ids=ids[start : start + _PAGE])

    def delete_document(self, workspace: str, doc_id: str) -> int:
        collection = self._collection(workspace, create=False)
        if collection is None:
            return 0
        ids = collection.get(where={"doc_id": doc_id}, include=[])["ids"]
        if ids:
            self._delete_ids(collection, self._questions(workspace, create=False), ids)
            self._touch(collection)
        return len(ids)

    # -- reads -----------------------------------------------------------------------------------
    def records(self, workspace: str, include_text: bool = True) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every chunk of a workspace (id, text, metadata), paged."""
        collection = self._collection(workspace, create=False)
        if collection is None:
            return
        include = ["documents", "metadatas"] if include_text else ["metadatas"]
        offset = 0
        while True:
            got = collection.get(include=include, limit=_PAGE, offset=offset)
            if not got["ids"]:
                return
            yield from _rows(got)
            offset += len(got["ids"])

    def documents(self, workspace: str) -> list[DocumentSummary]:
        docs: dict[str, DocumentSummary] = {}
        for _cid, _text, meta in self.records(workspace, include_text=False):
            doc_id = str(meta.get("doc_id", ""))
            summary = docs.get(doc_id)
            if summary is None:
                summary = docs[doc_id] = DocumentSummary(
                    id=doc_id, source=str(meta.get("source", "")), title=str(meta.get("title", "")),
                    kind=str(meta.get("kind", "other")), chunks=0, flagged=0, ingested_at=str(meta.get("ingested_at")),
                )
            summary.chunks += 1
            summary.flagged += bool(meta.get("instruction_like"))
            summary.ingested_at = max(summary.ingested_at, str(meta.get("ingested_at", "")))
        return sorted(docs.values(), key=lambda d: d.source)

    def sources(self, workspace: str) -> list[str]:
        return sorted({str(m.get("source", "")) for _c, _t, m in self.records(workspace, include_text=False)})

    def count(self, workspace: str) -> int:
        collection = self._collection(workspace, create=False)
        return 0 if collection is None else int(collection.count())

    def open(self, workspace: str) -> Collections | None:
        """Both collections of a workspace, opened once for a search; None if it has no knowledge."""
        main = self._collection(workspace, create=False)
        if main is None:
            return None
        place, main_id = (self.key, workspace), str(main.id)
        known = _questions_of.get(place)
        questions = known[1] if known is not None and known[0] == main_id else None
        if questions is None:
            questions = self._questions(workspace, create=False)
            if questions is not None:
                _questions_of[place] = (main_id, questions)
        return Collections(main, questions, str((main.metadata or {}).get("generation", "")))

    @staticmethod
    def nearest(cols: Collections, vector: Any, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """Nearest chunk ids by cosine over both views (chunk text, FAQ question); best view wins."""
        best: dict[str, float] = {}
        for target in (cols.main, cols.questions):
            if target is None or k <= 0:
                continue
            got = target.query(query_embeddings=[vector], n_results=k, where=where, include=["distances"])
            for cid, dist in zip(got["ids"][0], (got["distances"] or [[]])[0], strict=False):
                best[cid] = max(best.get(cid, -2.0), 1.0 - float(dist))
        return sorted(best.items(), key=lambda item: -item[1])[:k]

    @staticmethod
    def fetch(cols: Collections, ids: list[str], vectors: bool = False) -> dict[str, tuple[Chunk, str, Any]]:
        """Chunks by id: (chunk, content hash, text embedding or None)."""
        if not ids:
            return {}
        include = ["documents", "metadatas", "embeddings"] if vectors else ["documents", "metadatas"]
        got = cols.main.get(ids=ids, include=include)
        embeddings = got.get("embeddings") if vectors else None
        out: dict[str, tuple[Chunk, str, Any]] = {}
        for i, (cid, doc, meta) in enumerate(_rows(got)):
            vector = embeddings[i] if embeddings is not None else None
            out[cid] = (Chunk.from_metadata(cid, doc, meta), str(meta.get("content_hash", "")), vector)
        return out

    @staticmethod
    def vectors(cols: Collections, ids: list[str]) -> tuple[list[str], Any, dict[str, Any]]:
        """Embeddings of the given chunks: (ids found, text vectors, question vectors by id)."""
        import numpy as np

        got = cols.main.get(ids=ids, include=["embeddings"])
        found = list(got["ids"])
        matrix = np.array(got["embeddings"], dtype=np.float32).reshape(len(found), -1) if found else np.zeros((0, 0))
        questions: dict[str, Any] = {}
        if cols.questions is not None and found:
            q = cols.questions.get(ids=found, include=["embeddings"])
            questions = {cid: np.asarray(vec, dtype=np.float32) for cid, vec in zip(q["ids"], q["embeddings"],
                                                                                     strict=False)}
        return found, matrix, questions

    def get(self, ids: list[str], workspace: str) -> list[Chunk]:
        collection = self._collection(workspace, create=False)
        if collection is None or not ids:
            return []
        return [Chunk.from_metadata(c, d, m) for c, d, m in _rows(collection.get(ids=ids, include=["documents",
                                                                                                     "metadatas"]))]

    def by_kind(self, workspace: str, kind: str, limit: int = 200) -> list[Chunk]:
        """Chunks selected by metadata, not similarity (guidelines are used whole); read once per
        generation of the workspace's knowledge."""
        collection = self._collection(workspace, create=False)
        if collection is None:
            return []
        return [chunk.model_copy() for chunk, _record in self._by_kind(collection, kind, limit)]

    def by_kind_records(self, workspace: str, kind: str, limit: int = 200) -> list[dict[str, Any]]:
        """:meth:`by_kind` as plain records with their content hash (what a draft's state carries),
        built once per generation rather than dumped and hashed again for every message."""
        collection = self._collection(workspace, create=False)
        if collection is None:
            return []
        return [dict(record) for _chunk, record in self._by_kind(collection, kind, limit)]

    def _by_kind(self, collection: Any, kind: str, limit: int) -> list[tuple[Chunk, dict[str, Any]]]:
        generation = str((collection.metadata or {}).get("generation", ""))
        key = (self.key, str(collection.id), generation, kind, limit)
        cached = _by_kind.get(key)
        if cached is None:
            got = collection.get(where={"kind": kind}, limit=limit, include=["documents", "metadatas"])
            chunks = [Chunk.from_metadata(c, d, m) for c, d, m in _rows(got)]
            cached = [(chunk, chunk.model_dump() | {"content_hash": chunk.content_hash}) for chunk in chunks]
            if len(_by_kind) >= _BY_KIND_ENTRIES:
                _by_kind.clear()
            _by_kind[key] = cached
        return cached
