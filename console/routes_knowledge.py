"""Knowledge: documents with chunk counts, multi-file upload with a result per file, delete, the search
playground, and the knowledge-gap suggestions to accept (answer editable) or dismiss."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from console import session as sessions
from console.deps import Form, PageError, Principal, Who, bounded, settings_of
from console.views import page
from insights.errors import InsightsError, MissingAnswer, SuggestionConflict, SuggestionNotFound
from insights.gaps import accept_gap, dismiss_gap, list_gaps
from knowledge.errors import KnowledgeError
from knowledge.ingest import ingest_upload
from knowledge.loaders import MAX_FILE_BYTES, SUPPORTED_SUFFIXES
from knowledge.search import retrieve
from knowledge.store import check_workspace
from knowledge.uploads import save_upload, upload_name

router = APIRouter(include_in_schema=False)
MAX_FILES = 10
_DOC_ID = re.compile(r"[0-9a-f]{16}")


def _workspace(request: Request, who: Principal, named: str | None = None) -> str:
    wanted = named if named is not None else request.query_params.get("workspace") or None
    return check_workspace(who.scope.workspace_for(wanted or None, settings_of(request).workspace))


@router.get("/knowledge", response_class=HTMLResponse)
def knowledge(request: Request, who: Who) -> HTMLResponse:
    ctx = request.app.state.ctx
    ws = _workspace(request, who)
    query = request.query_params.get("q", "").strip()[:500]
    context = request.query_params.get("context", "").strip()[:4000]
    result = None
    if query:
        try:
            result = retrieve(ctx.store, query, ws, k=5, context=context or None)
        except KnowledgeError as exc:
            raise PageError(400, str(exc)) from None
    uploaded = sessions.unseal(ctx.settings, request.query_params.get("uploaded"))
    return page(request, "knowledge.html", who, workspace=ws, documents=ctx.store.documents(ws), query=query,
                context=context, result=result, uploaded=uploaded if isinstance(uploaded, list) else None,
                gaps=list_gaps(ctx.engine, ws, "pending"), suffixes=", ".join(SUPPORTED_SUFFIXES),
                max_mb=MAX_FILE_BYTES >> 20, max_files=MAX_FILES)


def _ingest_one(request: Request, upload: UploadFile, ws: str, kind: str) -> dict[str, Any]:
    shown = Path(upload.filename or "(no name)").name
    folder = Path(tempfile.mkdtemp(prefix="replydesk-console-upload-"))
    try:
        name = upload_name(upload.filename)
        path = folder / name
        save_upload(upload.file, path, name)
        report = ingest_upload(request.app.state.ctx.store, path, f"upload/{name}", ws, kind)
        if not report.documents:
            raise KnowledgeError("nothing to ingest (no readable text in the file)")
        return {"name": shown, "ok": True, "text": f"{report.added} chunks added, {report.updated} updated, "
                f"{report.unchanged} unchanged, {report.removed} removed"
                + (f", {report.flagged} flagged" if report.flagged else "")}
    except KnowledgeError as exc:
        # The row already names the file: the reason alone (without the temp folder or the name before it).
        return {"name": shown, "ok": False, "text": str(exc).removeprefix(f"{folder}/").removeprefix(f"{shown}: ")}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@router.post("/knowledge/upload")
def upload(request: Request, who: Who, form: Form) -> Response:
    who.require("admin")
    ws = _workspace(request, who, str(form.get("workspace") or "") or None)
    kind = str(form.get("kind") or "auto")
    if kind not in ("auto", "faq", "guideline", "policy", "review", "other"):
        raise PageError(400, "Unknown document kind.")
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    if not files:
        raise PageError(400, "Choose at least one file to upload.")
    if len(files) > MAX_FILES:
        raise PageError(400, f"Upload at most {MAX_FILES} files at once.")
    results = [_ingest_one(request, f, ws, kind) for f in files]
    sealed = sessions.seal(settings_of(request), results)
    return RedirectResponse(f"/knowledge?{urlencode({'workspace': ws, 'uploaded': sealed})}", status_code=303)


@router.post("/knowledge/documents/{doc_id}/delete")
def delete(request: Request, who: Who, form: Form, doc_id: str) -> Response:
    who.require("admin")
    ws = _workspace(request, who, str(form.get("workspace") or "") or None)
    if not _DOC_ID.fullmatch(doc_id) or not request.app.state.ctx.store.delete_document(ws, doc_id):
        raise PageError(404, "Document not found.")
    return RedirectResponse(f"/knowledge?{urlencode({'workspace': ws, 'flash': 'deleted'})}", status_code=303)


def _gap_error(exc: InsightsError) -> PageError:
    status = 404 if isinstance(exc, SuggestionNotFound) else 409 if isinstance(exc, SuggestionConflict) else 400
    return PageError(status, str(exc))


@router.post("/knowledge/gaps/{suggestion_id}/{decision}")
def decide_gap(request: Request, who: Who, form: Form, suggestion_id: int, decision: str) -> Response:
    suggestion_id = bounded(suggestion_id, "suggestion")
    who.require("admin")
    ctx = request.app.state.ctx
    try:
        if decision == "accept":
            row = accept_gap(ctx.engine, ctx.store, suggestion_id, who.name,
                             question=str(form.get("question") or "")[:2000] or None,
                             answer=str(form.get("answer") or "")[:4000] or None, scope=who.scope)
        elif decision == "dismiss":
            row = dismiss_gap(ctx.engine, suggestion_id, who.name, str(form.get("reason") or "")[:2000],
                              scope=who.scope)
        else:
            raise PageError(404, "Not found.")
    except (MissingAnswer, InsightsError) as exc:
        raise _gap_error(exc) from None
    flash = "gap-accepted" if decision == "accept" else "gap-dismissed"
    return RedirectResponse(f"/knowledge?{urlencode({'workspace': row.workspace, 'flash': flash})}", status_code=303)
