"""Retrieval entry point used by the CLI, the API and the agent."""

from __future__ import annotations

from typing import Any

from knowledge.errors import KnowledgeError
from knowledge.models import Hit
from knowledge.store import KnowledgeStore

FILTER_FIELDS = ("kind", "platform", "source", "doc_id")


def where_clause(filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """Translate ``{"kind": "faq", "platform": ["x", "reddit"]}`` into a Chroma ``where``."""
    if not filters:
        return None
    clauses: list[dict[str, Any]] = []
    for field, value in filters.items():
        if field not in FILTER_FIELDS:
            raise KnowledgeError(f"unknown filter {field!r}; filter on {', '.join(FILTER_FIELDS)}")
        if isinstance(value, list):
            if not value or not all(isinstance(v, str) for v in value):
                raise KnowledgeError(f"filter {field!r} needs a string or a non-empty list of strings")
            clauses.append({field: {"$in": value}})
        elif isinstance(value, str):
            clauses.append({field: {"$eq": value}})
        else:
            raise KnowledgeError(f"filter {field!r} needs a string or a list of strings")
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def search_knowledge(
    store: KnowledgeStore,
    query: str,
    workspace: str,
    k: int = 5,
    context: str | None = None,
    filters: dict[str, Any] | None = None,
) -> list[Hit]:
    """Dense search on the message; with thread context, also on context + message, best score wins."""
    where = where_clause(filters)
    hits = {h.id: h for h in store.search(query, workspace, k=k, where=where)}
    if context and context.strip():
        for hit in store.search(f"{context.strip()}\n{query}", workspace, k=k, where=where):
            if hit.id not in hits or hit.score > hits[hit.id].score:
                hits[hit.id] = hit
    return sorted(hits.values(), key=lambda h: h.score, reverse=True)[:k]
