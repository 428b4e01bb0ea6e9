"""What the agent remembers between threads, in a LangGraph Store: approved replies, LLM usage.

SQLite deployments keep the store in ``<data dir>/store.db`` beside the checkpoints; PostgreSQL ones in
the same database (``PostgresStore``). Vector search is ours (cosine over the stored vectors, newest first)
because the Postgres store's vector index needs the pgvector extension, which a plain server lacks, and
one code path is easier to trust than two.

Only replies a CM approved become examples ("reviewed-only"): the record_approved_reply node writes them after the
approval, and the drafter shows them to the model as examples of tone and approach, never as facts, and
lists them in the draft's provenance. Nothing rewrites the prompt behind a CM's back.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import numpy as np
from langgraph.store.base import BaseStore

from ground.settings import Settings
from knowledge.embeddings import embed_cached

log = logging.getLogger("replydesk.agent.memory")
NAMESPACE = "replydesk"
_SCAN_LIMIT = 2000  # newest approved examples searched per workspace


def open_store(settings: Settings) -> tuple[BaseStore, AbstractContextManager[Any] | None]:
    if settings.is_sqlite:
        from langgraph.store.sqlite import SqliteStore

        settings.ensure_dirs()
        conn = sqlite3.connect(
            str(settings.data_dir / "store.db"), check_same_thread=False, isolation_level=None, timeout=30
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync per commit; a killed process loses nothing
        conn.execute("PRAGMA busy_timeout=30000")
        store = SqliteStore(conn)
        store.setup()
        return store, None
    from langgraph.store.postgres import PostgresStore

    manager = PostgresStore.from_conn_string(settings.libpq_url)
    pg_store = manager.__enter__()
    pg_store.setup()
    return pg_store, manager


class ExampleMemory:
    """Approved replies, searchable by the similarity of the message they answered."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store

    @staticmethod
    def _namespace(workspace: str) -> tuple[str, ...]:
        return (NAMESPACE, "examples", workspace)

    def remember(
        self,
        *,
        workspace: str,
        message_id: int,
        platform: str,
        message_text: str,
        reply: str,
        drafted: str,
        citations: list[str],
        actor: str = "",
    ) -> None:
        vector = embed_cached([message_text])[0]
        self.store.put(
            self._namespace(workspace),
            f"message-{message_id}",
            {
                "message_id": message_id,
                "platform": platform,
                "message": message_text,
                "reply": reply,
                "edited": reply.strip() != drafted.strip(),
                "citations": citations,
                "approved_by": actor,
                "approved_at": datetime.now(UTC).isoformat(),
                "vector": [round(float(v), 5) for v in vector],
            },
        )

    def similar(
        self, workspace: str, text: str, *, k: int = 2, min_similarity: float = 0.6, exclude: str | None = None
    ) -> list[dict[str, Any]]:
        items = self.store.search(self._namespace(workspace), limit=_SCAN_LIMIT)
        items = [i for i in items if i.key != exclude and isinstance(i.value.get("vector"), list)]
        if not items:
            return []
        query = embed_cached([text])[0]
        matrix = np.array([i.value["vector"] for i in items], dtype=np.float32)
        scores = matrix @ query
        # Edited approvals teach the most (a CM corrected the draft): small tie-break in their favour.
        boosted = scores + np.array([0.02 if i.value.get("edited") else 0.0 for i in items])
        order = np.argsort(-boosted)[:k]
        return [
            {k_: v for k_, v in items[i].value.items() if k_ != "vector"} | {"id": items[i].key,
                                                                          "similarity": round(float(scores[i]), 4)}
            for i in order
            if scores[i] >= min_similarity
        ]
