"""Queue priority and SLA: from triage (urgency, risk) and the platform's response-time target.

The targets come from the workspace's guidelines (front matter ``response_target_hours`` of the
platform's tone guide). They are read by the worker when it records a draft, never in a request.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from knowledge.store import KnowledgeStore

_TTL_SECONDS = 60.0
_URGENCY = {"high": 40, "normal": 20, "low": 0}
_SEVERE_RISKS = {"safety", "self_harm"}


def target_hours_from(guidelines: list[Any], platform: str) -> float | None:
    """The platform guideline's ``response_target_hours``, if one says so."""
    for chunk in guidelines:
        if (chunk.platform or "").lower() != platform.lower():
            continue
        value: Any = (chunk.attrs or {}).get("response_target_hours")
        try:
            hours = float(value)
        except (TypeError, ValueError):
            continue
        if hours > 0:
            return hours
    return None


class ResponseTargets:
    """Per-workspace platform targets, cached briefly (a re-ingested guideline applies within a minute)."""

    def __init__(self, store: KnowledgeStore | None, default_hours: float) -> None:
        self.store = store
        self.default_hours = default_hours
        self._cache: dict[str, tuple[float, list[Any]]] = {}
        self._lock = threading.Lock()

    def _guidelines(self, workspace: str) -> list[Any]:
        if self.store is None:
            return []
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(workspace)
            if cached and now - cached[0] < _TTL_SECONDS:
                return cached[1]
        guidelines = self.store.by_kind(workspace, "guideline")
        with self._lock:
            self._cache[workspace] = (now, guidelines)
        return guidelines

    def hours(self, workspace: str, platform: str) -> float:
        return target_hours_from(self._guidelines(workspace), platform) or self.default_hours


def priority_of(triage: dict[str, Any], route: str, target_hours: float) -> int:
    """0-100, higher first: urgency, then risk, then how tight the platform's target is."""
    score = _URGENCY.get(str(triage.get("urgency", "normal")), 20)
    flags = set(triage.get("risk_flags") or [])
    score += 30 if flags & _SEVERE_RISKS else min(30, 15 * len(flags))
    if route == "escalate":
        score += 10
    for limit, points in ((1, 20), (2, 15), (4, 10), (8, 5)):
        if target_hours <= limit:
            score += points
            break
    return max(0, min(100, score))


def due_at(received_at: datetime, target_hours: float) -> datetime:
    return received_at + timedelta(hours=target_hours)
