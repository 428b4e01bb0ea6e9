"""``replydesk reindex``: rebuild a workspace's vectors with this install's embedding model.

A collection records the model its vectors came from; searching it with another model would return
nonsense, so the store refuses (EmbeddingModelMismatch) until it is rebuilt here. The chunk texts and
metadata are kept in Chroma, so no source file is needed. The new vectors go into fresh collections
that replace the old ones only once complete: an interrupted reindex leaves the old knowledge intact.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from knowledge.embeddings import MODEL_ID, LocalMiniLM, embed_texts
from knowledge.errors import KnowledgeError
from knowledge.models import Chunk
from knowledge.store import KnowledgeStore, Progress, check_workspace

_BATCH = 256


def _fresh(client: Any, name: str, workspace: str) -> Any:
    with contextlib.suppress(Exception):  # absent is fine (NotFoundError or ValueError by client kind)
        client.delete_collection(name)
    return client.create_collection(
        name=name, embedding_function=LocalMiniLM(), configuration={"hnsw": {"space": "cosine"}},
        metadata={"embedding_model": MODEL_ID, "workspace": workspace, "generation": uuid.uuid4().hex},
    )


def reindex(store: KnowledgeStore, workspace: str, progress: Progress | None = None) -> int:
    """Re-embed every chunk of a workspace; returns the number of chunks."""
    check_workspace(workspace)
    old = store._collection(workspace, create=False, check_model=False)
    if old is None:
        raise KnowledgeError(f"workspace {workspace!r} has no knowledge to reindex")
    rows: list[tuple[str, str, dict[str, Any]]] = []
    offset = 0
    while True:
        got = old.get(include=["documents", "metadatas"], limit=5000, offset=offset)
        if not got["ids"]:
            break
        rows.extend(zip(got["ids"], [d or "" for d in got["documents"]], [dict(m or {}) for m in got["metadatas"]],
                        strict=True))
        offset += len(got["ids"])
    client = store.client
    main_tmp = _fresh(client, f"kbtmp-{workspace}", workspace)
    questions_tmp = _fresh(client, f"kbqtmp-{workspace}", workspace)
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        chunks = [Chunk.from_metadata(cid, text, meta) for cid, text, meta in batch]
        faqs = [c for c in chunks if c.question]
        vectors = embed_texts([c.text for c in chunks] + [str(c.question) for c in faqs])
        metas = {c.id: c.to_metadata(workspace, str(m.get("ingested_at", "")), MODEL_ID)
                 for c, (_i, _t, m) in zip(chunks, batch, strict=True)}
        main_tmp.upsert(ids=[c.id for c in chunks], documents=[c.text for c in chunks],
                        embeddings=list(vectors[: len(chunks)]), metadatas=[metas[c.id] for c in chunks])
        if faqs:
            questions_tmp.upsert(ids=[c.id for c in faqs], embeddings=list(vectors[len(chunks) :]),
                                 metadatas=[metas[c.id] for c in faqs])
        if progress:
            progress(start + len(batch), len(rows))
    for name in (f"kb-{workspace}", f"kbq-{workspace}"):
        with contextlib.suppress(Exception):  # the question collection may not exist
            client.delete_collection(name)
    main_tmp.modify(name=f"kb-{workspace}")
    questions_tmp.modify(name=f"kbq-{workspace}")
    return len(rows)
