"""Stored results of requests made with an ``Idempotency-Key`` (the HTTP middleware is api/idempotency.py):
a row per (caller scope, key), 'running' until the first request finishes, then its response."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from desk.db import session_scope
from desk.models import IdempotencyRecord, utcnow

_RUNNING_TIMEOUT = timedelta(minutes=2)  # a "running" row older than this belonged to a crashed process


def begin_request(engine: Engine, scope_hash: str, key: str, method: str, path: str, request_hash: str,
           ttl_hours: float) -> tuple[str, IdempotencyRecord | None]:
    """('new', row) to run the request; ('replay', row); ('mismatch'|'running', None)."""
    now = utcnow()
    for _attempt in range(2):
        try:
            with session_scope(engine) as session:
                row = session.exec(select(IdempotencyRecord).where(
                    col(IdempotencyRecord.scope) == scope_hash, col(IdempotencyRecord.key) == key)).first()
                if row is not None:
                    abandoned = row.status == "running" and row.created_at < now - _RUNNING_TIMEOUT
                    if row.expires_at < now or abandoned:
                        session.delete(row)
                        session.flush()
                    elif row.request_hash != request_hash:
                        return "mismatch", None
                    elif row.status == "running":
                        return "running", None
                    else:
                        return "replay", row
                row = IdempotencyRecord(scope=scope_hash, key=key, method=method, path=path,
                                        request_hash=request_hash, created_at=now,
                                        expires_at=now + timedelta(hours=ttl_hours))
                session.add(row)
                session.flush()
                return "new", row
        except IntegrityError:
            continue  # a concurrent first request inserted it: read it again
    return "running", None


def finish_request(engine: Engine, row_id: int, status: int, headers: dict[str, str], body: bytes) -> None:
    with session_scope(engine) as session:
        row = session.get(IdempotencyRecord, row_id)
        if row is None:
            return
        if status >= 500:
            session.delete(row)  # a server failure is not a result: let the client retry
            return
        row.status, row.response_status = "done", status
        row.response_headers, row.response_body = headers, body.decode("utf-8", "replace")
        session.add(row)


def purge_expired(engine: Engine) -> int:
    """Delete every expired row (run on a schedule); the number deleted."""
    with session_scope(engine) as session:
        done = session.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) < utcnow()))
        return int(done.rowcount or 0)
