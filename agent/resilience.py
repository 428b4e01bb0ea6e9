"""Guards around the LLM endpoint (OWASP LLM10): a circuit breaker, a per-source rate limit, a daily budget.

Transport retries stay the SDK's (one retry layer, honouring Retry-After); these guards decide whether to
call at all. When one says no, the draft is written by the offline composer and its note says why.

Counters live in the LangGraph Store so several worker processes share them. Each process writes only its
own counter item (key = host:pid) and readers sum the items, so no two processes ever update one row: no
lost updates without cross-process locking. A total can lag by the calls in flight at that moment, which
a budget tolerates.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from datetime import UTC, datetime

from langgraph.store.base import BaseStore

from agent.memory import NAMESPACE
from ground.settings import Settings

_PROCESS = f"{socket.gethostname()}-{os.getpid()}".replace(".", "_")
FLUSH_SECONDS = 1.0
MAX_NAMESPACES = 4096


class CircuitBreaker:
    """Closed → open after N consecutive failures → half-open after a cooldown (one trial call)."""

    def __init__(self, failures: int, cooldown: float) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if time.monotonic() - self._opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if time.monotonic() - self._opened_at < self.cooldown or self._trial:
                return False
            self._trial = True  # one caller probes the endpoint; the others keep falling back
            return True

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial = False
            if self._failures >= self.threshold or self._opened_at is not None:
                self._opened_at = time.monotonic()


class UsageLedger:
    """Per-process counters in the store, summed across processes.

    This process's counters live in memory and reach the store at most once a FLUSH_SECONDS per namespace;
    the other processes' sums are read at most that often too. Each write used to be a read and a write
    on the store's one SQLite connection, twice per LLM call, under a lock every drafting lane queued on.
    A total is exact for this process and at most FLUSH_SECONDS behind for the others; a process killed
    outright loses at most its last FLUSH_SECONDS of counts (:meth:`flush` writes them on a clean close).
    """

    def __init__(self, store: BaseStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._own: dict[tuple[str, ...], dict[str, int]] = {}
        self._written: dict[tuple[str, ...], float] = {}  # when each of ours last reached the store
        self._others: dict[tuple[str, ...], tuple[float, dict[str, int]]] = {}  # read at, sums by name

    def add(self, namespace: tuple[str, ...], **amounts: int) -> None:
        # The store is read and written outside the lock: every drafting lane counts here, and a lane waiting
        # on the store's connection must not hold the others up (they queued on it at one in eight lane-seconds).
        with self._lock:
            known = namespace in self._own
        stored: dict[str, int] = {}
        if not known:  # first count here: go on from what the store holds for this process
            item = self.store.get(namespace, _PROCESS)
            stored = {k: int(v) for k, v in (item.value if item else {}).items()}
        due: dict[tuple[str, ...], dict[str, int]] = {}
        with self._lock:
            value = self._own.get(namespace)
            if value is None:
                value = self._own[namespace] = stored
                self._others.pop(namespace, None)  # a cached sum may hold that stored value too
            for name, amount in amounts.items():
                value[name] = value.get(name, 0) + int(amount)
            now = time.monotonic()
            if now - self._written.get(namespace, -FLUSH_SECONDS) >= FLUSH_SECONDS:
                self._written[namespace] = now
                due[namespace] = dict(value)
            if len(self._own) > MAX_NAMESPACES:  # hourly and per-author keys: keep only the recent ones
                due.update((ns, dict(v)) for ns, v in self._own.items())
                self._own.clear()
                self._written.clear()
                self._others.clear()
        for key, counts in due.items():
            self.store.put(key, _PROCESS, counts)

    def total(self, namespace: tuple[str, ...], name: str) -> int:
        now = time.monotonic()
        with self._lock:
            cached = self._others.get(namespace)
        if cached is None or now - cached[0] >= FLUSH_SECONDS:  # read outside the lock: lanes do not queue
            items = self.store.search(namespace, limit=1000)
            with self._lock:
                ours_in_memory = namespace in self._own
                sums: dict[str, int] = {}
                for item in items:
                    if item.key == _PROCESS and ours_in_memory:
                        continue  # ours is counted from memory
                    for key, amount in item.value.items():
                        sums[key] = sums.get(key, 0) + int(amount)
                if len(self._others) > MAX_NAMESPACES:
                    self._others.clear()
                cached = self._others[namespace] = (now, sums)
        with self._lock:
            own = self._own.get(namespace) or {}
            return int(own.get(name, 0)) + cached[1].get(name, 0)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        for namespace, value in self._own.items():
            self.store.put(namespace, _PROCESS, dict(value))
            self._written[namespace] = time.monotonic()


def source_key(workspace: str, platform: str, author_id: str) -> str:
    return hashlib.sha256(f"{workspace}\x00{platform}\x00{author_id}".encode()).hexdigest()[:16]


class LLMGuard:
    """Decides whether a call may go to the LLM, and records what it cost."""

    def __init__(self, settings: Settings, store: BaseStore | None) -> None:
        self.settings = settings
        self.breaker = CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_cooldown)
        self.ledger = UsageLedger(store) if store is not None else None

    @staticmethod
    def _day() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%d")

    @staticmethod
    def _hour() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H")

    def refusal(self, workspace: str, source: str | None) -> str | None:
        """Why the LLM must not be called now, or None when it may be."""
        if self.ledger is not None:
            budget = self.settings.llm_daily_token_budget
            if budget is not None:
                spent = self.ledger.total((NAMESPACE, "tokens", workspace, self._day()), "tokens")
                if spent >= budget:
                    return f"daily token budget reached ({spent}/{budget} tokens today)"
            limit = self.settings.llm_source_rate_per_hour
            if source is not None and limit is not None:
                calls = self.ledger.total((NAMESPACE, "rate", workspace, source, self._hour()), "calls")
                if calls >= limit:
                    return f"rate limit for this author reached ({calls}/{limit} LLM drafts this hour)"
        if not self.breaker.allow():
            return "circuit breaker open after repeated LLM failures"
        return None

    def record(self, workspace: str, source: str | None, usage: dict[str, int]) -> None:
        self.breaker.success()
        if self.ledger is None:
            return
        self.ledger.add((NAMESPACE, "tokens", workspace, self._day()), tokens=usage.get("total_tokens", 0), calls=1)
        if source is not None:
            self.ledger.add((NAMESPACE, "rate", workspace, source, self._hour()), calls=1)

    def failed(self) -> None:
        self.breaker.failure()

    def flush(self) -> None:
        if self.ledger is not None:
            self.ledger.flush()
