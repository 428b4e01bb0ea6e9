"""Webhook signing secrets and signatures (the Standard Webhooks scheme).

Secrets look like ``whsec_<base64>``; the HMAC key is the base64-decoded part. They are derived from
the server's secret key, a purpose, a name and a generation, so the database never holds one: rotating
a secret bumps its generation. The signature is HMAC-SHA256 over ``id.timestamp.body``, sent as
``webhook-signature: v1,<base64>`` (several space-separated while a secret rotates).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from ground.files import read_or_create
from ground.settings import Settings

SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """A webhook failed verification; the message says why (never which byte)."""


def master_key(settings: Settings) -> bytes:
    """REPLYDESK_SECRET_KEY, or a random key kept in the data directory (created once, atomically, mode 0600;
    an empty or truncated file is refused, never used to derive secrets)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    settings.ensure_dirs()
    return read_or_create(settings.secret_key_path, secrets.token_urlsafe(48), 32, "master key").encode()


def derive_secret(settings: Settings, purpose: str, name: str, generation: int) -> str:
    digest = hmac.new(master_key(settings), f"{purpose}:{name}:{generation}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode()


def _key_bytes(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX):])
    return secret.encode()  # a plain REPLYDESK_WEBHOOK_SECRET is used as the raw key


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(_key_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, tolerance: int = 300,
           now: float | None = None) -> str:
    """Check ``webhook-id``/``webhook-timestamp``/``webhook-signature``; returns the webhook id."""
    msg_id = headers.get("webhook-id") or ""
    stamp = headers.get("webhook-timestamp") or ""
    given = headers.get("webhook-signature") or ""
    if not (msg_id and stamp and given):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp must be Unix seconds") from None
    if abs((time.time() if now is None else now) - sent) > tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance} s from now")
    expected = sign(secret, msg_id, stamp, body).split(",", 1)[1]
    for candidate in given.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return msg_id
    raise SignatureError("no valid signature")
