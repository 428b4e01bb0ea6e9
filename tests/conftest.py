"""Fixtures: real SQLite and Chroma in a temp dir, a real uvicorn server, and the loopback LLM."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from desk.db import migrate
from ground.settings import Settings
from knowledge.ingest import ingest_paths
from knowledge.store import KnowledgeStore
from testkit import pg
from testkit.live import LOOPBACK, SAMPLES, SHARED_DATA, LiveServer, make_settings, wait_for
from testkit.openai_stub import OpenAIStub

__all__ = ["SAMPLES", "SHARED_DATA", "LiveServer", "make_settings", "wait_for"]


@pytest.fixture(autouse=True)
def _loopback_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read from the environment (the CLI's) let the tests' loopback receivers through the
    outbound address policy, as make_settings does."""
    monkeypatch.setenv("REPLYDESK_OUTBOUND_ALLOW", LOOPBACK)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def ingest_samples(settings: Settings, workspace: str = "default") -> None:
    ingest_paths(KnowledgeStore(settings), [SAMPLES / "knowledge", SAMPLES / "guidelines"], workspace)


@pytest.fixture(scope="session")
def sample_chroma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample knowledge base embedded once per run; tests get their own copy of the directory."""
    template = make_settings(tmp_path_factory.mktemp("kb-template"))
    ingest_samples(template)
    return template.chroma_dir


@pytest.fixture
def live(settings: Settings, sample_chroma: Path) -> Iterator[LiveServer]:
    shutil.copytree(sample_chroma, settings.chroma_dir)
    server = LiveServer(settings).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated PostgreSQL database (schema + LangGraph checkpoint tables) that each test copies."""
    if not pg.available():
        pytest.skip(f"PostgreSQL is not reachable at {pg.ADMIN_URL}")
    name, url = pg.create_database("replydesk_tpl")
    try:
        migrate(make_settings(tmp_path_factory.mktemp("pg-template"), database_url=url))
        yield name
    finally:
        pg.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The same test on SQLite and on a throwaway PostgreSQL database (skipped if the server is down)."""
    if request.param == "sqlite":
        yield make_settings(tmp_path)
        return
    template = request.getfixturevalue("pg_template")
    name, url = pg.create_database(template=template)
    try:
        yield make_settings(tmp_path, database_url=url)
    finally:
        pg.drop_database(name)


@pytest.fixture
def backend_live(backend_settings: Settings, sample_chroma: Path) -> Iterator[LiveServer]:
    shutil.copytree(sample_chroma, backend_settings.chroma_dir)
    server = LiveServer(backend_settings).start()
    yield server
    server.stop()


@pytest.fixture
def llm_stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as stub:
        yield stub


def message_body(
    external_id: str = "m-1", text: str = "How long does shipping to the UK take?", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "platform": "x",
        "author": {"id": "u-1", "handle": "dana_rides", "display_name": "Dana Smith"},
        "text": text,
    }
    body.update(extra)
    return body


def wait_for_draft(client: httpx.Client, message_id: int, status: str = "pending") -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for draft in client.get("/v1/drafts", params={"limit": 200}).json()["data"]:
            if draft["message_id"] == message_id and draft["status"] == status:
                return dict(draft)
        return None

    return dict(wait_for(find))
