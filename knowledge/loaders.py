"""Turn files into chunks: FAQ files one Q/A per chunk, prose one section per heading."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import yaml

from knowledge.errors import IngestError
from knowledge.models import KINDS, Chunk

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".csv", ".jsonl")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_SECTION_CHARS = 1800
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)


def source_name(path: Path) -> str:
    """A stable name for a file: relative to the working directory when under it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def read_text(path: Path, source: str) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise IngestError(source, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise IngestError(source, "looks like a binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IngestError(source, "not valid UTF-8 text", line=line) from exc


def split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise IngestError(source, f"front matter is not valid YAML: {exc}", line=1) from exc
    if not isinstance(data, dict):
        raise IngestError(source, "front matter must be a mapping", line=1)
    return data, text[match.end() :]


def load_file(path: Path, kind: str = "auto") -> list[Chunk]:
    """Load one file into chunks; raises :class:`IngestError` naming the file and line."""
    source = source_name(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(source, f"unsupported file type {suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    if kind != "auto" and kind not in KINDS:
        raise IngestError(source, f"unknown kind {kind!r} (expected one of {', '.join(KINDS)} or auto)")
    text = read_text(path, source)
    if not text.strip():
        raise IngestError(source, "file is empty")
    if suffix == ".csv":
        chunks = load_csv(text, source, kind)
    elif suffix == ".jsonl":
        chunks = load_jsonl(text, source, kind)
    else:
        chunks = load_prose(text, source, kind)
    if not chunks:
        raise IngestError(source, "no content found")
    return chunks


def _faq_chunk(
    source: str, chunk_id: str, question: str, answer: str, kind: str, attrs: dict[str, Any]
) -> Chunk:
    platform = attrs.pop("platform", None)
    return Chunk(
        id=chunk_id,
        text=f"{question}\n{answer}",
        kind=attrs.pop("kind", None) or ("faq" if kind == "auto" else kind),
        source=source,
        doc_id=source,
        title=question,
        question=question,
        answer=answer,
        platform=str(platform) if platform else None,
        attrs=attrs,
    )


def load_csv(text: str, source: str, kind: str) -> list[Chunk]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "question" not in fields or "answer" not in fields:
        raise IngestError(source, "CSV needs a header with 'question' and 'answer' columns", line=1)
    reader.fieldnames = fields
    chunks: list[Chunk] = []
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                raise IngestError(source, "row has more fields than the header", line=line)
            question = (row.get("question") or "").strip()
            answer = (row.get("answer") or "").strip()
            if not question or not answer:
                raise IngestError(source, "row needs both a question and an answer", line=line)
            extra = {k: v for k, v in row.items() if k not in ("id", "question", "answer") and v}
            chunk_id = (row.get("id") or "").strip() or f"{source}#q-{_short_hash(question)}"
            chunks.append(_faq_chunk(source, chunk_id, question, answer, kind, extra))
    except csv.Error as exc:
        raise IngestError(source, f"malformed CSV: {exc}", line=reader.line_num) from exc
    return chunks


def load_jsonl(text: str, source: str, kind: str) -> list[Chunk]:
    chunks: list[Chunk] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(source, f"not valid JSON: {exc.msg}", line=number) from exc
        if not isinstance(record, dict):
            raise IngestError(source, "each line must be a JSON object", line=number)
        meta = record.get("metadata") or {}
        if not isinstance(meta, dict):
            raise IngestError(source, "'metadata' must be an object", line=number)
        rid = str(record.get("id") or "").strip()
        if not rid:
            raise IngestError(source, "missing 'id'", line=number)
        if "question" in record or "answer" in record:
            question, answer = str(record.get("question") or "").strip(), str(record.get("answer") or "").strip()
            if not question or not answer:
                raise IngestError(source, "a FAQ line needs both 'question' and 'answer'", line=number)
            chunks.append(_faq_chunk(source, rid, question, answer, kind, dict(meta)))
        elif str(record.get("text") or "").strip():
            attrs = dict(meta)
            platform = attrs.pop("platform", None)
            chunks.append(
                Chunk(
                    id=rid,
                    text=str(record["text"]).strip(),
                    kind=attrs.pop("kind", None) or ("other" if kind == "auto" else kind),
                    source=source,
                    doc_id=source,
                    title=str(record.get("title") or attrs.pop("title", "") or ""),
                    platform=str(platform) if platform else None,
                    attrs=attrs,
                )
            )
        else:
            raise IngestError(source, "a line needs 'question'+'answer' or 'text'", line=number)
    return chunks


def _sections(body: str) -> list[tuple[list[str], str]]:
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


def _split_long(text: str) -> list[str]:
    if len(text) <= MAX_SECTION_CHARS:
        return [text]
    parts: list[str] = []
    current = ""
    for para in re.split(r"\n\s*\n", text):
        if current and len(current) + len(para) + 2 > MAX_SECTION_CHARS:
            parts.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        parts.append(current)
    return parts


def load_prose(text: str, source: str, kind: str) -> list[Chunk]:
    front, body = split_front_matter(text, source)
    doc_kind = str(front.pop("kind", "") or ("other" if kind == "auto" else kind))
    if kind != "auto":
        doc_kind = kind
    if doc_kind not in KINDS:
        raise IngestError(source, f"front matter kind {doc_kind!r} is not one of {', '.join(KINDS)}", line=1)
    doc_title = str(front.pop("title", "") or Path(source).stem)
    platform = front.pop("platform", None)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    # A guideline is used whole (selected by kind/platform, not by similarity), so it stays one chunk.
    sections = [([], body.strip())] if doc_kind == "guideline" else _sections(body)
    for heading_path, section in sections:
        title = " > ".join(heading_path) if heading_path else doc_title
        for part in _split_long(section) if doc_kind != "guideline" else [section]:
            key = _slug(title)
            seen[key] = seen.get(key, 0) + 1
            suffix = f"-{seen[key]}" if seen[key] > 1 else ""
            heading = f"{heading_path[-1]}\n" if heading_path else ""
            chunks.append(
                Chunk(
                    id=f"{source}#{key}{suffix}",
                    text=f"{heading}{part}".strip(),
                    kind=doc_kind,
                    source=source,
                    doc_id=source,
                    title=title if heading_path else doc_title,
                    platform=str(platform).lower() if platform else None,
                    attrs=dict(front),
                )
            )
    return chunks


def iter_files(paths: list[Path]) -> list[Path]:
    """Expand directories into the supported files below them, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise IngestError(str(path), "no such file or directory")
    return files
