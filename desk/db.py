"""Engine and sessions. SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE for every transaction.

A deferred SQLite transaction that reads then writes fails at once with "database is locked" when
another writer committed in between, whatever the busy timeout; starting every transaction with
BEGIN IMMEDIATE makes writers queue on the busy timeout instead.
"""

from __future__ import annotations

import fcntl
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_random

from ground.settings import Settings

_READ_ONLY = "replydesk_read_only"
_HOLDS_WRITE = "replydesk_holds_write_lock"
_BUSY_SECONDS = 30.0
_PG_MIGRATION_LOCK = 7_412_019  # any constant: one advisory lock id for Replydesk's migrations
_MIGRATION_WAIT_SECONDS = 600


def _json_loads(text: str | bytes) -> Any:
    """orjson, ~3x faster on queue pages; the stdlib for what orjson refuses (NaN, which json.dumps writes)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if not settings.is_sqlite:
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, json_deserializer=_json_loads)
    settings.ensure_dirs()
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": _BUSY_SECONDS},
                           json_deserializer=_json_loads)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(_BUSY_SECONDS * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    writers = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers (see read_session) begin deferred: under WAL they never wait for the write lock.
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        # Writers of this process queue on a lock instead of SQLite's busy handler, which sleeps
        # 1, 2, 5, 10 ... 100 ms between retries: under a burst of approvals those sleeps, not the
        # work, made the latency. Other processes still meet the busy timeout.
        if not writers.acquire(timeout=_BUSY_SECONDS):
            raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked (writer queue)"))
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.release()
            raise
        conn.info[_HOLDS_WRITE] = True

    def _end(conn: Any, *_args: Any) -> None:
        if conn.info.pop(_HOLDS_WRITE, False):
            writers.release()

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)
    # A connection returned to the pool without commit or rollback (it should not happen) frees the queue.
    event.listen(engine.pool, "checkin", lambda _dbapi, record: _end(record))
    return engine


def read_session(engine: Engine) -> Session:
    """A session for reads only: on SQLite it does not take the write lock (writes in it would fail).

    On PostgreSQL it runs in autocommit: at READ COMMITTED every statement takes its own snapshot inside a
    transaction too, so reads see the same data without the BEGIN and ROLLBACK round trips (two of the
    four a key lookup made).
    """
    if engine.dialect.name == "postgresql":
        return Session(engine.execution_options(isolation_level="AUTOCOMMIT"))
    return Session(engine.execution_options(**{_READ_ONLY: True}))


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


@contextmanager
def _migration_lock(settings: Settings) -> Iterator[None]:
    """Serialise migrations across processes: N workers starting at once must not race Alembic."""
    settings.ensure_dirs()
    if settings.is_sqlite:
        with (settings.data_dir / ".migrate.lock").open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    engine = create_engine(settings.sqlalchemy_url, poolclass=NullPool)
    try:
        # Autocommit: an open transaction here would block the checkpointer's CREATE INDEX CONCURRENTLY.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            _take_advisory_lock(conn)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK})
    finally:
        engine.dispose()


def _take_advisory_lock(conn: Connection) -> None:
    """Poll ``pg_try_advisory_lock`` rather than block in ``pg_advisory_lock``.

    A backend blocked in ``pg_advisory_lock`` holds a snapshot for as long as it waits, and the holder's
    ``CREATE INDEX CONCURRENTLY`` (LangGraph's checkpoint migrations) waits for every such snapshot to
    end: N processes migrating a fresh database at once deadlocked that way, undetected by PostgreSQL.
    Between polls a waiter holds nothing.
    """
    polling = Retrying(retry=retry_if_result(lambda taken: not taken), wait=wait_random(0.05, 0.2),
                       stop=stop_after_delay(_MIGRATION_WAIT_SECONDS), retry_error_callback=lambda _: False)
    if not polling(lambda: bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                             {"key": _PG_MIGRATION_LOCK}).scalar())):
        raise RuntimeError(f"another process held the migration lock for over {_MIGRATION_WAIT_SECONDS} s")


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest Alembic revision (revisions are committed in desk/migrations).

    On PostgreSQL this also creates LangGraph's checkpoint and store tables, once, under the same lock,
    so the savers and stores that every process opens later find them in place: ``setup()`` of either
    is not safe to race (concurrent ``CREATE TABLE IF NOT EXISTS`` fails on ``pg_type``; a worker that
    lost that race used to exit at start).
    """
    from alembic import command
    from alembic.config import Config

    here = Path(__file__).parent
    config = Config()
    config.set_main_option("script_location", str(here / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    with _migration_lock(settings):
        # One history with one head (0008 joined the old feature branches): new revisions follow it.
        command.upgrade(config, "head")
        if not settings.is_sqlite:
            from langgraph.checkpoint.postgres import PostgresSaver
            from langgraph.store.postgres import PostgresStore

            with PostgresSaver.from_conn_string(settings.libpq_url) as saver:
                saver.setup()
            with PostgresStore.from_conn_string(settings.libpq_url) as store:
                store.setup()
