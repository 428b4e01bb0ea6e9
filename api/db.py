"""Engine and sessions. SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE for every transaction.

A deferred SQLite transaction that reads then writes fails at once with "database is locked" when
another writer committed in between, whatever the busy timeout; starting every transaction with
BEGIN IMMEDIATE makes writers queue on the busy timeout instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from replydesk.settings import Settings


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if not settings.is_sqlite:
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    settings.ensure_dirs()
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest Alembic revision (revisions are committed in api/migrations)."""
    from alembic import command
    from alembic.config import Config

    here = Path(__file__).parent
    config = Config()
    config.set_main_option("script_location", str(here / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    settings.ensure_dirs()
    # "heads": feature areas add independent migration branches off 0001; all of them apply.
    command.upgrade(config, "heads")
