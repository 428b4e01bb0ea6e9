"""Who is using the console: the session cookie's key, its role and scope, and the CSRF check of a form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from console import session as sessions
from desk.keys import role_allows, scope_of, touch_key
from desk.models import ApiKey
from desk.scope import Scope
from ground.settings import Settings


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in form."""


class PageError(Exception):
    """A refusal shown as a page (403 role, 400 bad form, 404)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    key: ApiKey
    session: sessions.Session
    csrf: str

    @property
    def role(self) -> str:
        return self.key.role

    @property
    def scope(self) -> Scope:
        return scope_of(self.key)

    @property
    def actor(self) -> tuple[str, str]:
        return (self.key.name or f"key:{self.key.prefix}", self.key.role)

    @property
    def name(self) -> str:
        return self.actor[0]

    def can(self, role: str) -> bool:
        return role_allows(self.key.role, role)

    def require(self, role: str) -> None:
        """The server's own refusal, whatever the page showed (a viewer's forged post gets a 403)."""
        if not self.can(role):
            raise PageError(403, f"This needs the {role} role; you are signed in as {self.key.role}.")


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.ctx.settings
    return settings


def principal(request: Request) -> Principal:
    """The signed-in principal of a page (the gate already checked a write's session; reads check here)."""
    ctx = request.app.state.ctx
    state_session = getattr(request.state, "console_session", None)
    if state_session is not None:
        key = sessions.live_key(ctx.engine, state_session)
        found = (key, state_session) if key is not None else None
    else:
        found = sessions.authenticate(ctx.engine, ctx.settings, request.cookies.get(sessions.COOKIE))
    if found is None:
        raise SignInRequired()
    key, session = found
    touch_key(ctx.engine, key)
    return Principal(key=key, session=session, csrf=sessions.csrf_token(ctx.settings, session.sid))


Who = Annotated[Principal, Depends(principal)]


async def checked_form(request: Request, who: Who) -> FormData:
    """The posted form, once its CSRF token matches the session (a forged cross-site post fails here)."""
    form = await request.form()
    given = form.get("csrf_token")
    if not sessions.csrf_ok(settings_of(request), who.session.sid, given if isinstance(given, str) else None):
        raise PageError(403, "This form has expired or did not come from this console (CSRF check failed). "
                             "Go back, reload the page and try again.")
    return form


Form = Annotated[FormData, Depends(checked_form)]


MAX_ID = 2**63 - 1


def bounded(value: int, what: str = "page") -> int:
    """An id from a URL, within SQL's 64-bit integers (beyond them the database driver raises): out of range
    is simply not found."""
    if not 1 <= value <= MAX_ID:
        raise PageError(404, f"That {what} does not exist.")
    return value
