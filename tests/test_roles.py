"""Every route enforces its role: the whole role-by-route matrix, plus key revocation and last use."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from typer.testing import CliRunner

from api.app import create_app
from ground import settings as settings_module
from replydesk.cli import app as cli_app
from testkit.live import wait_for
from tests.conftest import LiveServer

RANK = {None: 0, "viewer": 1, "cm": 2, "admin": 3}
PUBLIC = "public"
SIGNED = "signed"  # authenticated by a webhook signature, not an API key
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/v1/messages"): "cm",
    ("GET", "/v1/messages/{message_id}"): "viewer",
    ("GET", "/v1/drafts"): "viewer",
    ("GET", "/v1/drafts/{draft_id}"): "viewer",
    ("GET", "/v1/drafts/{draft_id}/history"): "viewer",
    ("GET", "/v1/drafts/{draft_id}/diff"): "viewer",
    ("PATCH", "/v1/drafts/{draft_id}"): "cm",
    ("POST", "/v1/drafts/{draft_id}/approve"): "cm",
    ("POST", "/v1/drafts/{draft_id}/reject"): "cm",
    ("POST", "/v1/drafts/{draft_id}/regenerate"): "cm",
    ("POST", "/v1/drafts/{draft_id}/claim"): "cm",
    ("POST", "/v1/drafts/{draft_id}/release"): "cm",
    ("POST", "/v1/drafts/bulk"): "cm",
    ("GET", "/v1/deliveries"): "viewer",
    ("GET", "/v1/deliveries/{delivery_id}"): "viewer",
    ("POST", "/v1/deliveries/{delivery_id}/requeue"): "cm",
    ("POST", "/v1/knowledge/search"): "viewer",
    ("GET", "/v1/keys"): "admin",
    ("POST", "/v1/keys"): "admin",
    ("DELETE", "/v1/keys/{key_id}"): "admin",
    ("GET", "/v1/audit"): "admin",
    ("GET", "/v1/workspaces/{workspace}/config"): "admin",
    ("PUT", "/v1/workspaces/{workspace}/config"): "admin",
    ("POST", "/v1/workspaces/{workspace}/webhook-secret"): "admin",
    ("GET", "/v1/webhooks/sources"): "admin",
    ("POST", "/v1/webhooks/sources"): "admin",
    ("POST", "/v1/webhooks/sources/{source}/rotate"): "admin",
    ("DELETE", "/v1/webhooks/sources/{source}"): "admin",
    ("POST", "/v1/webhooks/{source}"): SIGNED,
    ("GET", "/v1/connectors"): "admin",
    ("POST", "/v1/connectors"): "admin",
    ("GET", "/v1/connectors/{connector_id}"): "admin",
    ("DELETE", "/v1/connectors/{connector_id}"): "admin",
    ("POST", "/v1/connectors/{connector_id}/test"): "admin",
    ("POST", "/v1/connectors/{connector_id}/events"): SIGNED,
    ("GET", "/v1/connectors/{connector_id}/events"): PUBLIC,  # the platform's subscribe challenge (verify token)
    ("GET", "/v1/evals/runs"): "viewer",
    ("POST", "/v1/triage"): "viewer",
    ("GET", "/v1/insights/summary"): "viewer",
    ("GET", "/v1/insights/health"): "viewer",
    ("GET", "/v1/insights/gaps"): "viewer",
    ("GET", "/v1/insights/alerts"): "viewer",
    ("POST", "/v1/insights/gaps/refresh"): "admin",
    ("POST", "/v1/insights/gaps/{suggestion_id}/accept"): "admin",
    ("POST", "/v1/insights/gaps/{suggestion_id}/dismiss"): "admin",
    ("POST", "/v1/insights/alerts/check"): "admin",
    ("GET", "/v1/evals/runs/{run_id}"): "viewer",
}


def _expected(method: str, path: str) -> str | None:
    if (method, path) in EXPECTED:
        return EXPECTED[(method, path)]
    if path.startswith("/v1/knowledge/documents"):  # knowledge management: reading is open, changing is admin
        return "viewer" if method == "GET" else "admin"
    return None


def _concrete(path: str) -> str:
    # Ids that exist nowhere (a write must not touch the test's own keys or drafts); names that are valid.
    path = re.sub(r"\{(\w*_id)\}", "999999", path)
    return re.sub(r"\{\w+\}", "matrix-probe", path)


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            if not route.endpoint.__module__.startswith("console."):  # pages: tests/console/test_console_http.py
                found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI wraps included routers
            found += _api_routes(route.original_router.routes)
    return found


def _routes() -> list[tuple[str, str]]:
    app = create_app()
    routes = sorted({(m, r.path) for r in _api_routes(app.routes) for m in (r.methods or set()) - {"HEAD", "OPTIONS"}})
    assert len(routes) >= len(EXPECTED)
    return routes


def test_every_route_has_a_declared_role() -> None:
    unmapped = [r for r in _routes() if _expected(*r) is None]
    assert not unmapped, f"add these routes to the role matrix: {unmapped}"


def test_role_by_route_matrix(live: LiveServer) -> None:
    with live.client(None) as anonymous:  # /readyz answers 503 while the worker loads its models
        wait_for(lambda: anonymous.get("/readyz").status_code == 200, timeout=120)
    checked = 0
    for method, path in _routes():
        needed = _expected(method, path)
        for role in (None, "viewer", "cm", "admin"):
            with live.client(role) as client:
                response = client.request(method, _concrete(path), json={})
            code = response.status_code
            where = f"{method} {path} as {role or 'anonymous'} → {code} {response.text[:120]}"
            assert code < 500, where
            if needed == PUBLIC:
                assert code not in (401, 403), where
            elif needed == SIGNED:
                assert code in (401, 404), where  # unknown source / no signature: never in without one
            elif role is None:
                assert code == 401, where
            elif RANK[role] < RANK[needed]:
                assert code == 403, where
                assert f"needs the {needed} role" in response.json()["detail"]
            else:
                assert code not in (401, 403), where
            checked += 1
    assert checked >= 4 * len(EXPECTED)


def test_keys_api_show_once_revoke_and_last_used(backend_live: LiveServer) -> None:
    with backend_live.client("admin") as admin:
        created = admin.post("/v1/keys", json={"role": "viewer", "name": "dashboard"})
        assert created.status_code == 201
        body = created.json()
        key = body["key"]
        assert key.startswith("rdk_") and len(key) >= 4 + 43  # 256 random bits, urlsafe base64
        listed = admin.get("/v1/keys").json()["data"]
        row = next(k for k in listed if k["id"] == body["id"])
        assert "key" not in row and row["last_used_at"] is None and key.startswith(row["prefix"])
        with httpx.Client(base_url=backend_live.base_url, headers={"Authorization": f"Bearer {key}"}) as dashboard:
            assert dashboard.get("/v1/drafts").status_code == 200
            used = next(k for k in admin.get("/v1/keys").json()["data"] if k["id"] == body["id"])
            assert used["last_used_at"] is not None
            assert admin.delete(f"/v1/keys/{body['id']}").status_code == 200
            refused = dashboard.get("/v1/drafts")
            assert refused.status_code == 401
            assert refused.json()["detail"] == "invalid or revoked API key"
        assert admin.delete("/v1/keys/999999").status_code == 404
        bad_role = admin.post("/v1/keys", json={"role": "root"})
        assert bad_role.status_code == 422
        actions = [e["action"] for e in admin.get("/v1/audit").json()["data"]]
        assert "key.create" in actions and "key.revoke" in actions


def test_keys_cli_list_and_revoke(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(tmp_path))
    settings_module.get_settings.cache_clear()
    try:
        runner = CliRunner()
        key = runner.invoke(cli_app, ["keys", "create", "--role", "cm", "--name", "script"]).stdout.strip()
        assert key.startswith("rdk_")
        listed = runner.invoke(cli_app, ["keys", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        assert key not in listed.stdout and '"role": "cm"' in listed.stdout
        revoked = runner.invoke(cli_app, ["keys", "revoke", key[:12]])
        assert revoked.exit_code == 0, revoked.output
        assert "revoked key 1" in revoked.stdout
        again = runner.invoke(cli_app, ["keys", "revoke", "rdk_nosuchkey"])
        assert again.exit_code == 1
        assert "no key" in again.output
    finally:
        settings_module.get_settings.cache_clear()
