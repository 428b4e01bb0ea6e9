"""Intake: platform events become inbound messages through the queue's own submit (as POST /v1/messages),
with the connector link (where the reply goes) written in the same transaction. The same platform id twice
is one message, whichever way it came (a replayed webhook, a poller re-reading a page)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.engine import Engine
from sqlmodel import Session

from connectors.base import Inbound, Intake, PlatformConnector
from connectors.credentials import MissingCredential
from connectors.registry import build
from desk.connector_tables import Connector, ConnectorLink
from desk.db import read_session
from desk.errors import NotFound, Unauthorized
from desk.models import Message
from desk.queue import submit_message
from desk.scope import Scope
from ground.settings import Settings

log = logging.getLogger("replydesk.connectors")


def accept(engine: Engine, connector: PlatformConnector, items: list[Inbound], intake: Intake) -> Intake:
    row = connector.row
    for item in items:
        def link(session: Session, message: Message, item: Inbound = item) -> None:
            session.add(ConnectorLink(message_id=message.id or 0, connector_id=row.id or 0,
                                      reply_to=item.reply_to, permalink=item.permalink))

        message, created = submit_message(engine, item.message, row.workspace, scope=Scope.of([row.workspace]),
                                          also=link)
        (intake.accepted if created else intake.duplicates).append(message.id or 0)
    return intake


def active_connector(engine: Engine, connector_id: int) -> Connector:
    with read_session(engine) as session:
        row = session.get(Connector, connector_id)
    if row is None or row.removed_at is not None:
        raise NotFound("connector not found")
    return row


def receive_push(settings: Settings, engine: Engine, connector_id: int, headers: Mapping[str, str],
                 body: bytes) -> Intake:
    """A pushed event: the platform's signature over the raw body is checked before the body is parsed."""
    connector = build(settings, active_connector(engine, connector_id))
    try:
        try:
            connector.verify(headers, body)
        except MissingCredential as exc:
            log.error("connector %s cannot verify events: %s", connector.name, exc)
            raise Unauthorized("this connector cannot verify signatures: its secret is not available") from None
        intake = Intake()
        return accept(engine, connector, connector.parse(headers, body, intake), intake)
    finally:
        connector.close()


def answer_challenge(settings: Settings, engine: Engine, connector_id: int, params: Mapping[str, str]) -> str:
    connector = build(settings, active_connector(engine, connector_id))
    try:
        return connector.challenge(params)
    finally:
        connector.close()
