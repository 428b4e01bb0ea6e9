"""Admin: API keys (a new key is shown once, then only its prefix), revocation, a workspace's settings (four
eyes, delivery webhook) and inbound webhook sources. A new key or secret is answered on the page of the post
itself, never through a redirect: a secret must not ride in a URL (history, logs, Referer)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.deps import Form, PageError, Principal, Who, bounded, settings_of
from console.views import page
from desk import sources
from desk.keys import ROLES, issue_key, list_keys, revoke_key
from desk.scope import Scope
from desk.workspaces import read_config, update_config
from ground.names import is_workspace_name
from ground.redact import redact_url

router = APIRouter(include_in_schema=False)
_URL = re.compile(r"^https?://\S+$")


def _workspace(request: Request, who: Principal, named: str | None) -> str:
    return who.scope.workspace_for(named or None, settings_of(request).workspace)


def _admin_page(request: Request, who: Principal, workspace: str, status_code: int = 200,
                **shown: Any) -> HTMLResponse:
    ctx = request.app.state.ctx
    config = read_config(ctx.engine, workspace, scope=who.scope)
    response = page(request, "admin.html", who, status_code=status_code, workspace=workspace,
                    keys=list_keys(ctx.engine, scope=who.scope), roles=ROLES,
                    config=config, webhook_shown=redact_url(config.webhook_url) if config.webhook_url else "",
                    sources=sources.list_sources(ctx.engine, scope=who.scope), **shown)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, who: Who) -> HTMLResponse:
    who.require("admin")
    return _admin_page(request, who, _workspace(request, who, request.query_params.get("workspace")))


@router.post("/admin/keys", response_class=HTMLResponse)
def create_key(request: Request, who: Who, form: Form) -> HTMLResponse:
    who.require("admin")
    role = str(form.get("role") or "")
    if role not in ROLES:
        raise PageError(400, "Choose a role for the new key.")
    names = [n.strip() for n in str(form.get("workspaces") or "").split(",") if n.strip()]
    scope = Scope.of(names) if names else None
    record, key = issue_key(request.app.state.ctx.engine, role, str(form.get("name") or "")[:100], who.actor,
                            workspaces=scope, scope=who.scope)
    return _admin_page(request, who, _workspace(request, who, None), status_code=201,
                       new_key={"key": key, "role": record.role, "name": record.name, "workspaces": record.workspaces})


@router.post("/admin/keys/{key_id}/revoke")
def revoke(request: Request, who: Who, form: Form, key_id: int) -> Response:
    key_id = bounded(key_id, "key")
    who.require("admin")
    try:
        revoke_key(request.app.state.ctx.engine, key_id, who.actor, scope=who.scope)
    except KeyError:
        raise PageError(404, "Key not found.") from None
    return RedirectResponse("/admin?flash=revoked", status_code=303)


@router.post("/admin/workspace", response_class=HTMLResponse)
def workspace_settings(request: Request, who: Who, form: Form) -> Response:
    who.require("admin")
    ctx = request.app.state.ctx
    ws = str(form.get("workspace") or "")
    if not is_workspace_name(ws):
        raise PageError(400, "Unknown workspace.")
    changes: dict[str, Any] = {"four_eyes": form.get("four_eyes") == "on"}
    url = str(form.get("webhook_url") or "").strip()
    if form.get("clear_webhook") == "on":
        changes["webhook_url"] = None
    elif url:
        if not _URL.match(url) or len(url) > 2000:
            raise PageError(400, "The webhook URL must be an http(s) URL.")
        changes["webhook_url"] = url
    _config, secret = update_config(ctx.engine, ctx.settings, ws, changes, who.actor, scope=who.scope)
    if secret:
        return _admin_page(request, who, ws, new_secret={"what": f"the {ws} delivery webhook", "secret": secret})
    return RedirectResponse(f"/admin?{urlencode({'workspace': ws, 'flash': 'saved'})}", status_code=303)


@router.post("/admin/sources", response_class=HTMLResponse)
def create_source(request: Request, who: Who, form: Form) -> HTMLResponse:
    who.require("admin")
    ctx = request.app.state.ctx
    name = str(form.get("source") or "").strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,47}", name):
        raise PageError(400, "A source name is lower-case letters, digits, - and _ (up to 48).")
    ws = _workspace(request, who, str(form.get("workspace") or "") or None)
    row = sources.create_source(ctx.engine, name, ws, who.actor, scope=who.scope)
    return _admin_page(request, who, ws, status_code=201,
                       new_secret={"what": f"webhook source {row.source}", "secret": sources.source_secret(ctx.settings,
                                                                                                           row)})


@router.post("/admin/sources/{name}/{action}", response_class=HTMLResponse)
def change_source(request: Request, who: Who, form: Form, name: str, action: str) -> Response:
    who.require("admin")
    ctx = request.app.state.ctx
    if action == "rotate":
        row = sources.rotate_source(ctx.engine, name, who.actor, scope=who.scope)
        return _admin_page(request, who, row.workspace,
                           new_secret={"what": f"webhook source {row.source}",
                                       "secret": sources.source_secret(ctx.settings, row)})
    if action == "revoke":
        sources.revoke_source(ctx.engine, name, who.actor, scope=who.scope)
        return RedirectResponse("/admin?flash=revoked", status_code=303)
    raise PageError(404, "Not found.")
