"""Named errors of the knowledge package; the CLI and API translate them once, at the boundary."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base class for knowledge errors."""


class IngestError(KnowledgeError):
    """A document could not be loaded; names the file (and line when known)."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class EmbeddingModelMismatch(KnowledgeError):
    """A collection was built with another embedding model; `replydesk reindex` rebuilds it."""
