"""JSON knowledge exports: a generic, documented mapping instead of one parser per tool.

Help-centre and CRM exports nest their content in different ways (a list of articles; entities with
their FAQs and reviews; flows with sub-flows and steps). We walk the JSON and map it like this:

Records (each becomes one chunk, or several when long):
  * an object with ``question`` and ``answer`` strings: a FAQ;
  * an object with a text field (``text``, ``content``, ``body`` or ``sentences`` — a string, a list of
    strings or an object of strings): a text chunk; its other lists of strings are appended as lines;
  * a list of strings under a key (``"instructions": ["...", "..."]``): one text chunk of those lines.
  A record's ``id`` (else its JSON path), ``kind``, ``title``, ``entity``, ``platform``, ``locale``,
  ``tags`` and ``metadata`` object are used as given; its other scalar fields become attributes.

Containers (every other object or list) give context to the records below them:
  * the nearest container's ``name`` (or ``entity``/``title``) is the entity the records are about
    (a hotel with its FAQs and reviews);
  * the nearest key among ``faq(s)``, ``review(s)``, ``guideline(s)``, ``policy``/``policies`` sets the
    kind (otherwise ``other``; ``--kind`` overrides everything);
  * the non-numeric keys on the path make the title ("Product Defect > Initiate Refund").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from knowledge.chunking import MAX_CHUNK_CHARS, faq_chunks, prose_chunks
from knowledge.errors import IngestError
from knowledge.formats import parse_json
from knowledge.loaders import MAX_CHUNKS_PER_FILE, split_fields
from knowledge.models import Chunk

TEXT_FIELDS = ("text", "content", "body", "sentences")
NAME_FIELDS = ("name", "entity", "title")
RESERVED = {"id", "question", "answer", "kind", "title", "entity", "platform", "locale", "tags", "metadata",
            *TEXT_FIELDS}
KIND_KEYS = {"faq": "faq", "faqs": "faq", "review": "review", "reviews": "review", "guideline": "guideline",
             "guidelines": "guideline", "policy": "policy", "policies": "policy"}
MAX_DEPTH = 32


@dataclass(frozen=True)
class _Context:
    path: tuple[str, ...] = ()
    entity: str | None = None
    kind: str | None = None


def load_json_export(text: str, source: str, kind: str) -> list[Chunk]:
    data = parse_json(text, source)
    chunks: list[Chunk] = []
    _walk(data, _Context(), source, kind, chunks)
    return chunks


def _strings(value: Any) -> list[str] | None:
    """A string, a list of strings, or an object of strings, as a list; None for anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        return list(value.values())
    return None


def _walk(node: Any, ctx: _Context, source: str, kind: str, out: list[Chunk]) -> None:
    if len(ctx.path) > MAX_DEPTH:
        raise IngestError(source, f"at {'/'.join(ctx.path)}: nested deeper than {MAX_DEPTH} levels")
    if len(out) > MAX_CHUNKS_PER_FILE:
        raise IngestError(source, f"more than {MAX_CHUNKS_PER_FILE} records")
    if isinstance(node, list):
        if ctx.path and _strings(node) is not None:
            out.extend(_record({"text": "\n".join(node)}, ctx, source, kind))
            return
        for index, item in enumerate(node):
            _walk(item, replace(ctx, path=(*ctx.path, str(index))), source, kind, out)
        return
    if not isinstance(node, dict):
        return
    is_faq = isinstance(node.get("question"), str) and isinstance(node.get("answer"), str)
    if is_faq or any(_strings(node.get(f)) is not None for f in TEXT_FIELDS):
        out.extend(_record(node, ctx, source, kind))
        return
    name = next((node[f].strip() for f in NAME_FIELDS if isinstance(node.get(f), str) and node[f].strip()), None)
    if name:
        ctx = replace(ctx, entity=name)
    for key, value in node.items():
        if isinstance(value, dict | list):
            child_kind = KIND_KEYS.get(str(key).lower(), ctx.kind)
            _walk(value, replace(ctx, path=(*ctx.path, str(key)), kind=child_kind), source, kind, out)


def _record(node: dict[str, Any], ctx: _Context, source: str, kind: str) -> list[Chunk]:
    where = "/".join(ctx.path) or "(top)"
    meta = node.get("metadata") or {}
    if not isinstance(meta, dict):
        raise IngestError(source, f"at {where}: 'metadata' must be an object")
    meta = dict(meta)
    for key, value in node.items():
        if key not in RESERVED and isinstance(value, str | int | float | bool):
            meta.setdefault(key, value)
    for key in ("kind", "title", "entity", "platform", "locale", "tags"):
        if node.get(key):
            meta[key] = node[key]
    meta.setdefault("entity", ctx.entity)
    if ctx.kind:
        meta.setdefault("kind", ctx.kind)
    titles = [p for p in ctx.path if not p.isdigit()]
    meta.setdefault("title", " > ".join(titles) if titles else "")
    meta["path"] = where
    fields, record_kind = split_fields(meta, source)
    chunk_kind = kind if kind != "auto" else (record_kind or "other")
    rid = str(node.get("id") or "").strip() or f"{source}#{where}"  # an explicit id is used as is, as in JSONL
    if isinstance(node.get("question"), str) and isinstance(node.get("answer"), str):
        question, answer = node["question"].strip(), node["answer"].strip()
        if not question or not answer:
            raise IngestError(source, f"at {where}: a FAQ needs both 'question' and 'answer'")
        fields.pop("title", None)
        return faq_chunks(source, rid, question, answer, "faq" if kind == "auto" and not record_kind else chunk_kind,
                          fields)
    text_lines: list[str] = []
    for field in TEXT_FIELDS:
        text_lines.extend(_strings(node.get(field)) or [])
    # Sentences are one text; other lists of strings (steps, dishes) are extra lines.
    body = (" " if isinstance(node.get("sentences"), dict | list) else "\n").join(text_lines)
    extra = [line for key, value in node.items()
             if key not in RESERVED and isinstance(value, list) for line in (_strings(value) or [])]
    body = "\n".join([body, *extra]).strip()
    if not body:
        return []
    title = fields.pop("title", "") or where
    whole = chunk_kind == "guideline" or len(body) <= MAX_CHUNK_CHARS
    chunks = prose_chunks(source, body, chunk_kind, title, fields, whole=whole)
    for number, chunk in enumerate(chunks, start=1):
        chunk.id = rid if len(chunks) == 1 else f"{rid}#part-{number}"
    return chunks
