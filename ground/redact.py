"""One redaction for everything a person or a log may see: URLs and exception texts lose their secrets.

Removed: a URL's userinfo (``user:pass@``), every query value, its fragment, and path segments or words
shaped like credentials: provider tokens (``sk-…``, ``xoxb-…``, ``ghp_…``, ``whsec_…``, ``rdk_…``), JWTs,
long hex runs and long base64/base64url runs mixing digits, upper and lower case (Slack, Discord and most
"secret URL" webhooks carry their token that way). What stays is enough to tell targets apart:
scheme, host, port and the ordinary path.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import AfterValidator

MASK = "***"
_PREFIXED = re.compile(
    r"(?:sk-|sk_live_|sk_test_|rk_live_|pk_live_|xox[abposr]-|xapp-|ghp_|gho_|ghs_|github_pat_|glpat-|whsec_|rdk_|"
    r"AKIA|ASIA|AIza)[A-Za-z0-9_\-./+=]{6,}"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_HEX = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{24,}(?![A-Za-z0-9])")
_B64 = re.compile(r"(?<![A-Za-z0-9_\-+/])[A-Za-z0-9_\-+/]{20,}={0,2}(?![A-Za-z0-9_\-+/])")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[^\s'\",]+")
_ASSIGNED = re.compile(r"(?i)\b(password|passwd|secret|token|api_key|apikey|access_token|auth)=([^\s&'\",]+)")


def _secretish(word: str) -> bool:
    if _PREFIXED.fullmatch(word) or _JWT.fullmatch(word) or _HEX.fullmatch(word):
        return True
    if _UUID.fullmatch(word) or not _B64.fullmatch(word):
        return False  # ids such as a delivery's uuid stay readable
    return any(c.isdigit() for c in word) and any(c.isupper() for c in word) and any(c.islower() for c in word)


def _words(text: str) -> str:
    text = _PREFIXED.sub(MASK, text)
    text = _JWT.sub(MASK, text)
    text = _HEX.sub(MASK, text)
    return _B64.sub(lambda m: MASK if _secretish(m.group(0)) else m.group(0), text)


def redact_url(url: str) -> str:
    """``https://user:pw@hooks.example/T0/abcdef…?token=x`` → ``https://***@hooks.example/T0/***?token=***``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return _words(url)
    if not parts.scheme or not parts.netloc:
        return _words(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (MASK + "@" if "@" in parts.netloc else "") + host + (f":{port}" if port else "")
    path = "/".join(MASK if _secretish(segment) else _words(segment) for segment in parts.path.split("/"))
    query = "&".join(f"{name}={MASK}" for name, _value in parse_qsl(parts.query, keep_blank_values=True))
    if parts.query and not query:
        query = MASK
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact(text: str | None) -> str:
    """An exception text or log value with every URL redacted and credential-shaped words masked."""
    if not text:
        return text or ""
    out: list[str] = []
    at = 0
    for match in _URL.finditer(text):  # URLs by their structure, the text between them by its words
        out += [_prose(text[at:match.start()]), redact_url(match.group(0))]
        at = match.end()
    return "".join([*out, _prose(text[at:])])


def _prose(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _ASSIGNED.sub(lambda m: f"{m.group(1)}={MASK}", text)
    return _words(text)


Redacted = Annotated[str, AfterValidator(redact)]  # a response field (URL, error text) served without secrets


class RedactingFilter(logging.Filter):
    """Redacts whole log records of a library that logs request URLs (httpx logs every one at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True
