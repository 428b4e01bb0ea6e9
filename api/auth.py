"""API keys: random 256-bit secrets with a recognisable prefix, stored only as SHA-256 hashes.

A plain SHA-256 (not a slow password hash) is right here: the keys are high-entropy random strings,
so there is nothing to brute-force, and every request must verify one cheaply.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.db import session_scope
from api.models import ApiKey, utcnow

KEY_PREFIX = "rdk_"
ROLES = ("viewer", "cm", "admin")
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(engine: Engine, role: str, name: str = "") -> str:
    """Create a key and return it; this is the only time the plaintext exists."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        session.add(ApiKey(name=name, prefix=key[:12], key_hash=hash_key(key), role=role))
    return key


def lookup_key(session: Session, key: str) -> ApiKey | None:
    if not key.startswith(KEY_PREFIX):
        return None
    found = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if found is None or found.revoked_at is not None:
        return None
    return found


def touch_key(engine: Engine, api_key: ApiKey) -> None:
    """Record last use, at most once a minute per key (a write per request would serialise SQLite)."""
    now = utcnow()
    if api_key.last_used_at is not None and now - api_key.last_used_at < _LAST_USED_GRANULARITY:
        return
    with session_scope(engine) as session:
        session.exec(update(ApiKey).where(col(ApiKey.id) == api_key.id).values(last_used_at=now))


def role_allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)
