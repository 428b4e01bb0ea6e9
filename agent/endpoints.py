"""What this process has learned about each LLM endpoint: its structured-output mode per model, whether it
takes ``seed``, how fast it answers (which sizes the timeout), and how many requests it may have in flight.

Process-wide and in memory: learned once per endpoint and model, kept until restart (or until
``REPLYDESK_LLM_STRUCTURED_OUTPUT`` names another starting mode). Every client for the same base URL shares
one :class:`Endpoint`, whichever feature (drafting, triage, summaries, the judge) it serves.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from agent.structured import MODES, Mode

_WINDOW = 20  # recent latencies kept per endpoint
_HEADROOM = 4.0  # timeout = this x the slow end of recent latencies (within floor and ceiling)


@dataclass
class Capability:
    """The structured-output mode of one endpoint+model: where negotiation starts, and what it learned."""

    mode: Mode
    confirmed: bool = False  # a request in ``mode`` got an answer
    refused: dict[str, str] = field(default_factory=dict)  # mode → what the server said (redacted)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # held while negotiating
    _moving: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def downgrade(self, refused: Mode, said: str) -> Mode | None:
        """The endpoint refused ``refused``: move to the next mode and return it; None when another thread
        had moved past ``refused`` already."""
        with self._moving:
            if self.mode != refused:
                return None
            self.refused[refused] = said
            self.mode = MODES[min(MODES.index(refused) + 1, len(MODES) - 1)]
            return self.mode


class Endpoint:
    def __init__(self, base_url: str, concurrency: int) -> None:
        self.base_url = base_url
        self.label = display_url(base_url)
        # The most requests this process has in flight to the endpoint, whatever client sends them (eval
        # clients have their own transport). The default client's transport also goes through the adaptive
        # limiter (agent/limits.py), which lowers its own cap on 429s below this one. A counter under a
        # condition rather than a semaphore, so that the cap follows the latest configuration (a semaphore
        # keeps the size it was made with, and the first settings to name an endpoint would fix it for good).
        self.concurrency = max(1, concurrency)
        self._in_flight = 0
        self._free = threading.Condition()
        self._latencies: deque[float] = deque(maxlen=_WINDOW)
        self._capabilities: dict[tuple[str, Mode], Capability] = {}
        self.seed_supported = True
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._free:
            self._free.wait_for(lambda: self._in_flight < self.concurrency)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._free:
                self._in_flight -= 1
                self._free.notify()

    def resize(self, concurrency: int) -> None:
        """A new cap for requests in flight; requests already in flight finish, new ones wait below it."""
        with self._free:
            self.concurrency = max(1, concurrency)
            self._free.notify_all()

    def capability(self, model: str, start: Mode, *, configured: bool = False) -> Capability:
        """``configured``: an operator named the mode, so callers need not wait for a first answer to
        confirm it (a refusal still moves it down, once)."""
        with self._lock:
            return self._capabilities.setdefault((model, start), Capability(start, confirmed=configured))

    def capabilities(self) -> dict[str, Capability]:
        with self._lock:
            return {model: cap for (model, _), cap in self._capabilities.items()}

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._latencies.append(seconds)

    def timeout(self, floor: float, ceiling: float) -> float:
        """Seconds to wait for the next answer: a few times the slow end of recent answers, within bounds.

        A timed-out call is observed at the timeout it had, so a server slower than the floor pushes the
        next timeout up (x4 each time) instead of failing every call at the same fixed limit.
        """
        with self._lock:
            recent = sorted(self._latencies)
        if not recent:
            return floor
        slow = recent[-1] if len(recent) < 5 else statistics.quantiles(recent, n=10)[-1]
        return min(max(floor, _HEADROOM * slow), max(ceiling, floor))


_endpoints: dict[str, Endpoint] = {}
_registry_lock = threading.Lock()


def endpoint_for(base_url: str, concurrency: int) -> Endpoint:
    key = base_url.rstrip("/")
    with _registry_lock:
        found = _endpoints.get(key)
        if found is None:
            found = _endpoints[key] = Endpoint(key, concurrency)
        elif found.concurrency != concurrency:
            found.resize(concurrency)  # the latest settings win, as the limiter's configure() does
        return found


def capability_table() -> list[dict[str, object]]:
    """Everything learned so far, one row per endpoint+model (for `python -m bench.llm_real` and the tests)."""
    with _registry_lock:
        endpoints = list(_endpoints.values())
    rows: list[dict[str, object]] = []
    for ep in endpoints:
        for model, cap in ep.capabilities().items():
            rows.append({"endpoint": ep.label, "model": model, "mode": cap.mode, "confirmed": cap.confirmed,
                         "refused": dict(cap.refused), "seed": ep.seed_supported})
    return rows


def display_url(url: str) -> str:
    """scheme://host[:port]/path: no credentials, no query string (tokens travel there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}" if parts.scheme else "(unknown endpoint)"
