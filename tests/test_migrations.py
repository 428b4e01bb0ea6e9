"""Several processes starting at once on a fresh database (N `replydesk worker`s, say) all migrate it.

On PostgreSQL this once deadlocked: waiters blocked in ``pg_advisory_lock`` held snapshots that the
holder's ``CREATE INDEX CONCURRENTLY`` waited for; and LangGraph's store ``setup()`` raced outside the
lock, so a worker could exit at start with a unique violation on ``pg_type``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, insert, inspect, text

from desk.db import make_engine, migrate
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


def _alembic_config(settings: Settings) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ROOT / "desk" / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def test_the_migration_history_has_one_head(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(_alembic_config(make_settings(tmp_path))).get_heads() == ["0013"]


def _insert(conn: Any, table_name: str, **values: Any) -> int:
    """A row written with the columns the old schema has (reflected, not today's models): any NOT NULL
    column without a default that ``values`` leaves out gets a plain filler of its type."""
    table = Table(table_name, MetaData(), autoload_with=conn)
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key or column.server_default is not None:
            continue
        kind = column.type.__class__.__name__.lower()
        row[column.name] = (
            datetime.now(UTC) if "date" in kind or "time" in kind
            else 0 if "int" in kind or "float" in kind or "numeric" in kind
            else False if "bool" in kind
            else {} if "json" in kind
            else ""
        )
    result = conn.execute(insert(table).values(**row))
    return int(result.inserted_primary_key[0])


def test_a_database_at_the_four_old_heads_upgrades_with_its_rows(fresh_settings: Settings) -> None:
    """Main before the layout change migrated to "heads": 0002, 0005, 0006 and 0007, each off 0001."""
    from alembic import command

    fresh_settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = _alembic_config(fresh_settings)
    for old_head in ("0002", "0005", "0006", "0007"):
        command.upgrade(config, old_head)
    engine = make_engine(fresh_settings)
    try:
        with engine.begin() as conn:
            versions = sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version")))
            assert versions == ["0002", "0005", "0006", "0007"]
            message_id = _insert(conn, "messages", workspace="lumen", platform="x", external_id="m-1",
                                 author={"id": "a1", "handle": "@ana"}, text="Does the Trail fold?", thread=[])
            _insert(conn, "drafts", message_id=message_id, workspace="lumen", platform="x", text="It does not.",
                    status="pending", citations=[], checks=[], triage={})
            fire_id = _insert(conn, "messages", workspace="lumen", platform="x", external_id="m-2",
                              author={"id": "a2", "handle": "@bo"}, text="My battery caught fire", thread=[])
            flagged = _insert(conn, "drafts", message_id=fire_id, workspace="lumen", platform="x", text="",
                              status="pending", citations=[], checks=[],
                              triage={"intent": "complaint", "risk_flags": ["safety", "legal"]})
            _insert(conn, "api_keys", role="cm", name="before-upgrade", prefix="rdk_test", key_hash="h" * 64)
            _insert(conn, "eval_runs", label="before", status="finished", suites=["tone"])
            _insert(conn, "insight_alerts", uid="alert-1", workspace="lumen", signals=["volume"], detail={})

        migrate(fresh_settings)

        with engine.begin() as conn:
            assert [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))] == ["0013"]
            authors = conn.execute(text("SELECT external_id, author_id FROM messages ORDER BY id")).all()
            assert [tuple(r) for r in authors] == [("m-1", "a1"), ("m-2", "a2")]
            backfilled = conn.execute(text("SELECT draft_id, flag FROM draft_risk_flags ORDER BY flag")).all()
            assert [tuple(r) for r in backfilled] == [(flagged, "legal"), (flagged, "safety")]
            kept = (("messages", "text", ["Does the Trail fold?", "My battery caught fire"]),
                    ("drafts", "text", ["It does not.", ""]), ("api_keys", "name", ["before-upgrade"]),
                    ("eval_runs", "label", ["before"]), ("insight_alerts", "uid", ["alert-1"]))
            for table, column, values in kept:
                assert [r[0] for r in conn.execute(text(f"SELECT {column} FROM {table} ORDER BY id"))] == values, table
    finally:
        engine.dispose()
