"""The job worker: drafts new messages and resumes threads with CM decisions.

Runs as a thread inside the API process by default (``replydesk serve``) or standalone
(``replydesk worker``). The graph call happens outside any database transaction.

A worker runs up to ``worker_concurrency`` jobs at once, one per lane of a bounded thread pool: a draft
spends nearly all its time waiting for the LLM endpoint, so lanes overlap those waits, while the graph's
own CPU work (a few ms per message; embeddings of concurrent lanes are batched in knowledge/embeddings)
is short enough to share the GIL. The lanes share one runner: one graph, knowledge store, embedding model
and index per process. One dispatcher claims a job only when a lane is free, so a process never holds
leases on jobs it is not running; one heartbeat keeps every running job's lease (LeaseKeeper). A killed
process stops renewing: its jobs are claimed again when their leases run out, and the fence on each job
keeps a late finisher from recording a second draft.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.claims import embed_source_windows
from agent.runner import ReplyRunner
from agent.state import Author, InboundMessage, ReviewDecision, ThreadTurn
from desk.audit import WORKER, audit_draft, record_version
from desk.db import read_session, session_scope
from desk.gauges import worker_gauges
from desk.jobs import LeaseKeeper, abandoned_jobs, claim_job, claim_jobs, finish_job, keep_lease
from desk.models import Draft, Job, Message, utcnow
from desk.priority import ResponseTargets
from desk.queue import record_review
from ground import heap
from ground.settings import Settings
from knowledge.embeddings import CACHE_SIZE, embed_texts, vocabulary_words
from knowledge.search import search_knowledge

log = logging.getLogger("replydesk.worker")
# Free lanes are filled by one claim of up to this many jobs (a burst of messages finds most lanes free);
# small, so that one process does not take a whole backlog's head from its peers at once.
_CLAIM_BATCH = 8
# Workspaces whose retrieval indexes warm-up builds (the default first); the others build on first use.
_WARM_WORKSPACES = 8
# How long warm-up may spend embedding knowledge for the claim check (the sample brand's 568 windows: ~4.5 s
# on a 2-core AMD EPYC); a larger knowledge base warms its first chunks and embeds the rest on first use.
_WARM_CLAIM_SECONDS = 10.0


def thread_for(message_id: int) -> str:
    return f"message-{message_id}"


def author_history(session: Session, message: Message, limit: int = 5) -> list[str]:
    """The author's earlier messages on this platform in this workspace, oldest first."""
    author_id = (message.author or {}).get("id")
    if not author_id or message.id is None:
        return []
    rows = session.exec(
        select(Message.text)
        .where(Message.workspace == message.workspace, Message.platform == message.platform,
               Message.author_id == str(author_id), col(Message.id) < message.id)
        .order_by(col(Message.id).desc())
        .limit(limit)
    ).all()
    return list(rows)[::-1]


def inbound_of(message: Message, history: list[str] | None = None) -> InboundMessage:
    return InboundMessage(
        id=message.id or 0,
        workspace=message.workspace,
        platform=message.platform,
        external_id=message.external_id,
        author=Author.model_validate(message.author),
        text=message.text,
        thread=[ThreadTurn.model_validate(t) for t in message.thread],
        public=message.public,
        author_history=history or [],
    )


class Worker:
    def __init__(self, settings: Settings, engine: Engine, runner: ReplyRunner) -> None:
        self.settings = settings
        self.engine = engine
        self.runner = runner
        self.name = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        # Guidelines are read here, at draft time, never in a request. Embedded Chroma is safe for
        # this: worker processes only read it (the one writer is `replydesk ingest` / the API).
        self.targets = ResponseTargets(runner.runtime.store, settings.default_response_target_hours)
        # Set once the models are loaded (GET /readyz): a process is not ready to take a backlog while it
        # still loads them, which costs seconds of CPU that would otherwise land on the first drafts.
        self.ready = threading.Event()

    def warm(self) -> None:
        """Load what every draft needs (triage models, the embedding model's first run, the tokenizer's word
        list the name checks read) before the first job, once here rather than in every lane at once. A
        failure is logged: models then load on first use."""
        try:
            self.runner.runtime.triager.warm()
            embed_texts(["warming up"])
            vocabulary_words()
            workspaces = self._warm_workspaces()
            self._warm_retrieval(workspaces)
            self._warm_claim_sources(workspaces)
        except Exception:
            log.exception("warm-up failed; models load on first use")
        heap.trim()  # fitting the triage models peaks well above what they keep
        self.ready.set()

    def _warm_retrieval(self, workspaces: list[str]) -> None:
        """Build each workspace's retrieval index (lexical statistics, the vectors ranked in process) with one
        search, here: built on first use, a burst's first lanes all waited for one of them to build it."""
        store = self.runner.runtime.store
        with store.pinned():
            for workspace in workspaces:
                search_knowledge(store, "warming up", workspace)

    def _warm_claim_sources(self, workspaces: list[str]) -> None:
        """Embed the claim check's source windows of the warm workspaces' chunks (guidelines are never cited),
        up to half the embedding cache so that messages' own texts still find room, and for at most
        ``_WARM_CLAIM_SECONDS``. Embedded on first use, a burst's first drafts all embedded their sources'
        windows at once: their check took ~1 s instead of ~1 ms, and the next lanes' triage queued behind it."""
        store = self.runner.runtime.store
        budget, deadline = CACHE_SIZE // 2, time.monotonic() + _WARM_CLAIM_SECONDS
        for workspace in workspaces:
            left = deadline - time.monotonic()
            if budget <= 0 or left <= 0:
                return
            texts = (text for _id, text, meta in store.records(workspace) if meta.get("kind") != "guideline")
            budget -= embed_source_windows(texts, budget, left)

    def _warm_workspaces(self) -> list[str]:
        """The workspaces warm-up prepares: the default first, at most ``_WARM_WORKSPACES``."""
        known = self.runner.runtime.store.workspaces()
        default = self.settings.workspace
        return (([default] if default in known else []) + [w for w in known if w != default])[:_WARM_WORKSPACES]

    def run_once(self) -> bool:
        """Process one job if there is one; True when a job was processed."""
        self._sweep()
        job = self._claim()
        if job is None:
            return False
        worker_gauges.job_started()
        with keep_lease(self.engine, job, self.settings.job_lease_seconds):
            self._process(job)
        return True

    def _claim(self) -> Job | None:
        return claim_job(self.engine, self.name, self.settings.job_lease_seconds, self.settings.job_max_attempts)

    def _claim_many(self, limit: int, probe: bool) -> list[Job]:
        return claim_jobs(self.engine, self.name, self.settings.job_lease_seconds, self.settings.job_max_attempts,
                          limit, probe)

    def _process(self, job: Job) -> None:
        ok = False
        try:
            if job.kind == "draft":
                self._draft(job)
            elif job.kind == "resume":
                self._resume(job)
            else:
                raise ValueError(f"unknown job kind {job.kind!r}")
            ok = True
        except Exception as exc:  # one bad job must not stop the worker; it is retried, then failed visibly
            log.exception("job %s (%s) failed on attempt %s", job.id, job.kind, job.attempts)
            try:
                self._failed(job, f"{type(exc).__name__}: {exc}")
            except Exception:  # the database is away: the lease runs out and the job is retried
                log.exception("could not record the failure of job %s", job.id)
        finally:
            worker_gauges.job_finished(ok)

    def run_forever(self, stop: threading.Event) -> None:
        lanes = self.settings.worker_concurrency
        worker_gauges.set_lanes(lanes)
        self.warm()
        if lanes > 1:
            self._run_lanes(stop, lanes)
            return
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database may be briefly unavailable; keep the worker alive
                log.exception("worker loop error")
                busy = False
            if not busy:
                stop.wait(self.settings.worker_poll_seconds)

    def _run_lanes(self, stop: threading.Event, lanes: int) -> None:
        """Claim a job whenever a lane is free and run it there; on stop, let the running jobs finish."""
        poll = self.settings.worker_poll_seconds
        keeper = LeaseKeeper(self.engine, self.settings.job_lease_seconds)
        free = threading.Semaphore(lanes)
        pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="replydesk-lane")
        swept = 0.0
        idle = True  # the last claim found nothing: look before taking the write lock

        def lane(job: Job) -> None:
            try:
                self._process(job)
            finally:
                keeper.remove(job)
                free.release()

        try:
            while not stop.is_set():
                if time.monotonic() - swept >= max(poll, 1.0):
                    swept = time.monotonic()
                    try:
                        self._sweep()
                    except Exception:
                        log.exception("worker sweep error")
                if not free.acquire(timeout=poll):
                    continue  # every lane busy
                lanes_free = 1
                while lanes_free < _CLAIM_BATCH and free.acquire(blocking=False):
                    lanes_free += 1
                try:
                    jobs = self._claim_many(lanes_free, probe=idle)
                except Exception:  # the database may be briefly unavailable; keep the worker alive
                    log.exception("worker loop error")
                    jobs = []
                idle = not jobs
                for _unused in range(lanes_free - len(jobs)):
                    free.release()
                for job in jobs:
                    keeper.add(job)
                    worker_gauges.job_started()
                    pool.submit(lane, job)
                if not jobs:
                    stop.wait(poll)
        finally:
            pool.shutdown(wait=True)
            keeper.close()

    def _draft(self, job: Job) -> None:
        with read_session(self.engine) as session:
            message = session.get(Message, job.message_id)
            history = author_history(session, message) if message is not None else []
        if message is None:
            raise ValueError(f"message {job.message_id} is gone")
        thread = thread_for(message.id or 0)
        started = time.perf_counter()
        request = self.runner.start(thread, inbound_of(message, history))
        graph_seconds = time.perf_counter() - started
        if request is None:
            raise RuntimeError("the graph finished without asking for review")
        target = self.targets.hours(message.workspace, message.platform)
        recorded: list[float | None] = []
        with session_scope(self.engine) as session:
            if finish_job(session, job):
                fresh = session.get(Message, message.id)
                assert fresh is not None
                draft = record_review(session, fresh, request, thread, target_hours=target,
                                      graph_seconds=graph_seconds)
                recorded.append(draft.draft_seconds)
        for seconds in recorded:  # committed
            worker_gauges.draft_recorded(seconds)

    def _resume(self, job: Job) -> None:
        with read_session(self.engine) as session:
            draft = session.get(Draft, job.draft_id)
        if draft is None:
            raise ValueError(f"draft {job.draft_id} is gone")
        decision = ReviewDecision.model_validate(job.payload)
        started = time.perf_counter()
        request = self.runner.resume(draft.graph_thread, decision)
        graph_seconds = time.perf_counter() - started
        with session_scope(self.engine) as session:
            if not finish_job(session, job):
                return
            if request is not None and decision.action == "regenerate":
                message = session.get(Message, draft.message_id)
                assert message is not None
                target = self.targets.hours(message.workspace, message.platform)
                record_review(session, message, request, draft.graph_thread, target_hours=target,
                              graph_seconds=graph_seconds)

    def _failed(self, job: Job, error: str) -> None:
        final = job.attempts >= self.settings.job_max_attempts
        with session_scope(self.engine) as session:
            if not finish_job(session, job, "failed" if final else "queued", error):
                return
            if final:
                self._mark_item_failed(session, job, error)

    def _sweep(self) -> None:
        """Jobs whose worker died on their last attempt become visible failures, not silent ones."""
        for job in abandoned_jobs(self.engine, self.settings.job_max_attempts):
            self._failed(job, "worker lost during the last attempt")

    @staticmethod
    def _mark_item_failed(session: Session, job: Job, error: str) -> None:
        if job.kind == "draft" and job.message_id is not None:
            message = session.get(Message, job.message_id)
            if message is not None:
                message.status, message.error = "failed", error
                session.add(message)
        elif job.kind == "resume" and job.draft_id is not None:
            draft = session.get(Draft, job.draft_id)
            if draft is not None and draft.status == "regenerating":
                # Give the item back to the CMs rather than leaving it stuck.
                draft.status, draft.version, draft.updated_at = "pending", draft.version + 1, utcnow()
                draft.note = f"Regeneration failed: {error}"
                session.add(draft)
                session.flush()
                record_version(session, draft, "regenerate_failed", WORKER)
                audit_draft(session, draft, WORKER, "regenerate_failed", from_version=draft.version - 1,
                            error=error[:500])
