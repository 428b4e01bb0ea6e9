"""Opaque cursors for keyset pagination: stable under concurrent inserts, cheap at any depth."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from api.errors import BadRequest


def encode_cursor(sort: str, key: Any, row_id: int) -> str:
    value = key.isoformat() if isinstance(key, datetime) else key
    raw = json.dumps({"s": sort, "k": value, "id": row_id, "dt": isinstance(key, datetime)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort:
            raise BadRequest(f"this cursor was made for sort={data['s']}, not sort={sort}")
        key = datetime.fromisoformat(data["k"]) if data.get("dt") and data["k"] is not None else data["k"]
        return key, int(data["id"])
    except BadRequest:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("invalid cursor: pass next_cursor from the previous page unchanged") from exc


def aware(value: datetime | None) -> datetime | None:
    """Query-string times without an offset are taken as UTC."""
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
