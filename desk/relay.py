"""The outbox relay: delivers approved replies at least once; receivers dedupe on ``webhook-id``.

Only rows in the deliveries table are ever sent, and only the approval transaction writes them.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from desk import wake
from desk.audit import RELAY, Actor, audit_draft
from desk.db import read_session, session_scope
from desk.errors import Conflict, NotFound
from desk.models import Delivery, Draft, Message, utcnow
from desk.platforms import PlatformDeferred, PlatformRefused, PlatformReply, PlatformSender
from desk.scope import Scope
from desk.signing import sign
from desk.workspaces import delivery_target, workspace_config
from ground.outbound import guarded_client
from ground.redact import redact, redact_url
from ground.settings import Settings

log = logging.getLogger("replydesk.relay")
BATCH = 20  # deliveries claimed (and marked delivered) per transaction
_IDLE_PROBE_MAX = 1.0  # seconds between an idle relay's probes of the outbox
__all__ = ["Relay", "backoff_seconds", "requeue_delivery", "sign"]


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter, capped at 10 minutes."""
    return float(random.uniform(0, min(600.0, 2.0 ** attempt)))


class Relay:
    def __init__(self, settings: Settings, engine: Engine, platforms: PlatformSender | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.client = guarded_client(settings, settings.delivery_timeout)  # the outbound address policy
        self.platforms = platforms  # platform connectors: a message that came through one is answered there

    def close(self) -> None:
        self.client.close()
        if self.platforms is not None:
            self.platforms.close()

    def _due(self, now: datetime) -> Any:
        return select(Delivery).where(col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= now)

    def _claim(self) -> list[tuple[Delivery, Message]]:
        """Claim up to ``BATCH`` due deliveries in one transaction (none: no write transaction at all)."""
        now = utcnow()
        with read_session(self.engine) as session:  # idle polls must not take SQLite's write lock
            if session.exec(self._due(now).limit(1)).first() is None:
                return []
        with session_scope(self.engine) as session:
            query = self._due(now).order_by(col(Delivery.id)).limit(BATCH)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            deliveries = session.exec(query).all()
            messages = {m.id: m for m in session.exec(
                select(Message).where(col(Message.id).in_({d.message_id for d in deliveries})))}
            for delivery in deliveries:
                # Pushing next_attempt_at forward is the claim: a crashed relay's rows come back later.
                delivery.next_attempt_at = now + timedelta(seconds=self.settings.delivery_claim_seconds)
                delivery.attempts += 1
                session.add(delivery)
            session.flush()
            return [(d, messages[d.message_id]) for d in deliveries]

    def run_once(self) -> bool:
        """Deliver one batch; False when nothing was due."""
        claimed = self._claim()
        sent: list[tuple[Delivery, str | PlatformReply]] = []
        targets: dict[str, tuple[str | None, str | None]] = {}  # per workspace, read once per batch
        # Stop well inside the claim: a slow webhook must not let another relay retry a row this one holds.
        deadline = time.monotonic() + self.settings.delivery_claim_seconds / 2 - self.settings.delivery_timeout
        for n, (delivery, message) in enumerate(claimed):
            if n and time.monotonic() > deadline:
                self._release([d for d, _m in claimed[n:]])
                break
            try:
                reply = self.platforms.send(delivery, message) if self.platforms is not None else None
                if reply is None:  # not a connector's message: the workspace's webhook (or the delivery log)
                    if delivery.workspace not in targets:
                        targets[delivery.workspace] = self._target(delivery.workspace)
                    sent.append((delivery, self._send(delivery, message, targets[delivery.workspace])))
                else:
                    sent.append((delivery, reply))
            except PlatformDeferred as exc:  # a rate limit: later, and this attempt does not count
                self._deferred(delivery, exc.wait, redact(str(exc)))
            except PlatformRefused as exc:  # for good: failed now, with the platform's reason
                self._failed(delivery, redact(f"refused by {delivery.platform}: {exc}"), final=True)
            except Exception as exc:  # any failure is retried with backoff, then dead-lettered visibly
                self._failed(delivery, redact(f"{type(exc).__name__}: {exc}"))  # stored, logged, served
        if sent:
            self._delivered(sent)
        return bool(claimed)

    def run_forever(self, stop: threading.Event) -> None:
        """Deliver while there is work; when idle, probe the outbox less and less often (up to once a second)
        unless an approval in this process writes a delivery (``wake.outbox``). The loop still ticks every
        poll interval, so it stops promptly. Idle probes at the poll interval cost a read transaction each: at
        the tests' 20 ms they were most of what a single-lane process spent beside its drafts (bench loop's
        single lane: 467 -> 272 ms of CPU per message with this and the worker's idle probe). Deliveries
        written by another process, and retries coming due, wait up to a second more."""
        poll = self.settings.worker_poll_seconds
        idle = poll
        seen = wake.outbox.value
        next_probe = 0.0
        while not stop.is_set():
            if wake.outbox.value == seen and time.monotonic() < next_probe:
                stop.wait(poll)
                continue
            seen = wake.outbox.value
            try:
                busy = self.run_once()
            except Exception:
                log.exception("relay loop error")
                busy = False
            idle = poll if busy else min(max(poll, _IDLE_PROBE_MAX), idle * 2)
            next_probe = time.monotonic() + (0.0 if busy else idle)
            if not busy:
                stop.wait(poll)

    def payload(self, delivery: Delivery, message: Message) -> dict[str, Any]:
        return {
            "type": "reply.approved",
            "delivery_id": delivery.uid,
            "draft_id": delivery.draft_id,
            "message_id": delivery.message_id,
            "workspace": delivery.workspace,
            "platform": delivery.platform,
            "in_reply_to": {"external_id": message.external_id, "thread_id": message.thread_id},
            "author": message.author,
            "public": message.public,
            "text": delivery.text,
        }

    def _target(self, workspace: str) -> tuple[str | None, str | None]:
        with read_session(self.engine) as session:
            return delivery_target(self.settings, workspace_config(session, workspace))

    def _send(self, delivery: Delivery, message: Message,
              target: tuple[str | None, str | None] | None = None) -> str:
        """Deliver once to (webhook url, secret) — the workspace's, read now if not given — or to the
        delivery log when there is no url; returns where it went."""
        body = json.dumps(self.payload(delivery, message), separators=(",", ":")).encode()
        url, secret = target or self._target(delivery.workspace)
        if not url:
            self.settings.ensure_dirs()
            with self.settings.delivery_log.open("ab") as log_file:
                log_file.write(body + b"\n")
            return f"log:{self.settings.delivery_log}"
        timestamp = str(int(time.time()))
        headers = {"content-type": "application/json", "webhook-id": delivery.uid, "webhook-timestamp": timestamp}
        if secret:
            headers["webhook-signature"] = sign(secret, delivery.uid, timestamp, body)
        response = self.client.post(url, content=body, headers=headers)
        response.raise_for_status()
        return redact_url(url)  # kept as the delivery's target: shown to viewers, so without secrets

    def _release(self, deliveries: list[Delivery]) -> None:
        """Hand claimed but unsent deliveries back at once, their attempt not counted."""
        with session_scope(self.engine) as session:
            for delivery in deliveries:
                session.exec(
                    update(Delivery).where(col(Delivery.id) == delivery.id, col(Delivery.status) == "pending")
                    .values(next_attempt_at=utcnow(), attempts=col(Delivery.attempts) - 1)
                )

    def _delivered(self, sent: list[tuple[Delivery, str | PlatformReply]]) -> None:
        """Mark a batch delivered in one transaction (a crash before it re-sends them: at least once; a
        platform connector looks for its post before posting again)."""
        with session_scope(self.engine) as session:
            by_target: dict[str, list[Delivery]] = defaultdict(list)
            marked: list[Delivery] = []
            for delivery, target in sent:
                if isinstance(target, PlatformReply):
                    marked += self._mark(session, [delivery], target.target, platform_post_id=target.post_id,
                                         platform_url=target.url)
                else:
                    by_target[target].append(delivery)
            for target_name, group in by_target.items():
                marked += self._mark(session, group, target_name)
            drafts = {d.id: d for d in session.exec(
                select(Draft).where(col(Draft.id).in_({d.draft_id for d in marked})))} if marked else {}
            for delivery in marked:
                _set_draft_status(session, delivery.draft_id, "delivered", RELAY, delivery_id=delivery.uid,
                                  draft=drafts.get(delivery.draft_id))

    def _mark(self, session: Session, group: list[Delivery], target: str, **extra: Any) -> list[Delivery]:
        """Mark still-pending deliveries delivered: one UPDATE ... RETURNING where the database has it."""
        values = {"status": "delivered", "delivered_at": utcnow(), "last_error": None, "target": target, **extra}
        if self.engine.dialect.update_returning:
            done = session.exec(
                update(Delivery).where(col(Delivery.id).in_([d.id for d in group]), col(Delivery.status) == "pending")
                .values(**values).returning(col(Delivery.id))
            )
            ids = set(done.scalars())
            return [d for d in group if d.id in ids]
        return [d for d in group if session.exec(
            update(Delivery).where(col(Delivery.id) == d.id, col(Delivery.status) == "pending").values(**values)
        ).rowcount == 1]

    def _deferred(self, delivery: Delivery, wait: float, reason: str) -> None:
        log.info("delivery %s deferred %.1f s: %s", delivery.uid, wait, reason)
        with session_scope(self.engine) as session:
            session.exec(
                update(Delivery).where(col(Delivery.id) == delivery.id, col(Delivery.status) == "pending")
                .values(next_attempt_at=utcnow() + timedelta(seconds=wait), attempts=col(Delivery.attempts) - 1,
                        last_error=f"rate limited: {reason}"[:1000])
            )

    def _failed(self, delivery: Delivery, error: str, final: bool = False) -> None:
        final = final or delivery.attempts >= self.settings.delivery_max_attempts
        log.warning("delivery %s attempt %s failed: %s", delivery.uid, delivery.attempts, error)
        with session_scope(self.engine) as session:
            values: dict[str, Any] = {"last_error": error[:1000]}
            if final:
                values["status"] = "failed"  # the dead letter: visible, and requeued by a person
            else:
                values["next_attempt_at"] = utcnow() + timedelta(seconds=backoff_seconds(delivery.attempts))
            done = session.exec(
                update(Delivery).where(col(Delivery.id) == delivery.id, col(Delivery.status) == "pending")
                .values(**values)
            )
            if final and done.rowcount == 1:
                _set_draft_status(session, delivery.draft_id, "delivery_failed", RELAY, delivery_id=delivery.uid,
                                  error=error[:500])


def _set_draft_status(
    session: Session, draft_id: int, status: str, actor: Actor, action: str | None = None,
    draft: Draft | None = None, **detail: Any,
) -> None:
    """Delivery outcomes move the draft's status (not its version: the text is decided) and are audited.
    ``draft``: the row, when the caller loaded it already (a batch loads all its drafts in one query)."""
    draft = draft or session.get(Draft, draft_id)
    if draft is None:
        return
    draft.status, draft.updated_at = status, utcnow()
    session.add(draft)
    audit_draft(session, draft, actor, action or status, from_version=draft.version, **detail)


def requeue_delivery(engine: Engine, delivery_id: int, actor: Actor, *, scope: Scope) -> Delivery:
    """Send a dead-lettered delivery again (same webhook-id, so a receiver that got it dedupes)."""
    with session_scope(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise NotFound("delivery not found")
        scope.check_object(delivery.workspace, "delivery")
        done = session.exec(
            update(Delivery).where(col(Delivery.id) == delivery_id, col(Delivery.status) == "failed")
            .values(status="pending", attempts=0, next_attempt_at=utcnow(), last_error=None)
        )
        if done.rowcount != 1:
            raise Conflict(f"delivery is {delivery.status}; only failed deliveries can be requeued")
        _set_draft_status(session, delivery.draft_id, "approved", actor, action="requeue",
                          delivery_id=delivery.uid)
        session.refresh(delivery)
    wake.outbox.notify()
    return delivery
