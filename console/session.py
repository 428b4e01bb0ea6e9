"""Console sessions: a signed cookie naming an API key, and CSRF tokens bound to the session.

A session token is ``<payload>.<signature>``: the payload (base64url JSON) holds the key's id, a random
session id and the issue time; the signature is an HMAC-SHA256 with a key derived from the installation's
master secret (desk/signing.py). Nothing but a sign-out time is stored server-side: the key is looked up on
every request, so revoking the key ends every session made with it, and signing out ends every session of
that key issued before (a copied cookie included). Hand-written (about 40 lines) rather than itsdangerous:
the format is one HMAC over one JSON payload, and a dependency would add nothing we use.

Framework-free, so api/gate.py can authenticate console writes before their body is read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy.engine import Engine

from desk.db import read_session
from desk.models import ApiKey
from desk.signing import master_key
from ground.settings import Settings

COOKIE = "rd_session"
PRE_COOKIE = "rd_signin"  # before sign-in: the nonce the sign-in form's CSRF token is bound to
LIFETIME_SECONDS = 12 * 3600
_secrets: dict[tuple[str, str], bytes] = {}


def _secret(settings: Settings, purpose: str) -> bytes:
    """A key for ``purpose`` derived from the master secret (read once per process)."""
    cache_key = (str(settings.secret_key_path), purpose)
    if cache_key not in _secrets:
        _secrets[cache_key] = hmac.new(master_key(settings), f"console:{purpose}".encode(), hashlib.sha256).digest()
    return _secrets[cache_key]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(settings: Settings, payload: str) -> str:
    return _b64(hmac.new(_secret(settings, "session"), payload.encode(), hashlib.sha256).digest())


@dataclass(frozen=True)
class Session:
    key_id: int
    sid: str
    issued: int  # milliseconds since the epoch


def issue(settings: Settings, key_id: int, now: float | None = None) -> str:
    payload = _b64(json.dumps({"k": key_id, "s": secrets.token_urlsafe(16),
                               "t": int((time.time() if now is None else now) * 1000)}).encode())
    return f"{payload}.{_sign(settings, payload)}"


def parse(settings: Settings, token: str | None, now: float | None = None) -> Session | None:
    """The session a token names, if its signature holds and it has not expired."""
    if not token or token.count(".") != 1 or len(token) > 512:
        return None
    payload, signature = token.split(".")
    if not hmac.compare_digest(signature, _sign(settings, payload)):
        return None
    try:
        data = json.loads(_unb64(payload))
        session = Session(key_id=int(data["k"]), sid=str(data["s"]), issued=int(data["t"]))
    except (ValueError, KeyError, TypeError):
        return None
    age = (time.time() if now is None else now) - session.issued / 1000
    return session if 0 <= age <= LIFETIME_SECONDS else None


def live_key(engine: Engine, found: Session) -> ApiKey | None:
    """The session's key, unless it was revoked or signed out since the session began (then it is over)."""
    with read_session(engine) as session:
        key = session.get(ApiKey, found.key_id)
    if key is None or key.revoked_at is not None:
        return None
    out = key.signed_out_at
    if out is not None and (out if out.tzinfo else out.replace(tzinfo=UTC)).timestamp() * 1000 > found.issued:
        return None
    return key


def authenticate(engine: Engine, settings: Settings, token: str | None) -> tuple[ApiKey, Session] | None:
    found = parse(settings, token)
    if found is None:
        return None
    key = live_key(engine, found)
    return (key, found) if key is not None else None


def csrf_token(settings: Settings, bound_to: str) -> str:
    """A CSRF token bound to a session id (or to the pre-sign-in nonce)."""
    return _b64(hmac.new(_secret(settings, "csrf"), bound_to.encode(), hashlib.sha256).digest())


def csrf_ok(settings: Settings, bound_to: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(str(given), csrf_token(settings, bound_to))


def cookie_from_header(raw: str | None, name: str = COOKIE) -> str | None:
    """One cookie's value from a raw Cookie header (the gate reads it before Starlette parses anything)."""
    for part in (raw or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def seal(settings: Settings, value: object) -> str:
    """A value carried in a redirect's query string (an upload's per-file results), signed so a crafted link
    cannot make the console show results that never happened."""
    payload = _b64(json.dumps(value).encode())
    return f"{payload}.{_b64(hmac.new(_secret(settings, 'seal'), payload.encode(), hashlib.sha256).digest())}"


def unseal(settings: Settings, sealed: str | None) -> object | None:
    if not sealed or sealed.count(".") != 1:
        return None
    payload, signature = sealed.split(".")
    expected = _b64(hmac.new(_secret(settings, "seal"), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        return json.loads(_unb64(payload))
    except ValueError:
        return None
