"""HTML (main content only), PDF (text layer) and JSON knowledge exports."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

from knowledge.chunking import split_text
from knowledge.errors import IngestError
from knowledge.models import Chunk

log = logging.getLogger(__name__)

_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])|opacity\s*:\s*0(?![.\d]*[1-9])",
    re.IGNORECASE,
)
_NEVER_VISIBLE = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas")


def html_to_markdown(html: str, source: str) -> tuple[str, str, bool]:
    """Main content of a page as Markdown (headings kept), without anything a reader cannot see.

    Returns (title, markdown, whether hidden content was removed). Hidden text is removed before
    extraction, so a ``display:none`` block or an HTML comment never reaches the knowledge base.
    """
    import lxml.etree
    import lxml.html
    import trafilatura

    try:
        tree = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise IngestError(source, f"not parseable HTML: {exc}") from exc
    hidden = False
    for comment in tree.xpath("//comment()"):
        comment.drop_tree()
        hidden = True
    for element in tree.iter(*_NEVER_VISIBLE):
        element.drop_tree()
    for element in list(tree.iter()):
        if not isinstance(element.tag, str) or element.getparent() is None:
            continue
        attrs = element.attrib
        if (
            "hidden" in attrs
            or attrs.get("aria-hidden", "").lower() == "true"
            or (element.tag == "input" and attrs.get("type", "").lower() == "hidden")
            or _HIDDEN_STYLE.search(attrs.get("style", ""))
        ):
            element.drop_tree()
            hidden = True
    title = (tree.findtext(".//title") or "").strip()
    cleaned = lxml.html.tostring(tree, encoding="unicode")
    text = trafilatura.extract(
        cleaned, output_format="markdown", include_formatting=True, include_comments=False,
        include_tables=True, include_links=False, include_images=False, favor_recall=True,
    )
    if not text or not text.strip():
        body = tree.find("body")
        text = (body if body is not None else tree).text_content()
    if not text.strip():
        raise IngestError(source, "no readable text in the HTML page")
    if not title:
        first = text.strip().splitlines()[0]
        title = first.lstrip("# ").strip()[:120]
    return title, text, hidden


def load_pdf(raw: bytes, source: str, kind: str) -> list[Chunk]:
    """The PDF's text layer, page by page; a scanned PDF without one is an error, not silence."""
    import pypdf
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-but-readable PDFs warn per object
    try:
        reader = pypdf.PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(source, "PDF is encrypted; upload a decrypted copy")
        pages = [(number, page.extract_text() or "") for number, page in enumerate(reader.pages, start=1)]
        meta_title = str(reader.metadata.title or "").strip() if reader.metadata else ""
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise IngestError(source, f"not a readable PDF: {exc}") from exc
    if not any(text.strip() for _n, text in pages):
        raise IngestError(source, "PDF has no text layer (scanned pages?); run OCR first")
    title = meta_title or source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    chunk_kind = "other" if kind == "auto" else kind
    chunks: list[Chunk] = []
    for number, text in pages:
        # Extracted lines are layout lines: rejoin them into paragraphs before splitting.
        text = re.sub(r"(?<![.!?:\n])\n(?!\n)", " ", text.replace("\r", ""))
        for part_no, part in enumerate(split_text(text), start=1):
            chunks.append(Chunk(id=f"{source}#p{number}-{part_no}", text=part, kind=chunk_kind,
                                source=source, title=f"{title} (p. {number})", attrs={"page": number}))
    return chunks


def parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(source, f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from exc
