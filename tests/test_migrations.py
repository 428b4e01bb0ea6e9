"""Several processes starting at once on a fresh database (N `replydesk worker`s, say) all migrate it.

On PostgreSQL this once deadlocked: waiters blocked in ``pg_advisory_lock`` held snapshots that the
holder's ``CREATE INDEX CONCURRENTLY`` waited for; and LangGraph's store ``setup()`` raced outside the
lock, so a worker could exit at start with a unique violation on ``pg_type``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from desk.db import make_engine
from ground.settings import Settings
from testkit import pg
from testkit.live import ROOT, make_settings, process_env

PROCESSES = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield make_settings(tmp_path)
        return
    if not pg.available():
        pytest.skip(f"PostgreSQL is not reachable at {pg.ADMIN_URL}")
    name, url = pg.create_database("replydesk_migrate")
    try:
        yield make_settings(tmp_path, database_url=url)
    finally:
        pg.drop_database(name)


def test_processes_migrating_a_fresh_database_at_once_all_succeed(fresh_settings: Settings) -> None:
    env = process_env(fresh_settings)
    # Each process migrates, then opens the checkpointer and the store as a worker does at start.
    script = ("from desk.db import migrate; from agent.memory import open_store; "
              "from agent.runner import open_checkpointer; from ground.settings import get_settings; "
              "s = get_settings(); migrate(s); open_checkpointer(s); open_store(s)")
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(PROCESSES)]
    outcomes = []
    for proc in procs:
        try:
            output, _ = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            pytest.fail("migrating processes deadlocked (none finished within 240 s)")
        outcomes.append((proc.returncode, output.decode(errors="replace")[-2000:]))
    assert [code for code, _ in outcomes] == [0] * PROCESSES, outcomes
    engine = make_engine(fresh_settings)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"drafts", "messages", "jobs", "audit_events"} <= tables
    if not fresh_settings.is_sqlite:  # LangGraph's tables live in the same PostgreSQL database
        assert {"checkpoints", "store", "store_migrations"} <= tables
