"""Connector configuration per workspace (admin): add, list, show, remove — every call inside a scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from connectors.base import Check
from connectors.credentials import MissingCredential, describe, env_ref, seal
from connectors.http import PlatformUnavailable
from connectors.registry import build, platform_class
from desk.audit import Actor, audit_other
from desk.connector_tables import Connector
from desk.db import read_session, session_scope
from desk.errors import BadRequest, Conflict, NotFound, UnprocessableEntity
from desk.models import utcnow
from desk.platforms import PlatformDeferred, PlatformRefused
from desk.scope import Scope
from ground.names import is_workspace_name
from ground.outbound import OutboundPolicy, OutboundRefused
from ground.redact import redact
from ground.settings import Settings


@dataclass(frozen=True)
class Credential:
    """A credential as given: the name of an environment variable that holds it, or the value to store."""

    env: str | None = None
    value: str | None = None

    def stored(self, settings: Settings) -> dict[str, str]:
        if (self.env is None) == (self.value is None):
            raise BadRequest("give a credential either as an environment variable name or as a value")
        return env_ref(self.env) if self.env is not None else seal(settings, self.value or "")


def add_connector(
    settings: Settings, engine: Engine, *, workspace: str, name: str, platform: str, config: Mapping[str, Any],
    credentials: Mapping[str, Credential], actor: Actor, scope: Scope,
) -> Connector:
    scope.check_filter(workspace)
    if not is_workspace_name(name):
        raise BadRequest(f"connector name {name!r}: lower-case letters, digits and '-' (like a workspace)")
    kind = platform_class(platform)
    kind.validate(config, credentials)
    policy = OutboundPolicy.of(settings)
    for key, url in config.items():  # platform addresses pass the outbound policy now, not at the first send
        if key.endswith("_url"):
            try:
                policy.check_url(str(url))
            except OutboundRefused as exc:
                raise UnprocessableEntity(f"{key} refused: {exc}") from exc
    row = Connector(workspace=workspace, name=name, platform=platform, config=dict(config),
                    secrets={k: c.stored(settings) for k, c in credentials.items()})
    try:
        with session_scope(engine) as session:
            session.add(row)
            session.flush()
            audit_other(session, actor, "connector.add", workspace, connector=name, platform=platform)
            session.refresh(row)
    except IntegrityError:
        raise Conflict(f"workspace {workspace!r} has a connector named {name!r}; remove it first") from None
    return row


def list_connectors(engine: Engine, *, scope: Scope, workspace: str | None = None) -> list[Connector]:
    scope.check_filter(workspace)
    query = select(Connector).where(col(Connector.removed_at).is_(None), *scope.condition(Connector.workspace))
    if workspace:
        query = query.where(col(Connector.workspace) == workspace)
    with read_session(engine) as session:
        return list(session.exec(query.order_by(col(Connector.id))).all())


def get_connector(engine: Engine, connector_id: int, *, scope: Scope) -> Connector:
    with read_session(engine) as session:
        row = session.get(Connector, connector_id)
    if row is None or row.removed_at is not None:
        raise NotFound("connector not found")
    scope.check_object(row.workspace, "connector")
    return row


def remove_connector(engine: Engine, connector_id: int, actor: Actor, *, scope: Scope) -> Connector:
    """Stop taking events and polling; messages already taken keep their link (their replies still go).
    Removing a removed connector answers it as it is (a retried DELETE is not an error)."""
    with session_scope(engine) as session:
        row = session.get(Connector, connector_id)
        if row is None or not scope.allows(row.workspace):
            raise NotFound("connector not found")
        if row.removed_at is not None:
            return row
        row.removed_at = utcnow()
        session.add(row)
        audit_other(session, actor, "connector.remove", row.workspace, connector=row.name)
        session.flush()
        session.refresh(row)
        return row


def public_view(row: Connector) -> dict[str, Any]:
    """What anyone with the right may see: settings, where each credential comes from, what it supports."""
    kind = platform_class(row.platform)
    return {
        "id": row.id, "workspace": row.workspace, "name": row.name, "platform": row.platform,
        "config": dict(row.config), "credentials": {k: describe(v) for k, v in sorted(row.secrets.items())},
        "capabilities": kind.capabilities.__dict__, "intake": kind.capabilities.intake,
        "events_path": f"/v1/connectors/{row.id}/events" if kind.capabilities.intake == "push" else None,
        "created_at": row.created_at.isoformat(), "last_error": row.last_error,
    }


def test_connector(settings: Settings, engine: Engine, connector_id: int, *, scope: Scope) -> list[Check]:
    """Credentials and permissions checked against the platform, each with what is missing."""
    row = get_connector(engine, connector_id, scope=scope)
    try:
        connector = build(settings, row)
    except MissingCredential as exc:
        return [Check("credentials", False, str(exc))]
    try:
        return connector.check()
    except MissingCredential as exc:
        return [Check("credentials", False, str(exc))]
    except PlatformDeferred as exc:
        return [Check("platform", False, f"rate limited: {exc}; try again in {exc.wait:.0f} s")]
    except (PlatformRefused, PlatformUnavailable, httpx.HTTPError, OutboundRefused) as exc:
        return [Check("platform", False, redact(f"{type(exc).__name__}: {exc}"))]
    finally:
        connector.close()
