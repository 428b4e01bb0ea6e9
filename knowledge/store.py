"""The Chroma-backed knowledge store: one collection per workspace, idempotent upserts, dense search."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings

from knowledge.embeddings import MODEL_ID, LocalMiniLM, embed_texts
from knowledge.errors import EmbeddingModelMismatch, KnowledgeError
from knowledge.models import Chunk, Hit, IngestReport
from replydesk.settings import Settings

_WORKSPACE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_UPSERT_BATCH = 256
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def check_workspace(workspace: str) -> str:
    if not _WORKSPACE.match(workspace):
        raise KnowledgeError(
            f"invalid workspace {workspace!r}: use 1-48 lowercase letters, digits, '-' or '_'"
        )
    return workspace


def _client(settings: Settings) -> Any:
    key = settings.chroma_url or str(settings.chroma_dir.resolve())
    with _clients_lock:
        if key not in _clients:
            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            if settings.chroma_url:
                match = re.match(r"^(https?)://([^:/]+)(?::(\d+))?", settings.chroma_url)
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


class KnowledgeStore:
    """Chunks of one install, isolated per workspace (a collection each)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = _client(settings)

    def _collection(self, workspace: str, create: bool = True) -> Any:
        name = f"kb-{check_workspace(workspace)}"
        if create:
            collection = self.client.get_or_create_collection(
                name=name,
                embedding_function=LocalMiniLM(),
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": MODEL_ID, "workspace": workspace},
            )
        else:
            try:
                collection = self.client.get_collection(name=name, embedding_function=LocalMiniLM())
            except Exception:  # chromadb raises NotFoundError / ValueError depending on client kind
                return None
        recorded = (collection.metadata or {}).get("embedding_model")
        if recorded and recorded != MODEL_ID:
            raise EmbeddingModelMismatch(
                f"workspace {workspace!r} was embedded with {recorded!r} but this install uses {MODEL_ID!r}; "
                "run `replydesk reindex` to rebuild it"
            )
        return collection

    def ingest(
        self, chunks: list[Chunk], workspace: str, prune_sources: list[str] | None = None
    ) -> IngestReport:
        """Upsert chunks; unchanged ones (same id and content hash) are not embedded again."""
        started = time.perf_counter()
        collection = self._collection(workspace)
        report = IngestReport(chunks=len(chunks), files=len({c.source for c in chunks}))
        by_id: dict[str, Chunk] = {}
        for chunk in chunks:
            by_id[chunk.id] = chunk  # a later duplicate id wins, as a re-ingest would
        existing: dict[str, str] = {}
        ids = list(by_id)
        for start in range(0, len(ids), 1000):
            got = collection.get(ids=ids[start : start + 1000], include=["metadatas"])
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                existing[cid] = str((meta or {}).get("content_hash", ""))
        todo = [c for c in by_id.values() if existing.get(c.id) != c.content_hash]
        report.unchanged = len(by_id) - len(todo)
        report.updated = sum(1 for c in todo if c.id in existing)
        report.added = len(todo) - report.updated
        now = datetime.now(UTC).isoformat()
        for start in range(0, len(todo), _UPSERT_BATCH):
            batch = todo[start : start + _UPSERT_BATCH]
            vectors = embed_texts([c.text for c in batch])
            collection.upsert(
                ids=[c.id for c in batch],
                documents=[c.text for c in batch],
                embeddings=list(vectors),
                metadatas=[c.to_metadata(workspace, now, MODEL_ID) for c in batch],
            )
        if prune_sources is not None:
            report.removed = self._prune(collection, prune_sources, set(by_id))
        report.seconds = time.perf_counter() - started
        return report

    def _prune(self, collection: Any, sources: list[str], keep: set[str]) -> int:
        """Remove chunks of the given sources that this ingest did not produce."""
        stale: list[str] = []
        for source in sources:
            got = collection.get(where={"source": source}, include=[])
            stale.extend(cid for cid in got["ids"] if cid not in keep)
        if stale:
            collection.delete(ids=stale)
        return len(stale)

    def sources(self, workspace: str) -> list[str]:
        collection = self._collection(workspace, create=False)
        if collection is None:
            return []
        got = collection.get(include=["metadatas"])
        return sorted({str((m or {}).get("source", "")) for m in got["metadatas"] or []})

    def count(self, workspace: str) -> int:
        collection = self._collection(workspace, create=False)
        return 0 if collection is None else int(collection.count())

    def search(
        self, query: str, workspace: str, k: int = 5, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        collection = self._collection(workspace, create=False)
        if collection is None or not query.strip():
            return []
        vector = embed_texts([query])[0]
        result = collection.query(
            query_embeddings=[vector],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        hits: list[Hit] = []
        for cid, doc, meta, dist in zip(
            result["ids"][0],
            (result["documents"] or [[]])[0],
            (result["metadatas"] or [[]])[0],
            (result["distances"] or [[]])[0],
            strict=False,
        ):
            hits.append(self._hit(cid, doc or "", dict(meta or {}), 1.0 - float(dist)))
        return hits

    def get(self, ids: list[str], workspace: str) -> list[Chunk]:
        collection = self._collection(workspace, create=False)
        if collection is None or not ids:
            return []
        got = collection.get(ids=ids, include=["documents", "metadatas"])
        return [
            Chunk.from_metadata(cid, doc or "", dict(meta or {}))
            for cid, doc, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False)
        ]

    def by_kind(self, workspace: str, kind: str, limit: int = 200) -> list[Chunk]:
        """Chunks selected by metadata, not similarity (guidelines are used whole)."""
        collection = self._collection(workspace, create=False)
        if collection is None:
            return []
        got = collection.get(where={"kind": kind}, limit=limit, include=["documents", "metadatas"])
        return [
            Chunk.from_metadata(cid, doc or "", dict(meta or {}))
            for cid, doc, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False)
        ]

    @staticmethod
    def _hit(cid: str, doc: str, meta: dict[str, Any], score: float) -> Hit:
        chunk = Chunk.from_metadata(cid, doc, meta)
        return Hit(
            id=cid,
            score=round(score, 4),
            kind=chunk.kind,
            source=chunk.source,
            title=chunk.title,
            text=doc,
            question=chunk.question,
            answer=chunk.answer,
            platform=chunk.platform,
            content_hash=str(meta.get("content_hash", "")),
            attrs=chunk.attrs,
        )
