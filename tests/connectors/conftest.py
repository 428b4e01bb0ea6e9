"""One live Replydesk (worker and relay in-process) per test module, with a short delivery timeout so a
platform that accepts a post and answers late is a timeout; helpers to add a connector and follow a reply."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, func, select

from desk.models import Message
from testkit.live import LiveServer, make_settings, wait_for


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, sample_chroma: Path) -> Iterator[LiveServer]:
    # Pollers and gateways are driven by the tests themselves (a poller they can kill, a gateway they watch).
    settings = make_settings(tmp_path_factory.mktemp("connectors"), delivery_timeout=1.0, connectors_enabled=False)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    server = LiveServer(settings).start()
    yield server
    server.stop()


def add_connector(desk: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    with desk.client("admin") as admin:
        answer = admin.post("/v1/connectors", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def message_count(desk: LiveServer) -> int:
    with Session(desk.engine) as session:
        return int(session.exec(select(func.count()).select_from(Message)).one())


def pending_draft(client: httpx.Client, message_id: int) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for draft in client.get("/v1/drafts", params={"limit": 200}).json()["data"]:
            if draft["message_id"] == message_id and draft["status"] == "pending":
                return dict(client.get(f"/v1/drafts/{draft['id']}").json())
        return None

    return dict(wait_for(find))


def approve(client: httpx.Client, draft: dict[str, Any], text: str) -> None:
    answer = client.post(f"/v1/drafts/{draft['id']}/approve", json={"text": text},
                         headers={"If-Match": f'"{draft["version"]}"'})
    assert answer.status_code == 200, answer.text


def delivery_of(client: httpx.Client, draft_id: int, status: str = "delivered") -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        rows = client.get("/v1/deliveries", params={"draft_id": draft_id}).json()["data"]
        return dict(rows[0]) if rows and rows[0]["status"] == status else None

    return dict(wait_for(find))
