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

from desk.audit import audit_other
from desk.db import read_session, session_scope
from desk.errors import BadRequest, Forbidden
from desk.models import ApiKey, utcnow
from desk.scope import INSTALLATION, Scope

KEY_PREFIX = "rdk_"
ROLES = ("viewer", "cm", "admin")
_LAST_USED_GRANULARITY = timedelta(minutes=1)
CLI = ("cli", "admin")  # keys made on the command line: whoever runs it owns the server


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(engine: Engine, role: str, name: str = "", workspaces: Scope = INSTALLATION) -> str:
    """Create a key and return it; this is the only time the plaintext exists."""
    return issue_key(engine, role, name, workspaces=workspaces)[1]


def scope_of(key: ApiKey) -> Scope:
    return Scope.parse(key.workspaces)


def issue_key(
    engine: Engine, role: str, name: str = "", actor: tuple[str, str] = CLI, *, workspaces: Scope | None = None,
    scope: Scope = INSTALLATION,
) -> tuple[ApiKey, str]:
    """Create a key: (its record, the key itself). The plaintext is returned once and never stored.

    The new key acts in ``workspaces`` (default: the creator's own ``scope``), which must lie within the
    creator's scope: a workspace admin makes keys for their workspaces only, and only an installation-wide
    creator makes installation-wide (``*``) keys.
    """
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    wanted = scope if workspaces is None else workspaces
    if not scope.covers(wanted):
        raise Forbidden(f"a key for {', '.join(wanted.names())} is beyond this key's workspaces "
                        f"({', '.join(scope.names())})")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        record = ApiKey(name=name, prefix=key[:12], key_hash=hash_key(key), role=role, workspaces=wanted.stored())
        session.add(record)
        session.flush()
        audit_other(session, actor, "key.create", key_id=record.id, key_prefix=record.prefix, key_role=role,
                    key_name=name, key_workspaces=wanted.names())
    return record, key


def list_keys(engine: Engine, *, scope: Scope = INSTALLATION, workspace: str | None = None) -> list[ApiKey]:
    """The keys a principal may manage (those whose every workspace lies in its scope); with ``workspace``,
    only the keys that may act there."""
    scope.check_filter(workspace)
    with read_session(engine) as session:
        rows = session.exec(select(ApiKey).order_by(col(ApiKey.id))).all()
    return [r for r in rows if scope.covers(scope_of(r)) and (not workspace or scope_of(r).allows(workspace))]


def revoke_key(engine: Engine, ref: str | int, actor: tuple[str, str] = CLI, *, scope: Scope = INSTALLATION) -> ApiKey:
    """Revoke by id, or by the key's visible prefix; takes effect on the next request. A key reaching beyond
    the caller's scope is not found."""
    with session_scope(engine) as session:
        if isinstance(ref, int) or str(ref).isdigit():
            record = session.get(ApiKey, int(ref))
        else:
            found = session.exec(select(ApiKey).where(col(ApiKey.prefix) == str(ref))).all()
            if len(found) > 1:
                raise KeyError(f"prefix {ref!r} matches {len(found)} keys: use the id")
            record = found[0] if found else None
        if record is None or not scope.covers(scope_of(record)):
            raise KeyError(f"no key {ref!r}")
        if record.revoked_at is None:
            record.revoked_at = utcnow()
            session.add(record)
            audit_other(session, actor, "key.revoke", key_id=record.id, key_prefix=record.prefix)
        session.flush()
        return record


def lookup_key(session: Session, key: str) -> ApiKey | None:
    if not key.startswith(KEY_PREFIX):
        return None
    found = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if found is None or found.revoked_at is not None:
        return None
    return found


def authenticate(engine: Engine, key: str) -> ApiKey | None:
    """The live key record for a presented key, or None (unknown or revoked)."""
    with read_session(engine) as session:
        return lookup_key(session, key)


def touch_key(engine: Engine, api_key: ApiKey) -> None:
    """Record last use, at most once a minute per key (a write per request would serialise SQLite)."""
    now = utcnow()
    if api_key.last_used_at is not None and now - api_key.last_used_at < _LAST_USED_GRANULARITY:
        return
    with session_scope(engine) as session:
        session.exec(update(ApiKey).where(col(ApiKey.id) == api_key.id).values(last_used_at=now))


def role_allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def sign_out_sessions(engine: Engine, key_id: int) -> None:
    """End every console session of this key issued until now (the console's sign-out: a copied cookie stops
    working too, not only the browser's own)."""
    with session_scope(engine) as session:
        session.exec(update(ApiKey).where(col(ApiKey.id) == key_id).values(signed_out_at=utcnow()))
