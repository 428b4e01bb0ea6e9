"""Throwaway PostgreSQL databases on the local server (127.0.0.1:5432), for tests and benchmarks."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache

import psycopg

ADMIN_URL = os.environ.get("REPLYDESK_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _url_for(name: str) -> str:
    base, _, _db = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@lru_cache(maxsize=1)
def available() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def create_database(prefix: str = "replydesk_test", template: str | None = None) -> tuple[str, str]:
    """Create an empty (or templated) database; returns (name, url)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name, _url_for(name)


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
