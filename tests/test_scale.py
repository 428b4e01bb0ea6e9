"""Scale-out: standalone `replydesk worker` processes share one queue; a worker killed with SIGKILL in the
middle of a job loses nothing and doubles nothing (its lease runs out and another worker takes the job).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from desk.db import make_engine, migrate, read_session
from desk.inbound import MessageCreate
from desk.models import AuditEvent, Draft, DraftVersion, Job, Message
from desk.queue import submit_message
from desk.scope import INSTALLATION
from ground.settings import Settings
from testkit import pg
from testkit.live import ROOT, make_settings, process_env, wait_for

QUESTIONS = [
    "how long does shipping to the UK take?", "what's your return window?", "is there a student discount?",
    "how long does the Cargo take to charge?", "can I store the battery in my garage over winter?",
    "how do I pair the app?", "do you ship to Canada?", "what does the warranty cover?",
]
LEASE_SECONDS = 4.0

log = logging.getLogger(__name__)


@pytest.fixture
def pg_settings(pg_template: str, tmp_path: Path, sample_chroma: Path) -> Iterator[Settings]:
    name, url = pg.create_database(template=pg_template)
    settings = make_settings(tmp_path, database_url=url)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    try:
        yield settings
    finally:
        pg.drop_database(name)


@pytest.fixture
def sqlite_settings(tmp_path: Path, sample_chroma: Path) -> Settings:
    settings = make_settings(tmp_path)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    return settings


def _start_workers(settings: Settings, count: int) -> list[subprocess.Popen[bytes]]:
    env = process_env(settings, chroma_path=str(settings.chroma_dir), job_lease_seconds=str(LEASE_SECONDS),
                      worker_poll_seconds="0.05", log_format="json")
    command = [sys.executable, "-c", "from replydesk.cli import app; app()", "worker"]
    logs = settings.data_dir
    return [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=(logs / f"worker-{i}.log").open("wb"))
        for i in range(count)
    ]


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in workers:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run(settings: Settings, messages: int, workers: int) -> None:
    migrate(settings)
    engine = make_engine(settings)
    for i in range(messages):
        body = MessageCreate(external_id=f"scale-{i}", platform=("x", "instagram", "reddit")[i % 3],
                             author={"id": f"u{i}", "handle": f"rider{i}"},
                             text=QUESTIONS[i % len(QUESTIONS)])
        submit_message(engine, body, "default", scope=INSTALLATION)
    procs = _start_workers(settings, workers)
    victim = procs[0]
    try:
        def drafted() -> int:
            with read_session(engine) as session:
                return int(session.exec(select(func.count()).select_from(Draft)).one())

        def victim_job() -> int | None:
            """Freeze the victim and return a job it holds mid-run (its name carries its pid); with none,
            let it go on. Frozen, it cannot finish the job between this check and the kill."""
            _require_alive(settings, procs)
            if drafted() < messages // 10:
                return None
            os.kill(victim.pid, signal.SIGSTOP)
            # A read session: the frozen victim may hold SQLite's write lock, which a writer's BEGIN
            # IMMEDIATE would wait on until the busy timeout ("database is locked", seen in CI).
            with read_session(engine) as session:
                job = session.exec(select(Job).where(col(Job.status) == "running",
                                                     col(Job.worker).contains(f":{victim.pid}:"))).first()
            if job is None:
                os.kill(victim.pid, signal.SIGCONT)
            return job.id if job else None

        killed_job = wait_for(victim_job, timeout=300, interval=0.01)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        wait_for(lambda: drafted() >= messages, timeout=900, interval=0.5)
        wait_for(lambda: _count(engine, Job, col(Job.status) != "done") == 0, timeout=120, interval=0.5)
    finally:
        _stop(procs)
    with read_session(engine) as session:
        retried = session.get(Job, killed_job)
        jobs = session.exec(select(Job)).all()
    assert retried is not None and retried.status == "done" and retried.attempts >= 2
    assert retried.worker and f":{victim.pid}:" not in retried.worker
    assert len(jobs) == messages and all(j.status == "done" for j in jobs)
    assert _count(engine, Draft) == messages
    assert _distinct(engine, col(Draft.message_id)) == messages  # one draft per message, none doubled
    assert _count(engine, Message, col(Message.status) == "drafted") == messages
    assert _count(engine, AuditEvent, col(AuditEvent.action) == "drafted") == messages  # recorded once each
    assert _count(engine, DraftVersion) == messages
    workers_used = {j.worker.split(":")[1] for j in jobs if j.worker}
    # Every survivor shared the work (the victim may be killed in its very first job, finishing none).
    assert {str(p.pid) for p in procs[1:]} <= workers_used
    log.info(f"{engine.dialect.name}: {messages} messages, {workers} workers (one SIGKILLed mid-job: job "
          f"{killed_job} redone on attempt {retried.attempts}); drafts {messages}, duplicates 0")
    engine.dispose()


def _require_alive(settings: Settings, procs: list[subprocess.Popen[bytes]]) -> None:
    """Fail at once, with the worker's own log, if a worker exits before the test kills it."""
    for i, proc in enumerate(procs):
        if proc.poll() is not None:
            log_text = (settings.data_dir / f"worker-{i}.log").read_text(errors="replace")
            raise AssertionError(f"worker {i} exited with {proc.returncode} before the kill:\n{log_text[-4000:]}")


def _count(engine: Engine, model: Any, *where: Any) -> int:
    with read_session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def _distinct(engine: Engine, column: Any) -> int:
    with read_session(engine) as session:
        return int(session.exec(select(func.count(func.distinct(column)))).one())


@pytest.mark.load
def test_four_postgres_workers_thousand_messages_one_killed(pg_settings: Settings) -> None:
    _run(pg_settings, messages=1000, workers=4)


@pytest.mark.load
def test_sqlite_workers_survive_a_killed_worker(sqlite_settings: Settings) -> None:
    _run(sqlite_settings, messages=120, workers=2)
