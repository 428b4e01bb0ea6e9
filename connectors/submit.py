"""Events become inbound messages through the queue's own submit (as POST /v1/messages), with the connector
link (where the reply goes) written in the same transaction. The same platform id twice is one message,
whichever way it came (a replayed webhook, a poller re-reading a page)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from connectors.base import Inbound, Intake, PlatformConnector
from desk.connector_tables import ConnectorLink
from desk.models import Message
from desk.queue import submit_message
from desk.scope import Scope


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
