"""Workspace-scoped keys, walked over every route of the app (OWASP API1 and API5).

Every route the app serves is classified in ``ROUTES`` (a new route nobody classified fails the test) and
called with keys scoped to the workspace ``lumen`` — one per role — and with an installation-wide admin,
each time for an object or filter of the key's own workspace, of another workspace (``orbit``) and of no
workspace. Out-of-scope objects answer 404, out-of-scope filters 403, listings hold only own rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from api.app import create_app
from desk.insight_tables import GapSuggestion
from desk.keys import create_key
from desk.models import Delivery, Draft
from desk.scope import Scope
from testkit.seed import seed_drafts
from tests.conftest import LiveServer, make_settings, message_body

OWN, OTHER = "lumen", "orbit"
RANK = {"viewer": 1, "cm": 2, "admin": 3}
CASES = ("own", "other", "none")

# How a route treats workspaces:
PUBLIC = "public"  # no key at all (health, metrics, the OpenAPI document and its pages)
SIGNED = "signed"  # a webhook signature, not a key: the source's own workspace
OBJECT = "object"  # reaches one object by id or name: outside the scope it is not found (404)
FILTER = "filter"  # names a workspace (query, body, form) or lists: outside the scope 403; unnamed, own rows only
INSTALLATION = "installation"  # installation-level data (eval runs): scoped keys are refused (403)


@dataclass
class World:
    """Objects in both workspaces (``ids[kind][workspace]``)."""

    ids: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of(self, kind: str, case: str) -> Any:
        return self.ids[kind][OWN if case == "own" else OTHER]


Call = tuple[str, dict[str, Any]]  # (url, request keyword arguments)
Build = Callable[[World, str], Call | None]  # None: the case does not apply to this route


def _ws(case: str) -> str | None:
    return {"own": OWN, "other": OTHER, "none": None}[case]


def _query(url: str, **fixed: Any) -> Build:
    def build(_world: World, case: str) -> Call:
        params = dict(fixed)
        if _ws(case):
            params["workspace"] = _ws(case)
        return url, {"params": params}
    return build


def _body(url: str, make: Callable[[str | None], dict[str, Any]]) -> Build:
    return lambda _world, case: (url, {"json": make(_ws(case))})


def _object(url: str, kind: str, **request: Any) -> Build:
    def build(world: World, case: str) -> Call | None:
        if case == "none":
            return None
        return url.format(world.of(kind, case)), dict(request)
    return build


def _with(ws: str | None, **body: Any) -> dict[str, Any]:
    return body | ({"workspace": ws} if ws else {})


V1 = {"headers": {"If-Match": '"1"'}}


def _forum(name: str) -> dict[str, Any]:
    """A Discourse connector whose forum is a closed loopback port (its test fails fast, with a reason)."""
    return {"name": name, "platform": "discourse", "config": {"base_url": "http://127.0.0.1:9", "username": "bot"},
            "credentials": {"api_key": {"value": "k-123"}, "webhook_secret": {"value": "s-456"}}}
ROUTES: dict[tuple[str, str], tuple[str, str, Build | None]] = {
    # (method, path): (needed role or PUBLIC/SIGNED, treatment, request builder)
    ("GET", "/healthz"): (PUBLIC, PUBLIC, None),
    ("GET", "/readyz"): (PUBLIC, PUBLIC, None),
    ("GET", "/metrics"): (PUBLIC, PUBLIC, None),
    ("GET", "/openapi.json"): (PUBLIC, PUBLIC, None),
    ("GET", "/docs"): (PUBLIC, PUBLIC, None),
    ("GET", "/docs/oauth2-redirect"): (PUBLIC, PUBLIC, None),
    ("GET", "/redoc"): (PUBLIC, PUBLIC, None),
    ("POST", "/v1/webhooks/{source}"): (SIGNED, SIGNED, None),
    ("POST", "/v1/messages"): ("cm", FILTER, _body("/v1/messages", lambda ws: message_body(
        f"m-{uuid.uuid4().hex[:8]}", **({"workspace": ws} if ws else {})))),
    ("GET", "/v1/messages/{message_id}"): ("viewer", OBJECT, _object("/v1/messages/{}", "message")),
    ("GET", "/v1/drafts"): ("viewer", FILTER, _query("/v1/drafts", limit=200)),
    ("GET", "/v1/drafts/{draft_id}"): ("viewer", OBJECT, _object("/v1/drafts/{}", "draft")),
    ("GET", "/v1/drafts/{draft_id}/history"): ("viewer", OBJECT, _object("/v1/drafts/{}/history", "draft")),
    ("GET", "/v1/drafts/{draft_id}/diff"): ("viewer", OBJECT, _object("/v1/drafts/{}/diff", "draft")),
    ("PATCH", "/v1/drafts/{draft_id}"): ("cm", OBJECT, _object("/v1/drafts/{}", "draft", json={"text": "Edited."},
                                                               **V1)),
    ("POST", "/v1/drafts/{draft_id}/approve"): ("cm", OBJECT, _object("/v1/drafts/{}/approve", "draft", **V1)),
    ("POST", "/v1/drafts/{draft_id}/reject"): ("cm", OBJECT, _object("/v1/drafts/{}/reject", "draft",
                                                                     json={"reason": "no"}, **V1)),
    ("POST", "/v1/drafts/{draft_id}/regenerate"): ("cm", OBJECT, _object("/v1/drafts/{}/regenerate", "draft", **V1)),
    ("POST", "/v1/drafts/{draft_id}/claim"): ("cm", OBJECT, _object("/v1/drafts/{}/claim", "draft", **V1)),
    ("POST", "/v1/drafts/{draft_id}/release"): ("cm", OBJECT, _object("/v1/drafts/{}/release", "draft", **V1)),
    ("POST", "/v1/drafts/bulk"): ("cm", OBJECT, lambda world, case: None if case == "none" else (
        "/v1/drafts/bulk", {"json": {"action": "reject", "reason": "bulk", "items": [
            {"id": world.of("bulk", case), "version": 1}]}})),
    ("GET", "/v1/deliveries"): ("viewer", FILTER, _query("/v1/deliveries", limit=200)),
    ("GET", "/v1/deliveries/{delivery_id}"): ("viewer", OBJECT, _object("/v1/deliveries/{}", "delivery")),
    ("POST", "/v1/deliveries/{delivery_id}/requeue"): ("cm", OBJECT, _object("/v1/deliveries/{}/requeue",
                                                                             "delivery")),
    ("POST", "/v1/knowledge/search"): ("viewer", FILTER, _body("/v1/knowledge/search",
                                                               lambda ws: _with(ws, query="shipping"))),
    ("GET", "/v1/knowledge/documents"): ("viewer", FILTER, _query("/v1/knowledge/documents")),
    ("POST", "/v1/knowledge/documents"): ("admin", FILTER, lambda _world, case: ("/v1/knowledge/documents", {
        "files": {"file": (f"faq-{uuid.uuid4().hex[:6]}.md", b"# Returns\n\nReturns are free for 30 days.\n")},
        "data": {"workspace": _ws(case)} if _ws(case) else {}})),
    ("DELETE", "/v1/knowledge/documents/{doc_id}"): ("admin", FILTER, lambda world, case: (
        f"/v1/knowledge/documents/{world.ids['doc2' if case == 'none' else 'doc'][OWN]}",
        {"params": {"workspace": _ws(case)} if _ws(case) else {}})),
    ("GET", "/v1/keys"): ("admin", FILTER, _query("/v1/keys")),
    ("POST", "/v1/keys"): ("admin", FILTER, _body("/v1/keys", lambda ws: {"role": "viewer", "name": "made",
                                                                          **({"workspaces": [ws]} if ws else {})})),
    ("DELETE", "/v1/keys/{key_id}"): ("admin", OBJECT, _object("/v1/keys/{}", "key")),
    ("GET", "/v1/audit"): ("admin", FILTER, _query("/v1/audit", limit=500)),
    ("GET", "/v1/workspaces/{workspace}/config"): ("admin", OBJECT, _object("/v1/workspaces/{}/config", "ws")),
    ("PUT", "/v1/workspaces/{workspace}/config"): ("admin", OBJECT, _object("/v1/workspaces/{}/config", "ws",
                                                                            json={"four_eyes": False})),
    ("POST", "/v1/workspaces/{workspace}/webhook-secret"): ("admin", OBJECT,
                                                           _object("/v1/workspaces/{}/webhook-secret", "ws")),
    ("GET", "/v1/webhooks/sources"): ("admin", FILTER, _query("/v1/webhooks/sources")),
    ("POST", "/v1/webhooks/sources"): ("admin", FILTER, lambda _world, case: None if case == "none" else (
        "/v1/webhooks/sources", {"json": {"source": f"src-{uuid.uuid4().hex[:8]}", "workspace": _ws(case)}})),
    ("POST", "/v1/webhooks/sources/{source}/rotate"): ("admin", OBJECT, _object("/v1/webhooks/sources/{}/rotate",
                                                                                "source")),
    ("DELETE", "/v1/webhooks/sources/{source}"): ("admin", OBJECT, _object("/v1/webhooks/sources/{}", "source2")),
    ("GET", "/v1/connectors"): ("admin", FILTER, _query("/v1/connectors")),
    ("POST", "/v1/connectors"): ("admin", FILTER, _body("/v1/connectors", lambda ws: _with(
        ws, **_forum(f"forum-{uuid.uuid4().hex[:8]}")))),
    ("GET", "/v1/connectors/{connector_id}"): ("admin", OBJECT, _object("/v1/connectors/{}", "connector")),
    ("DELETE", "/v1/connectors/{connector_id}"): ("admin", OBJECT, _object("/v1/connectors/{}", "connector2")),
    ("POST", "/v1/connectors/{connector_id}/test"): ("admin", OBJECT, _object("/v1/connectors/{}/test", "connector")),
    ("POST", "/v1/connectors/{connector_id}/events"): (SIGNED, SIGNED, None),
    ("GET", "/v1/connectors/{connector_id}/events"): (PUBLIC, PUBLIC, None),  # the platform's subscribe challenge
    ("GET", "/v1/evals/runs"): ("viewer", INSTALLATION, lambda _world, case: ("/v1/evals/runs", {})),
    ("GET", "/v1/evals/runs/{run_id}"): ("viewer", INSTALLATION, lambda _world, case: ("/v1/evals/runs/1", {})),
    ("POST", "/v1/triage"): ("viewer", FILTER, _body("/v1/triage", lambda ws: _with(
        ws, items=[{"id": "t1", "text": "Where is my order?"}]))),
    ("GET", "/v1/insights/summary"): ("viewer", FILTER, _query("/v1/insights/summary", prose="none")),
    ("GET", "/v1/insights/health"): ("viewer", FILTER, _query("/v1/insights/health")),
    ("GET", "/v1/insights/gaps"): ("viewer", FILTER, _query("/v1/insights/gaps", status="all")),
    ("GET", "/v1/insights/alerts"): ("viewer", FILTER, _query("/v1/insights/alerts")),
    ("POST", "/v1/insights/gaps/refresh"): ("admin", FILTER, _query("/v1/insights/gaps/refresh")),
    ("POST", "/v1/insights/gaps/{suggestion_id}/accept"): ("admin", OBJECT, _object(
        "/v1/insights/gaps/{}/accept", "gap", json={"answer": "Free for 30 days."})),
    ("POST", "/v1/insights/gaps/{suggestion_id}/dismiss"): ("admin", OBJECT, _object(
        "/v1/insights/gaps/{}/dismiss", "gap2")),
    ("POST", "/v1/insights/alerts/check"): ("admin", FILTER, _query("/v1/insights/alerts/check")),
}


def _walk(routes: list[Any]) -> list[Any]:
    found: list[Any] = []
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI wraps included routers
            found += _walk(route.original_router.routes)
        else:
            found.append(route)
    return found


def _served() -> set[tuple[str, str]]:
    """Every (method, path) the app answers: its API routes and the OpenAPI pages alike. The console's pages
    (console/) are walked by tests/console/test_console_http.py: their objects go through desk/scope.py."""
    return {(m, str(getattr(r, "path", ""))) for r in _walk(create_app().routes)
            if not getattr(getattr(r, "endpoint", None), "__module__", "").startswith("console.")
            for m in (getattr(r, "methods", None) or set()) - {"HEAD", "OPTIONS"}}


def test_every_route_is_classified_for_workspace_scope() -> None:
    """A new route fails here until someone says how it treats workspaces (OWASP API1, API5)."""
    served = _served()
    assert not served - set(ROUTES), f"classify these routes in ROUTES: {sorted(served - set(ROUTES))}"
    assert not set(ROUTES) - served, f"stale entries in ROUTES: {sorted(set(ROUTES) - served)}"


def _seed(live: LiveServer, admin: httpx.Client) -> World:
    world = World()
    for ws in (OWN, OTHER):
        drafts = seed_drafts(live.engine, 3, prefix=f"scope-{ws}", workspace=ws)
        with Session(live.engine) as session:
            rows = [session.get(Draft, d) for d in drafts]
            message_ids = [r.message_id for r in rows if r is not None]
            delivery = Delivery(uid=str(uuid.uuid4()), draft_id=drafts[2], message_id=message_ids[2], workspace=ws,
                                platform="x", text="Sent.", target="log:test", status="failed")
            gaps = [GapSuggestion(workspace=ws, question=f"Where is {ws}?", count=3) for _ in range(2)]
            session.add_all([delivery, *gaps])
            session.commit()
            world.ids.setdefault("delivery", {})[ws] = delivery.id
            world.ids.setdefault("gap", {})[ws] = gaps[0].id
            world.ids.setdefault("gap2", {})[ws] = gaps[1].id
        world.ids.setdefault("message", {})[ws] = message_ids[0]
        world.ids.setdefault("draft", {})[ws] = drafts[0]
        world.ids.setdefault("bulk", {})[ws] = drafts[1]
        world.ids.setdefault("ws", {})[ws] = ws
        source = admin.post("/v1/webhooks/sources", json={"source": f"shop-{ws}", "workspace": ws})
        assert source.status_code == 201, source.text
        world.ids.setdefault("source", {})[ws] = f"shop-{ws}"
        source = admin.post("/v1/webhooks/sources", json={"source": f"forum-{ws}", "workspace": ws})
        assert source.status_code == 201, source.text
        world.ids.setdefault("source2", {})[ws] = f"forum-{ws}"
        for kind in ("connector", "connector2"):
            made = admin.post("/v1/connectors", json={**_forum(f"{kind}-{ws}"), "workspace": ws})
            assert made.status_code == 201, made.text
            world.ids.setdefault(kind, {})[ws] = made.json()["id"]
        made = admin.post("/v1/keys", json={"role": "viewer", "name": f"spare-{ws}", "workspaces": [ws]})
        assert made.status_code == 201, made.text
        world.ids.setdefault("key", {})[ws] = made.json()["id"]
        upload = admin.post("/v1/knowledge/documents", data={"workspace": ws},
                            files={"file": ("returns.md", b"# Returns\n\nReturns are free within 30 days.\n")})
        assert upload.status_code == 201, upload.text
        world.ids.setdefault("doc", {})[ws] = upload.json()["document"]["id"]
        upload = admin.post("/v1/knowledge/documents", data={"workspace": ws},
                            files={"file": ("hours.md", b"# Hours\n\nWe answer from 9 to 5.\n")})
        assert upload.status_code == 201, upload.text
        world.ids.setdefault("doc2", {})[ws] = upload.json()["document"]["id"]
    return world


def _rows_outside(body: Any, route: tuple[str, str]) -> list[Any]:
    """Listed rows of a workspace other than the key's own."""
    rows = body.get("data", []) if isinstance(body, dict) else []
    outside = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        if "workspaces" in row and route[1] == "/v1/keys":
            if row["workspaces"] != [OWN]:
                outside.append(row)
        elif row.get("workspace") not in (None, OWN) or (route[1] == "/v1/audit" and row.get("workspace") is None):
            outside.append(row)
    return outside


def _check(route: tuple[str, str], role: str, scoped: bool, case: str, response: httpx.Response) -> None:
    needed, treatment, _ = ROUTES[route]
    code = response.status_code
    where = f"{route[0]} {route[1]} [{case}] as {role}{'@' + OWN if scoped else '@*'} -> {code} {response.text[:200]}"
    assert code < 500, where
    if RANK[role] < RANK[needed]:
        assert code == 403, where  # API5: the role check comes before anything else
        return
    if not scoped:
        assert code not in (401, 403), where
        return
    if treatment == INSTALLATION:
        assert code == 403 and "installation-level" in response.json()["detail"], where
    elif case == "own":
        assert code not in (401, 403, 404), where
        if route == ("POST", "/v1/drafts/bulk"):
            assert response.json()["results"][0]["status_code"] != 404, where
    elif case == "other" and treatment == OBJECT:
        if route == ("POST", "/v1/drafts/bulk"):
            assert code == 200 and response.json()["results"][0]["status_code"] == 404, where
        else:
            assert code == 404, where  # API1: no existence leak
    elif case == "other":
        assert code == 403, where
    else:  # no workspace named: the key's own workspace, or a listing of its workspaces only
        assert code not in (401, 403, 404), where
        if response.headers.get("content-type", "").startswith("application/json"):
            assert not _rows_outside(response.json(), route), where
            if route == ("POST", "/v1/keys"):
                assert response.json()["workspaces"] == [OWN], where


def test_every_route_by_role_and_workspace(live: LiveServer) -> None:
    """Scoped keys of every role, on their own workspace, another one, and none (OWASP API1, API5)."""
    scoped = {role: create_key(live.engine, role, f"lumen-{role}", workspaces=Scope.of([OWN]))
              for role in ("viewer", "cm", "admin")}
    with live.client("admin") as admin:
        world = _seed(live, admin)
    checked = 0
    principals = [(role, True, key) for role, key in scoped.items()] + [("admin", False, live.keys["admin"])]
    for route, (_needed, _treatment, build) in sorted(ROUTES.items()):
        if build is None:
            continue
        for role, is_scoped, key in principals:
            with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"},
                              timeout=60) as client:
                for case in CASES:
                    call = build(world, case)
                    if call is None:
                        continue
                    url, request = call
                    response = client.request(route[0], url, **request)
                    _check(route, role, is_scoped, case, response)
                    checked += 1
    assert checked > 300


@pytest.mark.parametrize("route", ["/v1/drafts", "/v1/deliveries", "/v1/audit", "/v1/insights/alerts",
                                   "/v1/webhooks/sources"])
def test_an_installation_admin_still_sees_every_workspace(live: LiveServer, route: str) -> None:
    """Keys made before scopes (migrated to ``*``) keep their installation-wide view."""
    seed_drafts(live.engine, 1, prefix="a", workspace=OWN)
    seed_drafts(live.engine, 1, prefix="b", workspace=OTHER)
    with live.client("admin") as admin:
        assert admin.get(route).status_code == 200
        if route == "/v1/drafts":
            seen = {d["workspace"] for d in admin.get(route).json()["data"]}
            assert {OWN, OTHER} <= seen


def test_keys_made_before_scopes_become_installation_wide(tmp_path: Path) -> None:
    """Migration 0009: a key stored at revision 0008 keeps working everywhere (its scope is ``*``)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    import desk.db

    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(Path(desk.db.__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "0008")
    old = create_engine(settings.sqlalchemy_url)
    with old.begin() as conn:
        conn.execute(text("INSERT INTO api_keys (name, prefix, key_hash, role, created_at) "
                          "VALUES ('old', 'rdk_old', 'h', 'cm', '2026-01-01 00:00:00')"))
    old.dispose()
    command.upgrade(config, "head")
    upgraded = create_engine(settings.sqlalchemy_url)
    with upgraded.connect() as conn:
        stored = conn.execute(text("SELECT workspaces FROM api_keys WHERE name = 'old'")).scalar_one()
    upgraded.dispose()
    assert Scope.parse(stored).everywhere


def test_cli_makes_scoped_keys_and_lists_their_workspaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`keys create --workspace` scopes a key; without it the key is installation-wide, as before."""
    from typer.testing import CliRunner

    from ground import settings as settings_module
    from replydesk.cli import app as cli_app

    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(tmp_path))
    settings_module.get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(cli_app, ["keys", "create", "--role", "cm", "--workspace", "lumen",
                                       "--workspace", "nova", "--name", "brand"])
        assert made.exit_code == 0, made.output
        wide = runner.invoke(cli_app, ["keys", "create", "--role", "admin", "--name", "ops"])
        assert wide.exit_code == 0, wide.output
        bad = runner.invoke(cli_app, ["keys", "create", "--role", "cm", "--workspace", "Not A Name"])
        assert bad.exit_code == 1 and "workspace" in bad.output
        listed = runner.invoke(cli_app, ["keys", "list", "--json"])
        rows = {r["name"]: r for r in map(json.loads, listed.stdout.splitlines())}
        assert rows["brand"]["workspaces"] == ["lumen", "nova"]
        assert rows["ops"]["workspaces"] == ["*"]
    finally:
        settings_module.get_settings.cache_clear()


def test_a_workspace_admin_manages_keys_only_within_its_workspaces(live: LiveServer) -> None:
    """No escalation through keys: a lumen admin cannot make a key for orbit or for every workspace, nor see
    or revoke the installation's keys (OWASP API5)."""
    admin = create_key(live.engine, "admin", "lumen-admin", workspaces=Scope.of([OWN]))
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=live.base_url, headers=headers, timeout=60) as client:
        for workspaces in ([OTHER], ["*"], [OWN, OTHER]):
            refused = client.post("/v1/keys", json={"role": "admin", "workspaces": workspaces})
            assert refused.status_code == 403, refused.text
        made = client.post("/v1/keys", json={"role": "cm", "workspaces": [OWN]})
        assert made.status_code == 201 and made.json()["workspaces"] == [OWN]
        listed = client.get("/v1/keys").json()["data"]
        assert all(k["workspaces"] == [OWN] for k in listed)
        installation_key = 1  # the live server's first key: installation-wide
        assert client.delete(f"/v1/keys/{installation_key}").status_code == 404
