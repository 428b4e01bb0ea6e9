"""One live server for the console's tests: the sample knowledge, the ten sample messages drafted by the real
worker (offline composer), and helpers to seed fresh drafts and sign in over plain HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import count

import httpx
import pytest
from sqlmodel import Session, col, func, select

from desk.keys import create_key
from desk.models import Draft, Message
from desk.scope import Scope
from knowledge.store import KnowledgeStore
from testkit.live import SAMPLES, LiveServer, make_settings, wait_for
from testkit.seed import seed_drafts
from tests.conftest import ingest_samples

_batches = count(1)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Console:
    """The shared server, with helpers the console's tests need."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.base_url = live.base_url

    def drafts(self, n: int = 1, workspace: str = "default") -> list[int]:
        """Fresh pending drafts for one test (seeded straight into the database)."""
        return seed_drafts(self.live.engine, n, prefix=f"console-{next(_batches)}", workspace=workspace)

    def key(self, role: str, *workspaces: str, name: str = "") -> str:
        scope = Scope.of(workspaces) if workspaces else Scope.of(["*"])
        return create_key(self.live.engine, role, name or f"{role}-{next(_batches)}", workspaces=scope)

    def draft(self, draft_id: int) -> Draft:
        with Session(self.live.engine) as session:
            found = session.get(Draft, draft_id)
            assert found is not None
            return found

    def live_store(self) -> KnowledgeStore:
        return KnowledgeStore(self.live.settings)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=30)

    def sign_in(self, key: str) -> httpx.Client:
        client = self.client()
        form = client.get("/signin")
        token = CSRF.search(form.text)
        assert token is not None
        done = client.post("/signin", data={"api_key": key, "csrf_token": token.group(1), "next": "/"})
        assert done.status_code == 303, done.text
        return client


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    settings = make_settings(tmp_path_factory.mktemp("console"))
    # Its own knowledge base, not a copy of the session's template: the console's tests write knowledge
    # (uploads) and then search it, and a copy of a directory that another client in this process still
    # holds open (same collection and segment ids, its index files not yet persisted) once served a search
    # that missed a chunk just ingested. Embedding the samples here costs a few seconds per package.
    ingest_samples(settings)
    live = LiveServer(settings).start()
    with live.client("admin") as admin:
        for line in (SAMPLES / "messages.jsonl").read_text().splitlines():
            assert admin.post("/v1/messages", json=json.loads(line)).status_code in (200, 201, 202)

    def drafted() -> bool:
        with Session(live.engine) as session:
            waiting = session.exec(select(func.count()).select_from(Message)
                                   .where(col(Message.status).in_(("queued", "processing")))).one()
            return waiting == 0 and session.exec(select(func.count()).select_from(Draft)).one() > 0

    wait_for(drafted, timeout=300)
    try:
        yield Console(live)
    finally:
        live.stop()
