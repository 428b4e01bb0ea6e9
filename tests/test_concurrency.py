"""Many CMs, many tabs, one queue: exactly one decision wins, and exactly one delivery follows it."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections import Counter

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from desk.keys import create_key
from desk.models import Delivery
from ground.settings import Settings
from testkit.seed import seed_drafts
from tests.conftest import LiveServer, wait_for
from tests.receiver import Receiver
from tests.webhook_verifier import load_reference_verifier

DRAFTS = 100
PER_DRAFT = 10

log = logging.getLogger(__name__)


async def _approve_all(base_url: str, keys: list[str], draft_ids: list[int]) -> list[int]:
    limits = httpx.Limits(max_connections=DRAFTS * PER_DRAFT, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=300) as client:
        async def approve(draft_id: int, cm: int) -> int:
            response = await client.post(
                f"/v1/drafts/{draft_id}/approve",
                headers={"Authorization": f"Bearer {keys[cm]}", "If-Match": '"1"'},
            )
            return response.status_code

        calls = [approve(d, cm) for cm in range(PER_DRAFT) for d in draft_ids]
        return list(await asyncio.gather(*calls))


@pytest.mark.load
def test_thousand_concurrent_approvals_deliver_exactly_once(backend_settings: Settings) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    with Receiver() as receiver:
        settings = backend_settings.model_copy(
            update={"webhook_url": receiver.url, "webhook_secret": secret, "worker_enabled": False}
        )
        server = LiveServer(settings).start()
        try:
            draft_ids = seed_drafts(server.engine, DRAFTS)
            keys = [create_key(server.engine, "cm", f"cm-{i}") for i in range(PER_DRAFT)]
            codes = asyncio.run(_approve_all(server.base_url, keys, draft_ids))
            wait_for(lambda: len(receiver.received) >= DRAFTS, timeout=120)

            def delivered() -> int:
                with Session(server.engine) as session:
                    return int(session.exec(
                        select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")).one())

            # The receiver answers before the relay records the outcome: wait for the record too.
            wait_for(lambda: delivered() >= DRAFTS, timeout=60)
            with Session(server.engine) as session:
                outbox = session.exec(select(func.count()).select_from(Delivery)).one()
        finally:
            server.stop()
        tally = Counter(codes)
        log.info(f"{settings.sqlalchemy_url.split(':')[0]}: status codes {dict(tally)}, outbox rows {outbox}, "
              f"receiver got {len(receiver.received)}")
        assert tally[200] == DRAFTS
        assert set(tally) <= {200, 409, 412}
        assert not [c for c in codes if c >= 500]
        assert outbox == DRAFTS
        verify = load_reference_verifier()
        ids = [verify(secret, headers, body) for headers, body in receiver.received]
        assert len(ids) == DRAFTS and len(set(ids)) == DRAFTS, "no duplicate deliveries"
        assert sorted(p["draft_id"] for p in receiver.payloads()) == draft_ids
        assert delivered() == DRAFTS
