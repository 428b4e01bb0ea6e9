"""Redact server internals from text that a person will read (draft notes, CLI errors, eval notes).

An LLM endpoint's error can carry a file path on its host, an internal URL with a token in its query,
an API key echoed back, or a stack trace. None of that belongs in front of a community manager. The
internal detail still goes to the log, redacted the same way.
"""

from __future__ import annotations

import re

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)\]]+", re.I)
_PATH = re.compile(r"(?:(?<=[\s'\"(=:])|^)(?:~|\.{1,2})?(?:/[\w.@+-]+){2,}/?|\b[A-Z]:\\(?:[\w.@+-]+\\?)+")
_SECRET = re.compile(
    r"\b(?:sk|rdk|pk|rk|key|tok|ghp|gho|xox[abp])[-_][\w-]{8,}\b"  # API keys with a known prefix
    r"|\bBearer\s+[\w.~+/=-]{8,}"
    r"|\b[A-Za-z0-9+/_-]{32,}={0,2}(?![\w/])",  # long opaque tokens (base64, hex digests)
    re.I,
)
_TRACE = re.compile(r"Traceback \(most recent call last\):.*", re.S)
_SPACE = re.compile(r"\s+")


def redact(text: str, limit: int = 240) -> str:
    """``text`` with URLs, file paths, secrets and tracebacks replaced, on one line, at most ``limit`` chars."""
    text = _TRACE.sub("[traceback]", text)
    text = _URL.sub("[url]", text)
    text = _SECRET.sub("[secret]", text)
    text = _PATH.sub("[path]", text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
