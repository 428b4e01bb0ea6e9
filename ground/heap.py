"""The C heap under Python: what glibc's malloc keeps that the process no longer uses.

Native libraries (ONNX Runtime, tokenizers, numpy) allocate with malloc. glibc serves each thread from
one of up to eight arenas per core and keeps what is freed in them, so a process with dozens of threads
(drafting lanes, the server's thread pool) and one-off peaks (building the ONNX session, fitting the
triage models) stays at its high-water mark. Two calls bound that: ``limit_arenas`` before the threads
start, ``trim`` after a peak. Both are no-ops where the C library is not glibc. (No PyPI package wraps
these two calls; ctypes does it in a few lines.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


@lru_cache(maxsize=1)
def _glibc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def trim() -> None:
    """Hand the heap's free pages back to the operating system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def limit_arenas(arenas: int) -> None:
    """At most ``arenas`` malloc arenas for threads created from now on; 0 keeps glibc's default."""
    libc = _glibc()
    if arenas > 0 and libc is not None and not libc.mallopt(_M_ARENA_MAX, arenas):
        log.warning("mallopt(M_ARENA_MAX, %d) was refused; the C heap keeps glibc's default arenas", arenas)
