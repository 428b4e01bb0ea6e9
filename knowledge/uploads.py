"""Uploaded files, as the API and the console receive them: a safe name, and a copy capped in size.

The name is reduced to a plain file name (no folders, no odd characters) that keeps its extension, and the
extension must be one the loaders read; the copy stops as soon as the file passes the size cap, so an
oversized upload is refused without being held in full.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

from knowledge.errors import KnowledgeError
from knowledge.loaders import MAX_FILE_BYTES, SUPPORTED_SUFFIXES

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
_BLOCK = 1 << 20


class UploadTooLarge(KnowledgeError):
    """The uploaded file passed MAX_FILE_BYTES; the API answers 413."""


def upload_name(filename: str | None) -> str:
    """The name to store an upload under, or a KnowledgeError saying why the file is refused."""
    name = _SAFE_NAME.sub("_", Path(filename or "").name).strip(" .")
    if not name:
        raise KnowledgeError("the uploaded file needs a name (with an extension such as .md or .csv)")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise KnowledgeError(f"{name}: unsupported file type (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    return name


def save_upload(stream: BinaryIO, target: Path, name: str) -> None:
    """Copy the stream to target, refusing it as soon as it passes the size cap."""
    size = 0
    with target.open("wb") as out:
        while block := stream.read(_BLOCK):
            size += len(block)
            if size > MAX_FILE_BYTES:
                raise UploadTooLarge(f"{name}: file is larger than the limit of {MAX_FILE_BYTES >> 20} MB")
            out.write(block)
