"""Knowledge documents over HTTP: upload (admin), list with chunk counts, delete.

An upload is parsed completely before anything is written, so a bad file (binary junk, wrong encoding,
a malformed CSV/JSONL line, over the size cap) is a 4xx naming the file and line, and the existing
knowledge is untouched. Re-uploading a file with the same name replaces that document.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, NOT_FOUND, TOO_LARGE, responses
from api.deps import Admin, ContextDep, Viewer, scope_of
from api.errors import BadRequest, NotFound, TooLarge, UnprocessableEntity
from api.schemas import DocumentDeleted, DocumentList, DocumentPublic, DocumentUploaded
from ground.names import WORKSPACE_PATTERN
from knowledge.errors import KnowledgeError
from knowledge.ingest import ingest_upload
from knowledge.store import check_workspace
from knowledge.uploads import UploadTooLarge, save_upload, upload_name

router = APIRouter(prefix="/v1/knowledge/documents", tags=["knowledge"],
                   responses=responses(COMMON, AUTHENTICATED, BAD_REQUEST))
WorkspaceQuery = Annotated[str | None, Query(pattern=WORKSPACE_PATTERN)]


@router.post("", response_model=DocumentUploaded, status_code=status.HTTP_201_CREATED, responses=TOO_LARGE)
def upload_document(
    ctx: ContextDep,
    key: Admin,
    file: Annotated[UploadFile, File(description="md, txt, html, pdf, csv, jsonl or json")],
    workspace: Annotated[str | None, Form(pattern=WORKSPACE_PATTERN)] = None,
    kind: Annotated[str, Form(pattern=r"^(auto|faq|guideline|policy|review|other)$")] = "auto",
) -> DocumentUploaded:
    ws = check_workspace(scope_of(key).workspace_for(workspace, ctx.settings.workspace))
    try:
        name = upload_name(file.filename)
    except KnowledgeError as exc:
        raise BadRequest(str(exc)) from None
    folder = Path(tempfile.mkdtemp(prefix="replydesk-upload-"))
    try:
        path = folder / name
        save_upload(file.file, path, name)
        report = ingest_upload(ctx.store, path, f"upload/{name}", ws, kind)
    except UploadTooLarge as exc:
        raise TooLarge(str(exc)) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    wanted = {d.doc_id for d in report.documents}
    doc = next((d for d in ctx.store.documents(ws) if d.id in wanted), None)
    if doc is None:
        raise UnprocessableEntity(f"{name}: nothing to ingest (no readable text in the file)")
    return DocumentUploaded(
        document=DocumentPublic.model_validate(doc.model_dump()), workspace=ws, added=report.added,
        updated=report.updated, unchanged=report.unchanged, removed=report.removed, flagged=report.flagged,
    )


@router.get("", response_model=DocumentList)
def list_documents(ctx: ContextDep, key: Viewer, workspace: WorkspaceQuery = None) -> DocumentList:
    """The documents of one workspace: the one named (within the key's scope), else the default one."""
    docs = ctx.store.documents(scope_of(key).workspace_for(workspace, ctx.settings.workspace))
    return DocumentList(data=[DocumentPublic.model_validate(d.model_dump()) for d in docs], count=len(docs))


@router.delete("/{doc_id}", response_model=DocumentDeleted, responses=NOT_FOUND)
def delete_document(
    doc_id: str,
    ctx: ContextDep,
    key: Admin,
    workspace: WorkspaceQuery = None,
) -> DocumentDeleted:
    ws = scope_of(key).workspace_for(workspace, ctx.settings.workspace)
    if not re.fullmatch(r"[0-9a-f]{16}", doc_id):
        raise NotFound("document not found")
    deleted = ctx.store.delete_document(ws, doc_id)
    if not deleted:
        raise NotFound("document not found")
    return DocumentDeleted(id=doc_id, workspace=ws, chunks_deleted=deleted)
