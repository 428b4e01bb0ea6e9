"""The console as api/app.py mounts it: its routes at ``/``, its own static files, and its pages for errors."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import routes_admin, routes_auth, routes_draft, routes_insights, routes_knowledge, routes_queue
from console.deps import PageError, SignInRequired
from console.views import HERE, templates

ROUTERS = (routes_auth.router, routes_queue.router, routes_draft.router, routes_knowledge.router,
           routes_insights.router, routes_admin.router)
STATIC_PREFIX = "/static"


def is_console(path: str) -> bool:
    """Console pages are every path outside the JSON API (``/v1``) and its documents."""
    return not path.startswith(("/v1/", "/docs", "/redoc", "/openapi.json", "/metrics", "/healthz", "/readyz"))


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    titles = {400: "That did not work", 403: "Not allowed", 404: "Not found", 405: "Not allowed", 409: "Conflict"}
    return templates.TemplateResponse(request, "error.html", {"who": None, "status": status, "detail": detail,
                                                              "title": titles.get(status, "Error")},
                                      status_code=status)


def install(app: FastAPI) -> None:
    async def _sign_in(request: Request, _exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)

    async def _refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return error_page(request, exc.status, exc.detail)

    async def _http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if is_console(request.url.path) and exc.status_code in (404, 405):
            return error_page(request, exc.status_code, "There is no such page here." if exc.status_code == 404
                              else "This page does not take that kind of request.")
        return await http_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(PageError, _refused)
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(HERE / "static")), name="console-static")
    for router in ROUTERS:
        app.include_router(router)
