"""Sign-in (paste an API key once → a session cookie) and sign-out."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console import session as sessions
from console.deps import Form as CheckedForm
from console.deps import Who, settings_of
from console.views import page
from desk.keys import authenticate, sign_out_sessions

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (an open redirect would hand the session's user to anyone's page)."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not (target or "/").startswith("/") or (target or "").startswith("//"):
        return "/"
    return target or "/"


def _cookie_flags(request: Request) -> dict[str, object]:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}


def _sign_in_form(request: Request, error: str = "", status_code: int = 200) -> HTMLResponse:
    nonce = request.cookies.get(sessions.PRE_COOKIE) or secrets.token_urlsafe(16)
    response = page(request, "signin.html", None, status_code=status_code, error=error,
                    next=_safe_next(request.query_params.get("next")),
                    expired=request.query_params.get("expired") == "1",
                    csrf=sessions.csrf_token(settings_of(request), "signin:" + nonce))
    response.set_cookie(sessions.PRE_COOKIE, nonce, max_age=3600, **_cookie_flags(request))  # type: ignore[arg-type]
    return response


@router.get("/signin", response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    return _sign_in_form(request)


@router.post("/signin", response_class=HTMLResponse)
def sign_in(
    request: Request, api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    settings = settings_of(request)
    nonce = request.cookies.get(sessions.PRE_COOKIE) or ""
    if not nonce or not sessions.csrf_ok(settings, "signin:" + nonce, csrf_token):
        return _sign_in_form(request, "This sign-in form expired. Paste your key again.", 403)
    key = authenticate(request.app.state.ctx.engine, api_key.strip())
    if key is None or key.id is None:
        return _sign_in_form(request, "That key is not valid (unknown or revoked).", 401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(sessions.COOKIE, sessions.issue(settings, key.id), max_age=sessions.LIFETIME_SECONDS,
                        **_cookie_flags(request))  # type: ignore[arg-type]
    response.delete_cookie(sessions.PRE_COOKIE, path="/")
    return response


@router.post("/signout")
def sign_out(request: Request, who: Who, _form: CheckedForm) -> Response:
    sign_out_sessions(request.app.state.ctx.engine, who.session.key_id)
    response = RedirectResponse("/signin?flash=signed-out", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    return response
