"""Chunking: one Q/A per chunk (long answers split with the question repeated), prose by heading.

The embedding model reads 256 word pieces (about 1,100 characters of English); a longer chunk is
embedded by its head only, so chunks stay under ``MAX_CHUNK_CHARS``.
"""

from __future__ import annotations

import re
from typing import Any

from ground.text import sentences
from knowledge.models import Chunk

MAX_CHUNK_CHARS = 1100
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_PARAGRAPH = re.compile(r"\n\s*\n")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"


def split_text(text: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split at paragraph, then sentence, then hard boundaries so every part fits ``limit``."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    for para in _PARAGRAPH.split(text):
        if len(para) <= limit:
            pieces.append(para.strip())
            continue
        for sentence in sentences(para):
            pieces.extend(sentence[i : i + limit] for i in range(0, len(sentence), limit))
    parts: list[str] = []
    current = ""
    for piece in (p for p in pieces if p):
        glue = "\n\n" if "\n" in piece or len(piece) > 200 else " "
        if current and len(current) + len(glue) + len(piece) > limit:
            parts.append(current)
            current = ""
        current = f"{current}{glue}{piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def faq_chunks(
    source: str, chunk_id: str, question: str, answer: str, kind: str, fields: dict[str, Any]
) -> list[Chunk]:
    """A Q/A pair as one chunk; a long answer becomes several, each starting with the question."""
    budget = max(MAX_CHUNK_CHARS - len(question) - 1, 300)
    parts = split_text(answer, budget) or [answer]
    chunks = []
    for number, part in enumerate(parts, start=1):
        chunks.append(
            Chunk(
                id=chunk_id if len(parts) == 1 else f"{chunk_id}#part-{number}",
                text=f"{question}\n{part}",
                kind=kind,
                source=source,
                title=question,
                question=question,
                answer=part,
                **fields,
            )
        )
    return chunks


def markdown_sections(body: str) -> list[tuple[list[str], str]]:
    """Split Markdown into (heading path, section text) pairs."""
    sections: list[tuple[list[str], str]] = []
    path: list[str] = []
    lines: list[str] = []
    for line in body.splitlines():
        match = _HEADING.match(line)
        if match:
            if "\n".join(lines).strip():
                sections.append((list(path), "\n".join(lines).strip()))
            level = len(match.group(1))
            path = [*path[: level - 1], match.group(2).strip()]
            lines = []
        else:
            lines.append(line)
    if "\n".join(lines).strip():
        sections.append((list(path), "\n".join(lines).strip()))
    return sections


def prose_chunks(
    source: str, body: str, kind: str, doc_title: str, fields: dict[str, Any], whole: bool = False
) -> list[Chunk]:
    """Heading-aware chunks: each section (split if long) starts with its heading for context.

    ``whole`` keeps the document as one chunk (guidelines are used whole, selected by metadata).
    """
    sections = [([], body.strip())] if whole else markdown_sections(body)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for heading_path, section in sections:
        title = " > ".join(heading_path) if heading_path else doc_title
        for part in [section] if whole else split_text(section):
            key = slug(title)
            seen[key] = seen.get(key, 0) + 1
            suffix = f"-{seen[key]}" if seen[key] > 1 else ""
            heading = f"{heading_path[-1]}\n" if heading_path else ""
            chunks.append(
                Chunk(
                    id=f"{source}#{key}{suffix}",
                    text=f"{heading}{part}".strip(),
                    kind=kind,
                    source=source,
                    title=title,
                    **fields,
                )
            )
    return chunks
