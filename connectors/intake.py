"""Pushed intake: a platform's signed event, checked before its body is parsed, then stored (submit.py)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping

import httpx
from sqlalchemy.engine import Engine

from connectors.base import Intake, PlatformConnector
from connectors.credentials import MissingCredential
from connectors.http import PlatformUnavailable
from connectors.registry import build
from connectors.submit import accept
from desk.connector_tables import Connector
from desk.db import read_session
from desk.errors import NotFound, Unauthorized, Unavailable
from desk.platforms import PlatformDeferred, PlatformRefused
from ground.redact import redact
from ground.settings import Settings

log = logging.getLogger("replydesk.connectors")


def active_connector(engine: Engine, connector_id: int) -> Connector:
    with read_session(engine) as session:
        row = session.get(Connector, connector_id)
    if row is None or row.removed_at is not None:
        raise NotFound("connector not found")
    return row


class _Connectors:
    """Built connectors kept per process (an HTTP client per event would cost more than the event), rebuilt
    when the stored row changes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.built: dict[int, tuple[str, PlatformConnector]] = {}

    def get(self, settings: Settings, row: Connector) -> PlatformConnector:
        stamp = json.dumps([row.config, row.secrets, str(settings.data_dir)], sort_keys=True, default=str)
        with self.lock:
            known = self.built.get(row.id or 0)
            if known is not None and known[0] == stamp:
                return known[1]
            if known is not None:
                known[1].close()
            connector = build(settings, row)
            self.built[row.id or 0] = (stamp, connector)
            return connector


_built = _Connectors()


def receive_push(settings: Settings, engine: Engine, connector_id: int, headers: Mapping[str, str],
                 body: bytes) -> Intake:
    """A pushed event: the platform's signature over the raw body is checked before the body is parsed."""
    connector = _built.get(settings, active_connector(engine, connector_id))
    try:
        connector.verify(headers, body)
    except MissingCredential as exc:
        log.error("connector %s cannot verify events: %s", connector.name, exc)
        raise Unauthorized("this connector cannot verify signatures: its secret is not available") from None
    intake = Intake()
    try:
        items = connector.parse(headers, body, intake)
    except PlatformRefused as exc:  # e.g. the topic is gone already: nothing to take, and nothing to retry
        intake.ignored.append(redact(f"the platform refused a lookup: {exc}"))
        items = []
    except (PlatformUnavailable, PlatformDeferred, httpx.HTTPError) as exc:
        # An event whose content must be fetched (a Discourse topic's first post, an Instagram mention) when
        # the platform cannot answer: 503, and the platform delivers the event again later.
        raise Unavailable(redact(f"{connector.platform} could not be read: {type(exc).__name__}: {exc}")) from None
    return accept(engine, connector, items, intake)


def answer_challenge(settings: Settings, engine: Engine, connector_id: int, params: Mapping[str, str]) -> str:
    return _built.get(settings, active_connector(engine, connector_id)).challenge(params)
