"""Turn files into chunks; every problem is an :class:`IngestError` naming the file (and line).

Formats: Markdown/text (YAML front matter), HTML, PDF, CSV and JSONL FAQs, JSON knowledge exports.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import yaml

from knowledge.chunking import faq_chunks, prose_chunks
from knowledge.errors import IngestError
from knowledge.models import KINDS, Chunk
from knowledge.sanitize import HIDDEN_TEXT, INSTRUCTION_LIKE, check_not_binary, instruction_like, strip_invisible

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".csv", ".jsonl", ".json")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_CHUNKS_PER_FILE = 50_000
MAX_ATTR_CHARS = 500
_FIELD_ALIASES = {"lang": "locale", "language": "locale", "topic": "entity"}


def source_name(path: Path, root: Path | None = None) -> str:
    """A name for a file that does not depend on where the checkout lives (it becomes part of knowledge ids).

    Under a directory given to ingest (``root``), the path relative to that directory, led by the
    directory's own name (``knowledge/getting-started.md``); a file given on its own is its file name.
    Never an absolute path: the same files ingested from another checkout or machine keep their ids.
    """
    if root is not None:
        base = root.resolve()
        try:
            relative = path.resolve().relative_to(base).as_posix()
        except ValueError:
            relative = ""
        if relative and relative != ".":
            return f"{base.name}/{relative}" if base.name else relative
    return path.name


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def read_bytes(path: Path, source: str) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise IngestError(source, f"file is {size} bytes; the limit is {MAX_FILE_BYTES} ({MAX_FILE_BYTES >> 20} MB)")
    if size == 0:
        raise IngestError(source, "file is empty")
    return path.read_bytes()


def decode_text(raw: bytes, source: str) -> str:
    check_not_binary(raw, source)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IngestError(source, "not valid UTF-8 text (save it as UTF-8)", line=line) from exc


def split_fields(meta: dict[str, Any], source: str, line: int | None = None) -> tuple[dict[str, Any], str | None]:
    """Known metadata (platform, locale, entity, tags, title) as chunk fields, the rest as attrs."""
    attrs: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    kind = None
    for key, value in meta.items():
        key = _FIELD_ALIASES.get(str(key).lower(), str(key).lower())
        if value is None or value == "":
            continue
        if key == "kind":
            kind = str(value).lower()
            if kind not in KINDS:
                raise IngestError(source, f"kind {kind!r} is not one of {', '.join(KINDS)}", line=line)
        elif key in ("platform", "locale"):
            fields[key] = str(value).strip().lower()
        elif key in ("entity", "title"):
            fields[key] = str(value).strip()
        elif key == "tags":
            items = value if isinstance(value, list) else str(value).replace(";", ",").split(",")
            fields["tags"] = sorted({str(t).strip().lower() for t in items if str(t).strip()})
        elif isinstance(value, str) and len(value) > MAX_ATTR_CHARS:
            attrs[key] = value[:MAX_ATTR_CHARS]
        else:
            attrs[key] = value
    fields["attrs"] = attrs
    return fields, kind


def split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end == -1:
        return {}, text
    try:
        data = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError as exc:
        raise IngestError(source, f"front matter is not valid YAML: {exc}", line=1) from exc
    if not isinstance(data, dict):
        raise IngestError(source, "front matter must be a mapping", line=1)
    rest = text[end + 4 :]
    return data, rest[rest.find("\n") + 1 :] if "\n" in rest else ""


def load_prose(text: str, source: str, kind: str, doc_title: str = "") -> list[Chunk]:
    front, body = split_front_matter(text, source)
    fields, front_kind = split_fields(front, source, line=1)
    doc_kind = kind if kind != "auto" else (front_kind or "other")
    first_heading = next((line[2:].strip() for line in body.splitlines() if line.startswith("# ")), "")
    title = fields.pop("title", "") or doc_title or first_heading or Path(source).stem
    return prose_chunks(source, body, doc_kind, title, fields, whole=doc_kind == "guideline")


def _faq_or_text(
    record: dict[str, Any], meta: dict[str, Any], source: str, line: int, rid: str, kind: str
) -> list[Chunk]:
    top_level = {k: record[k] for k in ("kind", "entity", "title", "platform", "locale", "tags") if record.get(k)}
    fields, record_kind = split_fields({**meta, **top_level}, source, line)
    if "question" in record or "answer" in record:
        question, answer = str(record.get("question") or "").strip(), str(record.get("answer") or "").strip()
        if not question or not answer:
            raise IngestError(source, "a FAQ needs both 'question' and 'answer'", line=line)
        fields.pop("title", None)
        chunk_kind = kind if kind != "auto" else (record_kind or "faq")
        return faq_chunks(source, rid, question, answer, chunk_kind, fields)
    text = str(record.get("text") or "").strip()
    if not text:
        raise IngestError(source, "a record needs 'question'+'answer' or 'text'", line=line)
    chunk_kind = kind if kind != "auto" else (record_kind or "other")
    title = fields.pop("title", "") or rid
    chunks = prose_chunks(source, text, chunk_kind, title, fields, whole=chunk_kind == "guideline")
    for number, chunk in enumerate(chunks, start=1):
        chunk.id = rid if len(chunks) == 1 else f"{rid}#part-{number}"
    return chunks


def load_csv(text: str, source: str, kind: str) -> list[Chunk]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = [f.strip().lower() for f in reader.fieldnames or []]
    except csv.Error as exc:
        raise IngestError(source, f"malformed CSV header: {exc}", line=1) from exc
    if "question" not in fields or "answer" not in fields:
        raise IngestError(source, "CSV needs a header with 'question' and 'answer' columns", line=1)
    reader.fieldnames = fields
    chunks: list[Chunk] = []
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                raise IngestError(source, "row has more fields than the header", line=line)
            if any(v is None for v in row.values()):
                raise IngestError(source, "row has fewer fields than the header", line=line)
            question = (row.get("question") or "").strip()
            answer = (row.get("answer") or "").strip()
            if not question or not answer:
                raise IngestError(source, "row needs both a question and an answer", line=line)
            meta = {k: v for k, v in row.items() if k not in ("id", "question", "answer")}
            rid = (row.get("id") or "").strip() or f"{source}#q-{short_hash(question)}"
            chunks.extend(_faq_or_text({"question": question, "answer": answer}, meta, source, line, rid, kind))
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
            raise IngestError(source, f"not valid JSON: {exc.msg} (column {exc.colno})", line=number) from exc
        if not isinstance(record, dict):
            raise IngestError(source, "each line must be a JSON object", line=number)
        meta = record.get("metadata") or {}
        if not isinstance(meta, dict):
            raise IngestError(source, "'metadata' must be an object", line=number)
        rid = str(record.get("id") or "").strip()
        if not rid:
            raise IngestError(source, "missing 'id'", line=number)
        chunks.extend(_faq_or_text(record, meta, source, number, rid, kind))
    return chunks


def load_file(path: Path, kind: str = "auto", source: str | None = None) -> list[Chunk]:
    """Load one file into sanitised chunks; raises :class:`IngestError` naming the file and line."""
    from knowledge.formats import html_to_markdown, load_pdf
    from knowledge.json_export import load_json_export

    source = source or source_name(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(source, f"unsupported file type {suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    if kind != "auto" and kind not in KINDS:
        raise IngestError(source, f"unknown kind {kind!r} (expected one of {', '.join(KINDS)} or auto)")
    raw = read_bytes(path, source)
    hidden = False
    if suffix == ".pdf":
        chunks = load_pdf(raw, source, kind)
    else:
        text, hidden = strip_invisible(decode_text(raw, source))
        if not text.strip():
            raise IngestError(source, "file is empty")
        if suffix in (".html", ".htm"):
            title, text, html_hidden = html_to_markdown(text, source)
            hidden = hidden or html_hidden
            chunks = load_prose(text, source, kind, title)
        elif suffix == ".csv":
            chunks = load_csv(text, source, kind)
        elif suffix == ".jsonl":
            chunks = load_jsonl(text, source, kind)
        elif suffix == ".json":
            chunks = load_json_export(text, source, kind)
        else:
            chunks = load_prose(text, source, kind)
    if not chunks:
        raise IngestError(source, "no content found")
    if len(chunks) > MAX_CHUNKS_PER_FILE:
        raise IngestError(source, f"{len(chunks)} chunks; the limit per file is {MAX_CHUNKS_PER_FILE}")
    return [_finalise(chunk, hidden) for chunk in chunks]


def _finalise(chunk: Chunk, hidden: bool) -> Chunk:
    for field in ("text", "title", "question", "answer", "entity"):
        value = getattr(chunk, field)
        if value:  # JSON escapes (\u200b) only become characters after parsing: strip per field too
            clean, removed = strip_invisible(value)
            setattr(chunk, field, clean)
            hidden = hidden or removed
    flags = set(chunk.flags)
    if instruction_like(chunk.text) or instruction_like(chunk.title):
        flags.add(INSTRUCTION_LIKE)
    if hidden:
        flags.add(HIDDEN_TEXT)
    chunk.flags = sorted(flags)
    return chunk


def iter_sources(paths: list[Path]) -> list[tuple[Path, str]]:
    """Every supported file under the given paths, in a stable order, with its checkout-independent name.

    Two files that would share a name (``a/faq.md`` and ``b/faq.md`` given as two roots named alike)
    are refused: their chunks would overwrite each other.
    """
    out: list[tuple[Path, str]] = []
    seen: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
            )
            pairs = [(p, source_name(p, path)) for p in found]
        elif path.exists():
            pairs = [(path, source_name(path))]
        else:
            raise IngestError(str(path), "no such file or directory")
        for file, name in pairs:
            other = seen.setdefault(name, file)
            if other.resolve() == file.resolve():
                if other is file:  # the same file reached twice (a file inside a given directory) counts once
                    out.append((file, name))
                continue
            raise IngestError(name, f"two files would share this source name ({other} and {file}): "
                              "ingest them in separate runs or rename one")
    return out


def iter_files(paths: list[Path]) -> list[Path]:
    """Expand directories into the supported files below them, in a stable order."""
    return [path for path, _name in iter_sources(paths)]
