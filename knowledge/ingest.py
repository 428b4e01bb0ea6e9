"""Ingest files into a workspace: parse everything first, so one bad file changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from knowledge.loaders import iter_sources, load_file
from knowledge.models import Chunk, IngestReport
from knowledge.store import KnowledgeStore, Progress


def ingest_paths(
    store: KnowledgeStore,
    paths: list[Path],
    workspace: str,
    kind: str = "auto",
    prune: bool = False,
    on_file: Callable[[Path], None] | None = None,
    on_embed: Progress | None = None,
) -> IngestReport:
    """Load every file (any error aborts before a write), then upsert; ``prune`` removes chunks of
    the given files, and of vanished files under the given directories, that this run did not produce."""
    files = iter_sources(paths)
    chunks: list[Chunk] = []
    for path, source in files:
        chunks.extend(load_file(path, kind, source=source))
        if on_file:
            on_file(path)
    prune_sources: list[str] | None = None
    if prune:
        loaded = {c.source for c in chunks}
        dirs = [p.resolve().name + "/" for p in paths if p.is_dir()]
        vanished = [s for s in store.sources(workspace) if any(s.startswith(d) for d in dirs)]
        prune_sources = sorted(loaded | set(vanished))
    return store.ingest(chunks, workspace, prune_sources=prune_sources, progress=on_embed)


def ingest_upload(
    store: KnowledgeStore, path: Path, source: str, workspace: str, kind: str = "auto"
) -> IngestReport:
    """One uploaded document under its own source name; a re-upload replaces the previous version."""
    chunks = load_file(path, kind, source=source)
    return store.ingest(chunks, workspace, prune_sources=[source])
