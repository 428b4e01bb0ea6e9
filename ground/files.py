"""Secret files made once and shared by every process (the master key, the canary), created atomically.

The content is written and synced to a private temporary file first, then linked into place with
``os.link``, which fails if the name exists: a reader sees either no file or the whole content, never a
half-written or empty one, and a process that loses the race reads the winner's file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class SecretFileError(ValueError):
    """A secret file exists but cannot be used (empty or too short); the message says what to do."""


def create_once(path: Path, content: str) -> bool:
    """Create ``path`` holding ``content`` (mode 0600) unless it exists; True when this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_or_create(path: Path, make: str, min_length: int, what: str) -> str:
    """The file's content (created with ``make`` when missing), refused when shorter than ``min_length``."""
    if not path.exists():
        create_once(path, make)
    value = path.read_text().strip()
    if len(value) < min_length:
        raise SecretFileError(f"{path} does not hold a {what} ({len(value)} characters, at least {min_length} "
                              "expected); delete it to create a new one, or restore it from a backup")
    return value
