"""Cheap, protected metrics (issue 13, item 3).

OWASP API4:2023 Unrestricted resource consumption — a scrape (or a flood of them) costs a bounded number of
database statements, not full-table aggregates each time.
OWASP API8:2023 Security misconfiguration — with REPLYDESK_METRICS_TOKEN set, /metrics is not public.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from testkit.live import LiveServer, make_settings
from testkit.seed import seed_drafts


class StatementCounter:
    """Counts every SQL statement any engine of this process runs while active."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, *_args: Any, **_kwargs: Any) -> None:
        with self._lock:
            self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(Engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self)


@pytest.fixture
def quiet_server(tmp_path: Path, sample_chroma: Path) -> Iterator[LiveServer]:
    """No worker or relay polling the database: every statement counted is the scrape's."""
    settings = make_settings(tmp_path, worker_enabled=False, relay_enabled=False, metrics_cache_seconds=300)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    live = LiveServer(settings).start()
    yield live
    live.stop()


def test_a_scrape_costs_a_bounded_number_of_statements(quiet_server: LiveServer) -> None:
    """API4: the first scrape reads the queue figures in a fixed handful of statements whatever the queue's
    size; the scrapes after it, within the cache, run none."""
    seed_drafts(quiet_server.engine, 300)
    with httpx.Client(base_url=quiet_server.base_url, timeout=30) as client:
        with StatementCounter() as first:
            text = client.get("/metrics").text
        assert 'replydesk_queue_depth{status="pending"} 300.0' in text
        assert first.count <= 12
        with StatementCounter() as later:
            for _ in range(20):
                assert client.get("/metrics").status_code == 200
        assert later.count == 0


def test_metrics_token_is_required_when_set(tmp_path: Path, sample_chroma: Path) -> None:
    """API8: /metrics answers 401 without the configured bearer token, 200 with it."""
    settings = make_settings(tmp_path, worker_enabled=False, relay_enabled=False, metrics_token="scrape-t0ken")
    shutil.copytree(sample_chroma, settings.chroma_dir)
    live = LiveServer(settings).start()
    try:
        with httpx.Client(base_url=live.base_url, timeout=30) as client:
            assert client.get("/metrics").status_code == 401
            assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-t0ken"})
            assert ok.status_code == 200
            assert "replydesk_queue_depth" in ok.text
    finally:
        live.stop()
