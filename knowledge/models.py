"""Typed records that flow through ingestion and retrieval."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

Kind = Literal["faq", "guideline", "policy", "review", "other"]
KINDS: tuple[str, ...] = ("faq", "guideline", "policy", "review", "other")


class Chunk(BaseModel):
    """One retrievable unit: a Q/A pair, a section of prose, or a guideline."""

    id: str
    text: str
    kind: Kind = "other"
    source: str
    doc_id: str
    title: str = ""
    question: str | None = None
    answer: str | None = None
    platform: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict, description="Extra metadata (front matter, tags).")

    @property
    def content_hash(self) -> str:
        payload = json.dumps(
            [self.text, self.kind, self.title, self.question, self.answer, self.platform, self.attrs],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def to_metadata(self, workspace: str, ingested_at: str, model_id: str) -> dict[str, str | int | float | bool]:
        meta: dict[str, str | int | float | bool] = {
            "workspace": workspace,
            "kind": self.kind,
            "source": self.source,
            "doc_id": self.doc_id,
            "title": self.title,
            "content_hash": self.content_hash,
            "ingested_at": ingested_at,
            "embedding_model": model_id,
            "attrs": json.dumps(self.attrs, default=str),
        }
        if self.question is not None:
            meta["question"] = self.question
        if self.answer is not None:
            meta["answer"] = self.answer
        if self.platform:
            meta["platform"] = self.platform
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
            attrs=json.loads(meta.get("attrs") or "{}"),
        )


class Hit(BaseModel):
    """A retrieved chunk with its score (cosine similarity, higher is better)."""

    id: str
    score: float
    kind: str
    source: str
    title: str = ""
    text: str
    question: str | None = None
    answer: str | None = None
    platform: str | None = None
    content_hash: str = ""
    attrs: dict[str, Any] = Field(default_factory=dict)


class IngestReport(BaseModel):
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    files: int = 0
    chunks: int = 0
    seconds: float = 0.0
