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
from knowledge.ingest import ingest_upload
from knowledge.loaders import MAX_FILE_BYTES, SUPPORTED_SUFFIXES
from knowledge.store import check_workspace

router = APIRouter(prefix="/v1/knowledge/documents", tags=["knowledge"],
                   responses=responses(COMMON, AUTHENTICATED, BAD_REQUEST))
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
_READ = 1 << 20
WorkspaceQuery = Annotated[str | None, Query(pattern=WORKSPACE_PATTERN)]


def _upload_name(filename: str | None) -> str:
    name = _SAFE_NAME.sub("_", Path(filename or "").name).strip(" .")
    if not name:
        raise BadRequest("the uploaded file needs a name (with an extension such as .md or .csv)")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise BadRequest(f"{name}: unsupported file type (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    return name


def _save(upload: UploadFile, target: Path, name: str) -> None:
    """Copy the upload to disk, refusing it as soon as it passes the size cap."""
    size = 0
    with target.open("wb") as out:
        while block := upload.file.read(_READ):
            size += len(block)
            if size > MAX_FILE_BYTES:
                raise TooLarge(f"{name}: file is larger than the limit of {MAX_FILE_BYTES >> 20} MB")
            out.write(block)


@router.post("", response_model=DocumentUploaded, status_code=status.HTTP_201_CREATED, responses=TOO_LARGE)
def upload_document(
    ctx: ContextDep,
    key: Admin,
    file: Annotated[UploadFile, File(description="md, txt, html, pdf, csv, jsonl or json")],
    workspace: Annotated[str | None, Form(pattern=WORKSPACE_PATTERN)] = None,
    kind: Annotated[str, Form(pattern=r"^(auto|faq|guideline|policy|review|other)$")] = "auto",
) -> DocumentUploaded:
    ws = check_workspace(scope_of(key).workspace_for(workspace, ctx.settings.workspace))
    name = _upload_name(file.filename)
    folder = Path(tempfile.mkdtemp(prefix="replydesk-upload-"))
    try:
        path = folder / name
        _save(file, path, name)
        report = ingest_upload(ctx.store, path, f"upload/{name}", ws, kind)
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
