"""Typed records that flow through ingestion and retrieval."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

Kind = Literal["faq", "guideline", "policy", "review", "other"]
KINDS: tuple[str, ...] = ("faq", "guideline", "policy", "review", "other")
MetaValue = str | int | float | bool | list[str]


def document_id(source: str) -> str:
    """The stable, URL-safe id of a document (all chunks of one source file share it)."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


class Chunk(BaseModel):
    """One retrievable unit: a Q/A pair, a section of prose, or a guideline."""

    id: str
    text: str
    kind: Kind = "other"
    source: str
    doc_id: str = ""
    title: str = ""
    question: str | None = None
    answer: str | None = None
    platform: str | None = None
    locale: str | None = None
    entity: str | None = Field(default=None, description="The named thing the chunk is about (a hotel, a product).")
    tags: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="Safety findings, e.g. 'instruction-like'.")
    attrs: dict[str, Any] = Field(default_factory=dict, description="Extra metadata (front matter, columns).")

    def model_post_init(self, __context: Any) -> None:
        if not self.doc_id:
            self.doc_id = document_id(self.source)

    @property
    def content_hash(self) -> str:
        payload = json.dumps(
            [self.text, self.kind, self.title, self.question, self.answer, self.platform, self.locale,
             self.entity, self.tags, self.flags, self.attrs],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def to_metadata(self, workspace: str, ingested_at: str, model_id: str) -> dict[str, MetaValue]:
        meta: dict[str, MetaValue] = {
            "workspace": workspace,
            "kind": self.kind,
            "source": self.source,
            "doc_id": self.doc_id,
            "title": self.title,
            "content_hash": self.content_hash,
            "ingested_at": ingested_at,
            "embedding_model": model_id,
            "attrs": json.dumps(self.attrs, default=str),
            "instruction_like": "instruction-like" in self.flags,
        }
        optional: dict[str, MetaValue | None] = {
            "question": self.question,
            "answer": self.answer,
            "platform": self.platform,
            "locale": self.locale,
            "entity": self.entity,
            "tags": self.tags or None,  # Chroma rejects empty lists
            "flags": self.flags or None,
        }
        meta.update({k: v for k, v in optional.items() if v is not None})
        return meta

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
        return cls(
            id=chunk_id,
            text=text,
            kind=meta.get("kind", "other"),
            source=str(meta.get("source", "")),
            doc_id=str(meta.get("doc_id", "")),
            title=str(meta.get("title", "")),
            question=meta.get("question"),
            answer=meta.get("answer"),
            platform=meta.get("platform"),
            locale=meta.get("locale"),
            entity=meta.get("entity"),
            tags=list(meta.get("tags") or []),
            flags=list(meta.get("flags") or []),
            attrs=json.loads(meta.get("attrs") or "{}"),
        )


class Hit(BaseModel):
    """A retrieved chunk. Hits come in fused rank order; ``score`` is the dense cosine similarity to the
    message, capped so it never rises down the list (a threshold on it reads as "confident enough")."""

    id: str
    score: float
    kind: str
    source: str
    doc_id: str = ""
    title: str = ""
    text: str
    question: str | None = None
    answer: str | None = None
    platform: str | None = None
    locale: str | None = None
    entity: str | None = None
    tags: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    content_hash: str = ""
    fused: float = Field(default=0.0, description="Reciprocal-rank-fusion score the order comes from.")
    retrievers: list[str] = Field(default_factory=list, description="Which rankings found it (dense, bm25, ...).")
    attrs: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_chunk(cls, chunk: Chunk, score: float, content_hash: str = "") -> Hit:
        return cls(
            score=round(score, 4),
            content_hash=content_hash or chunk.content_hash,
            **chunk.model_dump(include={"id", "kind", "source", "doc_id", "title", "text", "question", "answer",
                                        "platform", "locale", "entity", "tags", "flags", "attrs"}),
        )


class FileReport(BaseModel):
    source: str
    doc_id: str
    chunks: int
    flagged: int = 0


class IngestReport(BaseModel):
    workspace: str = ""
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rekeyed: int = Field(default=0, description="Unchanged chunks moved from an old, path-bearing id (no embedding).")
    files: int = 0
    chunks: int = 0
    flagged: int = Field(default=0, description="Chunks flagged as instruction-like.")
    embedded: int = Field(default=0, description="Texts embedded (changed chunks and their questions).")
    seconds: float = 0.0
    embed_seconds: float = 0.0
    embedding_model: str = ""
    documents: list[FileReport] = Field(default_factory=list)


class DocumentSummary(BaseModel):
    id: str
    source: str
    title: str
    kind: str
    chunks: int
    flagged: int
    ingested_at: str
