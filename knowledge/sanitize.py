"""Documents are untrusted input too: hidden text is removed, instruction-like text is flagged.

An attacker who can get a document into the knowledge base (a shared FAQ page, a PDF from a partner)
can hide text a human reviewer never sees but a model reads: zero-width or bidi characters, Unicode
"tag" characters (ASCII smuggling), HTML comments, ``display:none`` blocks. We strip what is invisible
(HTML is handled in formats.py) and flag chunks whose visible text reads like instructions to an AI, so
the agent can treat them as data (OWASP LLM01, indirect prompt injection).
"""

from __future__ import annotations

import re
import unicodedata

from knowledge.errors import IngestError

# Zero-width, bidi controls, word joiners, soft hyphen, BOM, and the Unicode tag block (U+E0000-E007F).
_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INSTRUCTION_LIKE = "instruction-like"
HIDDEN_TEXT = "hidden-text-removed"

_PATTERNS = [
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|all|any|"
    r"your|the|system)\b[^.\n]{0,30}\b(?:instructions?|prompts?|rules|guidelines|directions|context)\b",
    r"\b(?:new|updated|real|actual|hidden|secret)\s+(?:instructions?|system\s+prompt|rules)\s*:",
    r"\byou\s+are\s+(?:now|no\s+longer)\b",
    r"\b(?:act|behave|respond)\s+as\s+(?:if\s+you\s+(?:are|were)|an?\s+(?:unrestricted|unfiltered|jailbroken|"
    r"different|new))\b",
    r"\b(?:system|developer)\s+(?:prompt|message|instructions?)\b",
    r"\b(?:reveal|print|repeat|show|output|leak)\b[^.\n]{0,30}\b(?:system\s+prompt|instructions|api[\s_-]?keys?|"
    r"password|secrets?|canary)\b",
    r"\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention\s+(?:this|it)\s+to|let)\s+the\s+(?:user|customer|human)\b",
    r"\b(?:as\s+an?\s+)?(?:ai|llm|language\s+model|assistant|chatbot)\s*,?\s+(?:you\s+)?(?:must|should|will)\b",
    r"\bjailbreak|\bdo\s+anything\s+now\b|\bDAN\s+mode\b",
    r"<\s*/?\s*(?:system|instructions?|im_start|im_end)\s*>|\[/?INST\]|<\|im_(?:start|end)\|>",
    r"\b(?:send|forward|email|post)\b[^.\n]{0,40}\b(?:to|at)\b[^.\n]{0,20}(?:https?://|www\.|@[a-z0-9-]+\.)",
    r"\b(?:always|only)\s+(?:reply|respond|answer)\s+(?:with|that|in)\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def strip_invisible(text: str) -> tuple[str, bool]:
    """Remove characters that render as nothing; returns (clean text, whether anything was removed)."""
    clean = _CONTROL.sub("", _INVISIBLE.sub("", text))
    clean = unicodedata.normalize("NFC", clean)
    return clean, len(clean) != len(unicodedata.normalize("NFC", text))


def instruction_like(text: str) -> bool:
    """Does the text address an AI with instructions? (A flag for the agent, not a verdict.)"""
    return bool(_INSTRUCTION.search(text))


def check_not_binary(raw: bytes, source: str) -> None:
    """Reject binary junk before decoding: NUL bytes or a high share of control bytes."""
    head = raw[:65536]
    if b"\x00" in head:
        raise IngestError(source, "looks like a binary file, not text (contains NUL bytes)")
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if head and controls / len(head) > 0.05:
        raise IngestError(source, "looks like a binary file, not text (control characters)")
