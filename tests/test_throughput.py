"""Many drafts in flight per worker process, within what the LLM endpoint allows.

Real worker (lanes of the real graph), real SQLite and Chroma, the LLM replaced only at the network edge
by the loopback stub, which counts the requests it holds at once and answers 429 beyond its limit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.limits import limiter_for
from agent.runner import ReplyRunner
from desk.db import make_engine, migrate
from desk.inbound import MessageCreate
from desk.models import AuditEvent, Draft, Job, Message
from desk.queue import submit_message
from desk.scope import INSTALLATION
from desk.worker import Worker
from ground.settings import Settings
from testkit.live import ROOT, make_settings, process_env, wait_for
from testkit.llm_scripts import grounded_reply
from testkit.openai_stub import OpenAIStub

StartWorker = Callable[[Settings, Engine], None]
QUESTIONS = ["how long does shipping to the UK take?", "what's your return window?",
             "is there a student discount?", "how do I pair the app?", "do you ship to Canada?"]


@pytest.fixture
def kb_settings(tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub, request: pytest.FixtureRequest) -> Settings:
    # A model name per test: the limiter registry is per endpoint, so no test inherits another's state.
    settings = make_settings(tmp_path, llm_base_url=llm_stub.base_url, llm_api_key="test", llm_timeout=60.0,
                             llm_model=f"stub-{request.node.name}")
    shutil.copytree(sample_chroma, settings.chroma_dir)
    migrate(settings)
    llm_stub.reply_with(grounded_reply)
    return settings


def _submit(engine: Engine, count: int, prefix: str) -> None:
    for i in range(count):
        body = MessageCreate(external_id=f"{prefix}-{i}", platform="x", author={"id": f"u{i}", "handle": f"r{i}"},
                             text=QUESTIONS[i % len(QUESTIONS)])
        submit_message(engine, body, "default", scope=INSTALLATION)


def _count(engine: Engine, model: type, *where: object) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def _assert_each_drafted_once_by_llm(engine: Engine, messages: int) -> None:
    with Session(engine) as session:
        drafts = session.exec(select(Draft.message_id, Draft.composer)).all()
    assert len(drafts) == messages
    assert len({m for m, _c in drafts}) == messages  # none doubled
    assert {c for _m, c in drafts} == {"llm"}  # none fell back to the offline composer
    assert _count(engine, Message, col(Message.status) == "failed") == 0
    assert _count(engine, Message, col(Message.status) == "drafted") == messages
    assert _count(engine, AuditEvent, col(AuditEvent.action) == "drafted") == messages
    assert _count(engine, Job, col(Job.status) != "done") == 0


@pytest.fixture
def run_worker() -> Iterator[StartWorker]:
    started: list[tuple[threading.Event, threading.Thread, ReplyRunner]] = []

    def start(settings: Settings, engine: Engine) -> None:
        runner = ReplyRunner(settings)
        stop = threading.Event()
        thread = threading.Thread(target=Worker(settings, engine, runner).run_forever, args=(stop,), daemon=True)
        thread.start()
        started.append((stop, thread, runner))

    yield start
    for stop, thread, runner in started:
        stop.set()
        thread.join(timeout=120)
        runner.close()


def test_concurrency_cap_never_exceeded(kb_settings: Settings, llm_stub: OpenAIStub, run_worker: StartWorker) -> None:
    """16 lanes, an endpoint capped at 4 in our settings: the server never holds more than 4 of ours."""
    settings = kb_settings.model_copy(update={"worker_concurrency": 16, "llm_concurrency": 4})
    llm_stub.latency = 0.2
    engine = make_engine(settings)
    _submit(engine, 40, "cap")
    run_worker(settings, engine)
    wait_for(lambda: _count(engine, Draft) >= 40, timeout=600, interval=0.1)
    wait_for(lambda: _count(engine, Job, col(Job.status) != "done") == 0, timeout=60)
    assert 1 < llm_stub.max_in_flight <= 4  # overlapped, and never past the cap
    assert limiter_for(settings.llm_base_url, settings.llm_model).state().peak_in_flight <= 4
    _assert_each_drafted_once_by_llm(engine, 40)


def test_429_storm_loses_and_doubles_nothing(
    kb_settings: Settings, llm_stub: OpenAIStub, run_worker: StartWorker
) -> None:
    """An endpoint that takes 3 at once and refuses a burst of requests outright: every message still gets
    exactly one LLM draft; the limiter saw the 429s and lowered its cap."""
    settings = kb_settings.model_copy(update={"worker_concurrency": 12, "llm_concurrency": 12,
                                              "llm_max_retries": 0})
    llm_stub.latency = 0.1
    llm_stub.max_concurrent = 3
    llm_stub.limit_retry_after = 0.05
    llm_stub.fail_next(429, times=30, retry_after=0.05)
    engine = make_engine(settings)
    _submit(engine, 30, "storm")
    run_worker(settings, engine)
    wait_for(lambda: _count(engine, Draft) >= 30, timeout=600, interval=0.1)
    wait_for(lambda: _count(engine, Job, col(Job.status) != "done") == 0, timeout=60)
    state = limiter_for(settings.llm_base_url, settings.llm_model).state()
    assert state.rate_limited == 30 + llm_stub.rejected  # the limiter saw every 429 the server sent
    assert state.limit < 12  # it backed off
    assert llm_stub.max_in_flight <= 3
    _assert_each_drafted_once_by_llm(engine, 30)
    with Session(engine) as session:
        assert all(j.attempts == 1 for j in session.exec(select(Job)).all())  # absorbed below the job level


@pytest.mark.load
def test_kill_9_with_32_jobs_in_flight_drafts_each_message_once(kb_settings: Settings, llm_stub: OpenAIStub) -> None:
    """A worker process holding 32 jobs mid-LLM-call is SIGKILLed; a new one drafts every message once."""
    messages, lease = 40, 4.0
    engine = make_engine(kb_settings)
    _submit(engine, messages, "kill")
    llm_stub.latency = 120.0  # the victim's LLM calls never come back
    env = process_env(kb_settings, chroma_path=str(kb_settings.chroma_dir), job_lease_seconds=str(lease),
                      worker_poll_seconds="0.05", worker_concurrency="32", llm_concurrency="32",
                      llm_base_url=kb_settings.llm_base_url or "", llm_api_key="test", llm_model=kb_settings.llm_model,
                      llm_timeout="300",
                      # A named mode needs no first answer to confirm it: all 32 lanes call at once (with
                      # "auto" the first call negotiates alone, and this victim's calls never come back).
                      llm_structured_output="json_schema")
    command = [sys.executable, "-c", "from replydesk.cli import app; app()", "worker"]
    log_path = kb_settings.data_dir / "victim.log"
    victim = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_path.open("wb"))
    survivor = None
    try:
        def in_flight() -> bool:
            assert victim.poll() is None, log_path.read_text(errors="replace")[-4000:]
            running = _count(engine, Job, col(Job.status) == "running", col(Job.worker).contains(f":{victim.pid}:"))
            return running == 32 and llm_stub.in_flight == 32

        wait_for(in_flight, timeout=600, interval=0.1)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        assert _count(engine, Draft) == 0
        llm_stub.latency = 0.05
        survivor = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=(kb_settings.data_dir / "survivor.log").open("wb"))
        wait_for(lambda: _count(engine, Draft) >= messages, timeout=600, interval=0.2)
        wait_for(lambda: _count(engine, Job, col(Job.status) != "done") == 0, timeout=120, interval=0.2)
    finally:
        for proc in (victim, survivor):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    _assert_each_drafted_once_by_llm(engine, messages)
    with Session(engine) as session:
        retried = session.exec(select(Job).where(col(Job.attempts) >= 2)).all()
    assert len(retried) == 32  # exactly the jobs the victim held
    assert all(j.worker and f":{victim.pid}:" not in j.worker for j in retried)


def test_backpressure_in_metrics(tmp_path: Path, sample_chroma: Path, llm_stub: OpenAIStub) -> None:
    """/metrics shows lanes, LLM requests and the endpoint's limit, and recent time to draft."""
    from testkit.live import LiveServer

    settings = make_settings(tmp_path, llm_base_url=llm_stub.base_url, llm_api_key="test", llm_model="stub-metrics",
                             worker_concurrency=6, llm_concurrency=5)
    shutil.copytree(sample_chroma, settings.chroma_dir)
    llm_stub.reply_with(grounded_reply)
    server = LiveServer(settings).start()
    try:
        with server.client("cm") as cm:
            # Ready once the worker's models are loaded (a deploy waits for this before sending traffic).
            wait_for(lambda: cm.get("/readyz").status_code == 200, timeout=120)
            assert cm.get("/readyz").json() == {"status": "ready"}
            for i in range(6):
                body = {"external_id": f"bp-{i}", "platform": "x", "text": QUESTIONS[i % len(QUESTIONS)],
                        "author": {"id": f"u{i}", "handle": f"r{i}"}}
                assert cm.post("/v1/messages", json=body).status_code == 202
            wait_for(lambda: cm.get("/v1/drafts").json()["count"] == 6, timeout=300)
            text = cm.get("/metrics").text
    finally:
        server.stop()
    endpoint = f'endpoint="{llm_stub.base_url} stub-metrics"'
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if line and not line.startswith("#")}
    assert lines["replydesk_worker_lanes"] == 6
    assert lines[f"replydesk_llm_requests_total{{{endpoint}}}"] >= 6
    assert lines[f"replydesk_llm_concurrency_limit{{{endpoint}}}"] == 5
    assert lines[f"replydesk_llm_concurrency_max{{{endpoint}}}"] == 5
    assert lines[f"replydesk_llm_rate_limited_total{{{endpoint}}}"] == 0
    assert lines['replydesk_recent_time_to_draft_seconds{quantile="0.95"}'] >= \
        lines['replydesk_recent_time_to_draft_seconds{quantile="0.5"}'] > 0


def test_ready_at_once_without_a_worker(tmp_path: Path) -> None:
    """An API-only process has no models to load: /readyz answers 200 as soon as it serves."""
    from testkit.live import LiveServer

    server = LiveServer(make_settings(tmp_path, worker_enabled=False)).start()
    try:
        with server.client(None) as anonymous:
            answer = anonymous.get("/readyz")
    finally:
        server.stop()
    assert (answer.status_code, answer.json()) == (200, {"status": "ready"})


def test_warm_up_builds_each_workspace_retrieval_index(kb_settings: Settings) -> None:
    """Before the worker reports ready, the workspace's lexical index and in-process vectors exist: a burst's
    first lanes do not wait for one of them to build them."""
    from knowledge import lexical

    runner = ReplyRunner(kb_settings)
    try:
        store = runner.runtime.store
        worker = Worker(kb_settings, make_engine(kb_settings), runner)
        lexical._cache.pop((store.key, "default"), None)
        worker.warm()
        assert worker.ready.is_set()
        index = lexical._cache.get((store.key, "default"))
        assert index is not None and index.generation == store.generation("default")
        assert index._dense is not None and len(index.ids) > 0
    finally:
        runner.close()


def test_warm_up_embeds_the_claim_check_source_windows(kb_settings: Settings) -> None:
    """Before the worker reports ready, the windows the claim check compares a draft against are in the
    embedding cache: checking a draft that cites a retrieved chunk embeds only the draft's own sentences."""
    from agent.claims import check_claims
    from knowledge.embeddings import embedding_cache
    from knowledge.search import search_knowledge

    runner = ReplyRunner(kb_settings)
    try:
        worker = Worker(kb_settings, make_engine(kb_settings), runner)
        embedding_cache().clear()  # as in a new process: nothing embedded by earlier tests
        worker.warm()
        hits = search_knowledge(runner.runtime.store, "how long does shipping take", "default")
        assert hits
        cited = [hits[0].model_dump()]
        claim = "Orders placed on a weekday reach a sorting centre within four working days, we checked."
        cache = embedding_cache()
        misses = cache.misses
        verdicts = check_claims(claim, cited, names=set())
        assert [v.sentence for v in verdicts] == [claim]
        assert cache.misses - misses == 1  # the claim; every window of the cited chunk was there already
    finally:
        runner.close()
