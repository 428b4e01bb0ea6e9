"""The outbox relay in batches: one claim delivers many; a slow webhook hands back what it cannot reach in time."""

from __future__ import annotations

from sqlmodel import Session, col, select

from desk.audit import Actor
from desk.db import make_engine, migrate
from desk.decisions import approve_draft
from desk.models import Delivery, Draft
from desk.relay import Relay
from desk.scope import INSTALLATION
from ground.settings import Settings
from testkit.seed import seed_drafts
from tests.receiver import Receiver

CM: Actor = ("cm-1", "cm")


def _approved(settings: Settings, count: int) -> tuple[Relay, list[int]]:
    migrate(settings)
    engine = make_engine(settings)
    ids = seed_drafts(engine, count)
    for draft_id in ids:
        approve_draft(engine, draft_id, 1, None, CM, scope=INSTALLATION)
    return Relay(settings, engine), ids


def _deliveries(relay: Relay) -> list[Delivery]:
    with Session(relay.engine) as session:
        return list(session.exec(select(Delivery).order_by(col(Delivery.id))).all())


def test_one_pass_delivers_a_batch_and_marks_every_draft(backend_settings: Settings) -> None:
    with Receiver() as receiver:
        relay, ids = _approved(backend_settings.model_copy(update={"webhook_url": receiver.url}), 5)
        try:
            assert relay.run_once() is True
            assert sorted(p["draft_id"] for p in receiver.payloads()) == ids
            assert [d.status for d in _deliveries(relay)] == ["delivered"] * 5
            with Session(relay.engine) as session:
                assert {d.status for d in session.exec(select(Draft)).all()} == {"delivered"}
            assert relay.run_once() is False  # nothing due: an idle pass
        finally:
            relay.close()


def test_slow_webhook_hands_back_the_rest_of_the_batch_uncounted(backend_settings: Settings) -> None:
    # A claim of 2 s and a 1 s webhook timeout leave no time for a second send in the same pass.
    settings = backend_settings.model_copy(update={"delivery_claim_seconds": 2.0, "delivery_timeout": 1.0})
    with Receiver() as receiver:
        receiver.delay = 0.2
        relay, ids = _approved(settings.model_copy(update={"webhook_url": receiver.url}), 3)
        try:
            assert relay.run_once() is True
            first = _deliveries(relay)
            assert [d.status for d in first] == ["delivered", "pending", "pending"]
            assert [d.attempts for d in first] == [1, 0, 0]  # handed back: their attempt is not counted
            while relay.run_once():
                pass
            assert sorted(p["draft_id"] for p in receiver.payloads()) == ids  # each exactly once
            assert [(d.status, d.attempts) for d in _deliveries(relay)] == [("delivered", 1)] * 3
        finally:
            relay.close()
