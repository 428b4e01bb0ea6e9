"""Pollers' persisted positions: one row per (connector, stream), written after the item it names is stored."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from desk.connector_tables import ConnectorCursor
from desk.db import read_session, session_scope
from desk.models import utcnow


def load_cursor(engine: Engine, connector_id: int, stream: str) -> str | None:
    with read_session(engine) as session:
        row = session.get(ConnectorCursor, (connector_id, stream))
        return row.cursor if row is not None else None


def save_cursor(engine: Engine, connector_id: int, stream: str, cursor: str) -> None:
    with session_scope(engine) as session:
        row = session.get(ConnectorCursor, (connector_id, stream))
        if row is None:
            row = ConnectorCursor(connector_id=connector_id, stream=stream, cursor=cursor)
        row.cursor, row.updated_at = cursor, utcnow()
        session.add(row)
