"""A real uvicorn server on a loopback port with keys for each role; shared by tests and benchmarks."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from desk.db import make_engine, migrate
from desk.keys import create_key
from ground.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED_DATA = ROOT.parent / "shared" / "data"
LOOPBACK = "127.0.0.0/8,::1/128"


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll until condition() is truthy; fail the test (not assert a timing) if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "worker_poll_seconds": 0.02,
        "llm_base_url": None,
        "llm_api_key": None,
        "webhook_url": None,
        # Tests' receivers (webhooks, Slack, alerts) listen on loopback, which the outbound policy refuses
        # unless allowed: tests allow it, as an installation allows its internal receivers.
        "outbound_allow": LOOPBACK,
    }
    values.update(overrides)
    return Settings(**values)


def process_env(settings: Settings, **variables: str) -> dict[str, str]:
    """Environment of a Replydesk subprocess on these settings (data dir, database), plus
    ``REPLYDESK_<NAME>`` for each of ``variables``; the caller's own REPLYDESK_* variables are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLYDESK_")}
    env["REPLYDESK_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["REPLYDESK_DATABASE_URL"] = settings.database_url
    if settings.outbound_allow:
        env["REPLYDESK_OUTBOUND_ALLOW"] = settings.outbound_allow
    env.update({f"REPLYDESK_{name.upper()}": value for name, value in variables.items()})
    return env


class LiveServer:
    """A real uvicorn server on a loopback port, with keys for each role."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        migrate(settings)
        self.engine = make_engine(settings)
        self.keys = {role: create_key(self.engine, role, f"test-{role}") for role in ("admin", "cm", "viewer")}

    def start(self) -> LiveServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=60)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.engine.dispose()

    def client(self, role: str | None = "cm") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
