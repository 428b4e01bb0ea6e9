"""Runs the connectors that are not pushed to: pollers (Reddit) on an interval and gateway bots (Discord)
each on a thread of its own. Inside the API process (``REPLYDESK_CONNECTORS_ENABLED``) or standalone
(``replydesk connectors run``); several pollers of one connector are safe (the store dedupes, the cursor
only moves forward), though one is enough."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from connectors.base import Intake, PlatformConnector
from connectors.registry import build, platform_class
from desk.connector_tables import Connector
from desk.db import read_session, session_scope
from desk.platforms import PlatformDeferred
from ground.redact import redact
from ground.settings import Settings

log = logging.getLogger("replydesk.connectors")


def _active(engine: Engine, intake: str, only: int | None = None) -> list[Connector]:
    with read_session(engine) as session:
        rows = session.exec(select(Connector).where(col(Connector.removed_at).is_(None))
                            .order_by(col(Connector.id))).all()
    return [r for r in rows if platform_class(r.platform).capabilities.intake == intake
            and (only is None or r.id == only)]


def record_error(engine: Engine, connector_id: int, error: str | None) -> None:
    with read_session(engine) as session:  # most passes change nothing: no write transaction for them
        row = session.get(Connector, connector_id)
        if row is None or row.last_error == error:
            return
    with session_scope(engine) as session:
        row = session.get(Connector, connector_id)
        if row is not None and row.last_error != error:
            row.last_error = error
            session.add(row)


class ConnectorRunner:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.pollers: dict[int, PlatformConnector] = {}
        self.gateways: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self.resume_at: dict[int, float] = {}

    def poll_once(self, only: int | None = None) -> dict[str, Intake]:
        """One pass of every pull connector (or one); a failure is logged and shown on the connector."""
        done: dict[str, Intake] = {}
        rows = _active(self.engine, "pull", only)
        for gone in set(self.pollers) - {r.id for r in rows}:
            if only is None:
                self.pollers.pop(gone).close()
        for row in rows:
            if time.monotonic() < self.resume_at.get(row.id or 0, 0.0):
                continue
            connector = self.pollers.get(row.id or 0)
            if connector is None:
                connector = self.pollers[row.id or 0] = build(self.settings, row)
            try:
                done[row.name] = connector.poll(self.engine)
                record_error(self.engine, row.id or 0, None)
            except PlatformDeferred as exc:
                self.resume_at[row.id or 0] = time.monotonic() + exc.wait
                log.info("connector %s waits %.0f s: %s", row.name, exc.wait, redact(str(exc)))
            except Exception as exc:  # one platform's trouble must not stop the others
                error = redact(f"{type(exc).__name__}: {exc}")
                log.warning("connector %s poll failed: %s", row.name, error)
                record_error(self.engine, row.id or 0, error[:1000])
        return done

    def _reconcile_gateways(self, start: Callable[[Connector, threading.Event], threading.Thread],
                            only: set[int] | None = None) -> None:
        rows = {r.id or 0: r for r in _active(self.engine, "gateway") if only is None or r.id in only}
        for gone in set(self.gateways) - set(rows):
            self.gateways.pop(gone)[1].set()
        for connector_id, row in rows.items():
            running = self.gateways.get(connector_id)
            if running is None or not running[0].is_alive():
                stop = threading.Event()
                self.gateways[connector_id] = (start(row, stop), stop)

    def _start_gateway(self, row: Connector, stop: threading.Event) -> threading.Thread:
        connector = build(self.settings, row)
        thread = threading.Thread(target=connector.run_gateway, args=(self.engine, stop),
                                  name=f"replydesk-gateway-{row.name}", daemon=True)
        thread.start()
        return thread

    def start_gateways(self, only: set[int] | None = None) -> None:
        """Start a gateway thread for each gateway connector (or those of ``only``) without one, and stop
        those of removed connectors."""
        self._reconcile_gateways(self._start_gateway, only)

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.start_gateways()
                self.poll_once()
            except Exception:
                log.exception("connector runner error")
            stop.wait(self.settings.connector_poll_seconds)
        self.close()

    def close(self) -> None:
        for _thread, flag in self.gateways.values():
            flag.set()
        for connector in self.pollers.values():
            connector.close()
        self.pollers.clear()
