"""Delivery through connectors: the relay's PlatformSender. A message that came through a connector is
answered there (as a reply to its parent); the platform's post id and URL go on the delivery row."""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from connectors.base import PlatformConnector
from connectors.credentials import MissingCredential
from connectors.registry import build
from desk.connector_tables import Connector, ConnectorLink
from desk.db import read_session
from desk.models import Delivery, Message
from desk.platforms import PlatformRefused, PlatformReply
from ground.settings import Settings


class ConnectorSender:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._clients: dict[int, PlatformConnector] = {}
        self._lock = threading.Lock()

    def _connector(self, row: Connector) -> PlatformConnector:
        with self._lock:
            client = self._clients.get(row.id or 0)
            if client is None:
                client = self._clients[row.id or 0] = build(self.settings, row)
            return client

    def send(self, delivery: Delivery, message: Message) -> PlatformReply | None:
        with read_session(self.engine) as session:
            link = session.get(ConnectorLink, message.id)
            row = session.get(Connector, link.connector_id) if link is not None else None
        if link is None or row is None:
            return None
        try:
            connector = self._connector(row)
            return connector.deliver(link.reply_to, delivery.text, delivery.attempts)
        except MissingCredential as exc:
            raise PlatformRefused(f"connector {row.name}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
