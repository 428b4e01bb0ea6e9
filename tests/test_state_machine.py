"""A property-based state machine over ingest / draft / edit / approve / reject / regenerate / claim /
crash / relay, on the real queue, worker, graph and relay (SQLite and PostgreSQL).

After every step: deliveries ⊆ approved drafts, every delivered text is the approved version's text,
and the audit rows are exactly the transitions (replaying them gives each draft's current state, and the
CMs' rows are exactly the writes that succeeded).
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import Session, col, select

from agent.graph import AgentRuntime
from agent.runner import ReplyRunner
from api.errors import ApiError
from desk import decisions
from desk.db import make_engine, migrate
from desk.inbound import MessageCreate
from desk.jobs import claim_job
from desk.models import AuditEvent, Delivery, Draft, DraftVersion, Message
from desk.queue import submit_message
from desk.relay import Relay
from desk.scope import INSTALLATION
from desk.worker import Worker, inbound_of
from ground.settings import Settings
from testkit import pg
from testkit.live import make_settings

TEXTS = ["how long does shipping to the UK take?", "what's your return window?", "is there a student discount?",
         "My battery caught fire while charging", "how do I pair the app?", "buy crypto now http://a http://b"]
CMS = [("ann", "cm"), ("bob", "cm"), ("root", "admin")]
# The status each audited action leaves a draft in.
RESULT = {"drafted": "pending", "redrafted": "pending", "edit": "pending", "assign": "pending", "release": "pending",
          "regenerate_failed": "pending", "approve": "approved", "reject": "rejected", "regenerate": "regenerating",
          "stale": "stale", "delivered": "delivered", "delivery_failed": "delivery_failed", "requeue": "approved"}
STATUS_ONLY = {"delivered", "delivery_failed", "requeue"}  # the relay's transitions keep the version
STATS: Counter[str] = Counter()  # what the examples reached, logged so a run shows it explored something
logger = logging.getLogger(__name__)


def make_machine(new_settings: Callable[[], tuple[Settings, Callable[[], None]]],
                 runtime: AgentRuntime) -> type[RuleBasedStateMachine]:
    class QueueMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.settings, self._drop = new_settings()
            self.engine = make_engine(self.settings)
            self.runner = ReplyRunner(self.settings, runtime)
            self.worker = Worker(self.settings, self.engine, self.runner)
            self.relay = Relay(self.settings, self.engine)
            self.counter = itertools.count()
            self.cm_writes: list[tuple[int, str, str, int | None, int]] = []

        def teardown(self) -> None:
            drafts = self._drafts()
            log = self.settings.delivery_log
            STATS["examples"] += 1
            STATS["drafts"] += len(drafts)
            STATS["cm_writes"] += len(self.cm_writes)
            STATS["sent"] += len(log.read_text().splitlines()) if log.exists() else 0
            for draft in drafts:
                STATS[draft.status] += 1
            self.relay.close()
            self.runner.close()
            self.engine.dispose()
            self._drop()

        # ---- helpers -------------------------------------------------------------------------------
        def _drafts(self) -> list[Draft]:
            with Session(self.engine) as session:
                return list(session.exec(select(Draft).order_by(col(Draft.id))).all())

        def _pick(self, data: st.DataObject) -> tuple[Draft, int] | None:
            drafts = self._drafts()
            if not drafts:
                return None
            draft = data.draw(st.sampled_from(drafts))
            version = data.draw(st.sampled_from([draft.version, draft.version, max(1, draft.version - 1)]))
            return draft, version

        def _write(self, action: str, actor: tuple[str, str], call: Callable[[], Draft], version: int) -> None:
            try:
                draft = call()
            except ApiError:
                return  # refused (stale, decided, locked, four-eyes, empty): nothing may change
            self.cm_writes.append((draft.id or 0, action, actor[0], version, draft.version))

        # ---- rules ----------------------------------------------------------------------------------
        @initialize(texts=st.lists(st.sampled_from(TEXTS), min_size=2, max_size=4))
        def queue_with_drafts(self, texts: list[str]) -> None:
            """Start from a queue that has drafts in it, as a real one does."""
            for text in texts:
                self.ingest(text, None)
            while self.worker.run_once():
                pass

        @rule(text=st.sampled_from(TEXTS), thread=st.sampled_from([None, None, "t1", "t2"]))
        def ingest(self, text: str, thread: str | None) -> None:
            n = next(self.counter)
            body = MessageCreate.model_validate({"external_id": f"sm-{n}", "platform": "instagram", "text": text,
                                                 "thread_id": thread, "author": {"id": f"u{n}", "handle": f"h{n}"}})
            submit_message(self.engine, body, "default", scope=INSTALLATION)

        @rule(jobs=st.integers(1, 3))
        def work(self, jobs: int) -> None:
            for _ in range(jobs):
                self.worker.run_once()

        @rule()
        def crash_worker(self) -> None:
            """A worker takes a job, maybe runs the graph, and dies before recording anything."""
            job = claim_job(self.engine, "doomed", 0.0001, self.settings.job_max_attempts)
            if job is not None and job.kind == "draft" and job.message_id is not None:
                with Session(self.engine) as session:
                    message = session.get(Message, job.message_id)
                if message is not None:
                    self.runner.start(f"message-{message.id}", inbound_of(message))

        @rule()
        def relay_once(self) -> None:
            while self.relay.run_once():
                pass

        @rule()
        def crash_relay(self) -> None:
            """A relay sends a batch and dies before recording the outcome: it all goes out again later."""
            for delivery, message in self.relay._claim():
                self.relay._send(delivery, message)

        @rule(data=st.data(), actor=st.sampled_from(CMS), edited=st.booleans())
        def approve(self, data: st.DataObject, actor: tuple[str, str], edited: bool) -> None:
            picked = self._pick(data)
            if picked:
                draft, version = picked
                text = f"Approved reply {next(self.counter)}." if edited else None
                self._write("approve", actor, lambda: decisions.approve_draft(
                    self.engine, draft.id or 0, version, text, actor, scope=INSTALLATION), version)

        @rule(data=st.data(), actor=st.sampled_from(CMS))
        def edit(self, data: st.DataObject, actor: tuple[str, str]) -> None:
            picked = self._pick(data)
            if picked:
                draft, version = picked
                text = f"Edited by {actor[0]} #{next(self.counter)}."
                self._write("edit", actor, lambda: decisions.edit_draft(
                    self.engine, draft.id or 0, version, text, actor, scope=INSTALLATION), version)

        @rule(data=st.data(), actor=st.sampled_from(CMS))
        def reject(self, data: st.DataObject, actor: tuple[str, str]) -> None:
            picked = self._pick(data)
            if picked:
                draft, version = picked
                self._write("reject", actor, lambda: decisions.reject_draft(
                    self.engine, draft.id or 0, version, "no", actor, scope=INSTALLATION), version)

        @rule(data=st.data(), actor=st.sampled_from(CMS))
        def regenerate(self, data: st.DataObject, actor: tuple[str, str]) -> None:
            picked = self._pick(data)
            if picked:
                draft, version = picked
                self._write("regenerate", actor, lambda: decisions.regenerate_draft(
                    self.engine, draft.id or 0, version, "shorter", actor, scope=INSTALLATION), version)

        @rule(data=st.data(), actor=st.sampled_from(CMS), release=st.booleans())
        def claim(self, data: st.DataObject, actor: tuple[str, str], release: bool) -> None:
            picked = self._pick(data)
            if picked:
                draft, version = picked
                self._write("release" if release else "assign", actor, lambda: decisions.assign_draft(
                    self.engine, draft.id or 0, version, None if release else actor[0], 10, actor,
                    scope=INSTALLATION), version)

        @rule()
        def four_eyes(self) -> None:
            from desk.db import session_scope
            from desk.models import WorkspaceConfig

            with session_scope(self.engine) as session:
                config = session.get(WorkspaceConfig, "default") or WorkspaceConfig(workspace="default")
                config.four_eyes = not config.four_eyes
                session.add(config)

        # ---- invariants -----------------------------------------------------------------------------
        @invariant()
        def deliveries_only_for_approved_text(self) -> None:
            with Session(self.engine) as session:
                deliveries = session.exec(select(Delivery)).all()
                approvals = {e.draft_id: e for e in session.exec(
                    select(AuditEvent).where(col(AuditEvent.action) == "approve")).all()}
                versions = {(v.draft_id, v.version): v.text for v in session.exec(select(DraftVersion)).all()}
                drafts = {d.id: d for d in session.exec(select(Draft)).all()}
            by_uid = {d.uid: d for d in deliveries}
            assert len({d.draft_id for d in deliveries}) == len(deliveries)
            for delivery in deliveries:
                approval = approvals.get(delivery.draft_id)
                assert approval is not None, f"delivery without approval for draft {delivery.draft_id}"
                assert delivery.text == versions[(delivery.draft_id, approval.to_version or 0)]
            for draft in drafts.values():
                has = any(d.draft_id == draft.id for d in deliveries)
                assert has == (draft.status in ("approved", "delivered", "delivery_failed")), draft.status
            log = self.settings.delivery_log
            for line in log.read_text().splitlines() if log.exists() else []:
                sent = json.loads(line)
                row = by_uid[sent["delivery_id"]]  # every send is an outbox row: nothing else is ever sent
                assert sent["draft_id"] == row.draft_id and sent["text"] == row.text

        @invariant()
        def audit_rows_are_the_transitions(self) -> None:
            with Session(self.engine) as session:
                events = session.exec(select(AuditEvent).where(col(AuditEvent.draft_id).is_not(None))
                                      .order_by(col(AuditEvent.id))).all()
                drafts = session.exec(select(Draft)).all()
            chains: dict[int, list[AuditEvent]] = {}
            for event in events:
                chains.setdefault(event.draft_id or 0, []).append(event)
            for draft in drafts:
                chain = chains.get(draft.id or 0, [])
                assert chain and chain[0].action == "drafted" and chain[0].to_version == 1
                version, status = 1, "pending"
                for event in chain[1:]:
                    assert event.from_version == version, (draft.id, [(e.action, e.to_version) for e in chain])
                    expected = version if event.action in STATUS_ONLY else version + 1
                    assert event.to_version == expected
                    version, status = expected, RESULT[event.action]
                assert (version, status) == (draft.version, draft.status)
            cm_rows = [(e.draft_id, e.action, e.actor, e.from_version, e.to_version)
                       for e in events if e.role != "system"]
            assert cm_rows == self.cm_writes

    return QueueMachine


@pytest.mark.load
def test_queue_state_machine(backend_settings: Settings, sample_chroma: Path, tmp_path: Path,
                             request: pytest.FixtureRequest) -> None:
    base = backend_settings.model_copy(update={"chroma_path": sample_chroma, "job_max_attempts": 3,
                                               "delivery_claim_seconds": 0.001, "job_lease_seconds": 30.0})
    runtime = AgentRuntime.from_settings(base)
    counter = itertools.count()
    if base.is_sqlite:
        template = tmp_path / "template"
        migrate(base.model_copy(update={"data_dir": template}))

    def new_settings() -> tuple[Settings, Callable[[], None]]:
        data_dir = tmp_path / f"example-{next(counter)}"
        if base.is_sqlite:
            data_dir.mkdir()
            with sqlite3.connect(template / "replydesk.db") as src, sqlite3.connect(data_dir / "replydesk.db") as dst:
                src.backup(dst)
            return base.model_copy(update={"data_dir": data_dir}), lambda: shutil.rmtree(data_dir, True)
        name, url = pg.create_database(template=request.getfixturevalue("pg_template"))
        made = make_settings(data_dir, database_url=url, chroma_path=sample_chroma, job_max_attempts=3,
                             delivery_claim_seconds=0.001, job_lease_seconds=30.0)
        return made, lambda: pg.drop_database(name)

    STATS.clear()
    run_state_machine_as_test(
        make_machine(new_settings, runtime),
        settings=settings(max_examples=15, stateful_step_count=40, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck)),
    )
    logger.info("state machine (%s): %s", base.sqlalchemy_url.split(":")[0], dict(STATS))
    assert STATS["approved"] + STATS["delivered"] > 0 and STATS["sent"] > 0  # the runs reached deliveries
