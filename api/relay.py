"""The outbox relay: delivers approved replies at least once; receivers dedupe on ``webhook-id``.

Only rows in the deliveries table are ever sent, and only the approval transaction writes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from api.db import session_scope
from api.models import Delivery, Draft, Message, utcnow
from replydesk.settings import Settings

log = logging.getLogger("replydesk.relay")
_CLAIM_SECONDS = 60.0


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``id.timestamp.body`` (the Standard Webhooks / Svix scheme)."""
    digest = hmac.new(secret.encode(), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter, capped at 10 minutes."""
    return float(random.uniform(0, min(600.0, 2.0 ** attempt)))


class Relay:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.client = httpx.Client(timeout=settings.delivery_timeout)

    def close(self) -> None:
        self.client.close()

    def _claim(self) -> tuple[Delivery, Message] | None:
        now = utcnow()
        with session_scope(self.engine) as session:
            query = (
                select(Delivery)
                .where(col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= now)
                .order_by(col(Delivery.id))
                .limit(1)
            )
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            delivery = session.exec(query).first()
            if delivery is None:
                return None
            # Pushing next_attempt_at forward is the claim: a crashed relay's row comes back later.
            delivery.next_attempt_at = now + timedelta(seconds=_CLAIM_SECONDS)
            delivery.attempts += 1
            session.add(delivery)
            message = session.get(Message, delivery.message_id)
            assert message is not None
            session.flush()
            session.refresh(delivery)
            return delivery, message

    def run_once(self) -> bool:
        claimed = self._claim()
        if claimed is None:
            return False
        delivery, message = claimed
        try:
            self._send(delivery, message)
        except Exception as exc:  # any failure is retried with backoff, then dead-lettered visibly
            self._failed(delivery, f"{type(exc).__name__}: {exc}")
        else:
            self._delivered(delivery)
        return True

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("relay loop error")
                busy = False
            if not busy:
                stop.wait(self.settings.worker_poll_seconds)

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

    def _send(self, delivery: Delivery, message: Message) -> None:
        body = json.dumps(self.payload(delivery, message), separators=(",", ":")).encode()
        url = self.settings.webhook_url
        if not url:
            self.settings.ensure_dirs()
            with self.settings.delivery_log.open("ab") as log_file:
                log_file.write(body + b"\n")
            return
        timestamp = str(int(time.time()))
        headers = {"content-type": "application/json", "webhook-id": delivery.uid, "webhook-timestamp": timestamp}
        if self.settings.webhook_secret:
            headers["webhook-signature"] = sign(self.settings.webhook_secret, delivery.uid, timestamp, body)
        response = self.client.post(url, content=body, headers=headers)
        response.raise_for_status()

    def _delivered(self, delivery: Delivery) -> None:
        with session_scope(self.engine) as session:
            session.exec(
                update(Delivery).where(col(Delivery.id) == delivery.id)
                .values(status="delivered", delivered_at=utcnow(), last_error=None)
            )
            session.exec(
                update(Draft).where(col(Draft.id) == delivery.draft_id).values(status="delivered", updated_at=utcnow())
            )

    def _failed(self, delivery: Delivery, error: str) -> None:
        final = delivery.attempts >= self.settings.delivery_max_attempts
        log.warning("delivery %s attempt %s failed: %s", delivery.uid, delivery.attempts, error)
        with session_scope(self.engine) as session:
            values: dict[str, Any] = {"last_error": error[:1000]}
            if final:
                values["status"] = "failed"
            else:
                values["next_attempt_at"] = utcnow() + timedelta(seconds=backoff_seconds(delivery.attempts))
            session.exec(update(Delivery).where(col(Delivery.id) == delivery.id).values(**values))
            if final:
                session.exec(
                    update(Draft).where(col(Draft.id) == delivery.draft_id)
                    .values(status="delivery_failed", updated_at=utcnow())
                )
