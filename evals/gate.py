"""Every eval LLM call goes through one gate: a content-addressed cache, a cap on calls in flight, a
rate limit, and token accounting. It is an httpx transport under the ``openai`` client, so the SDK's
own retries (which honour Retry-After) pass through it attempt by attempt, and the agent's drafter
needs nothing but a client built here.

Cache key: sha256 of (endpoint, canonical JSON body — model, params and the full prompt — and the
repeat index, sent as a header). Repeats are separate samples, so they are separate keys. Only 200
responses are stored. A key asked for twice in one run is an app-level retry (output that did not
parse), so the second ask goes to the endpoint and overwrites the stored answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai

REPEAT_HEADER = "x-replydesk-eval-repeat"
ROLE_HEADER = "x-replydesk-eval-role"
_DROP_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "connection"}


class ResponseCache:
    """Response bodies in files named by their key: safe across threads and processes (atomic rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, content: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)


def cache_key(url: str, body: Any, repeat: str) -> str:
    canonical = json.dumps({"url": url, "body": body, "repeat": repeat}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class RateLimiter:
    """Evenly spaced starts: at most ``rate`` requests per second, no bursts."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


@dataclass
class RoleStats:
    """What one role (draft or judge) cost: every HTTP attempt is counted, cached answers apart."""

    attempts: int = 0
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # "429", "500", "timeout", ...
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    by_model: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class LLMGate:
    def __init__(self, cache: ResponseCache | None, concurrency: int, rate: float | None = None) -> None:
        self.cache = cache
        self.slots = threading.BoundedSemaphore(concurrency)
        self.limiter = RateLimiter(rate) if rate else None
        self.stats: dict[str, RoleStats] = {}
        self._seen: set[str] = set()
        self.params: dict[str, dict[str, Any]] = {}  # per role: the parameters actually sent (no messages)
        self._lock = threading.Lock()
        self.inner = httpx2.HTTPTransport(
            limits=httpx2.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
        )

    def client(self, base_url: str | None, api_key: str | None, *, role: str, repeat: int, timeout: float,
               max_retries: int) -> openai.OpenAI:
        # trust_env off: an environment proxy mount would bypass the gate (and its cache and accounting).
        http = httpx2.Client(transport=_GatedTransport(self), timeout=timeout, trust_env=False)
        return openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries,
            http_client=http, default_headers={REPEAT_HEADER: str(repeat), ROLE_HEADER: role},
        )

    def role(self, name: str) -> RoleStats:
        with self._lock:
            return self.stats.setdefault(name, RoleStats())

    def _account(self, role: str, content: bytes, *, cached: bool) -> None:
        try:
            data = json.loads(content)
            usage = data.get("usage") or {}
            model = str(data.get("model") or "unknown")
        except (ValueError, AttributeError):
            return
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        stats = self.role(role)
        with self._lock:
            if cached:
                stats.cached_prompt_tokens += prompt
                stats.cached_completion_tokens += completion
                return
            stats.prompt_tokens += prompt
            stats.completion_tokens += completion
            per = stats.by_model.setdefault(model, {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0})
            per["prompt_tokens"] += prompt
            per["completion_tokens"] += completion
            per["calls"] += 1

    def first_ask(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def close(self) -> None:
        self.inner.close()

    def notes(self) -> list[str]:
        """Failures worth a line in the report (each failed attempt is also in the role's stats)."""
        out = []
        for role, stats in sorted(self.stats.items()):
            if stats.failed:
                failed = ", ".join(f"{n}x {reason}" for reason, n in sorted(stats.failed.items()))
                out.append(f"{role} endpoint: {failed} failed attempts (retried by the client; "
                           "anything still failing is marked error on its case)")
        return out

    def cache_hit_rate(self) -> float | None:
        hits = sum(s.cache_hits for s in self.stats.values())
        total = hits + sum(s.ok for s in self.stats.values())
        return hits / total if total else None


class _GatedTransport(httpx2.BaseTransport):
    def __init__(self, gate: LLMGate) -> None:
        self.gate = gate

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        gate = self.gate
        role = request.headers.get(ROLE_HEADER, "llm")
        if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
            return gate.inner.handle_request(request)
        raw = request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        url = str(request.url.copy_with(query=None))
        key = cache_key(url, body, request.headers.get(REPEAT_HEADER, "0"))
        stats = gate.role(role)
        if isinstance(body, dict) and role not in gate.params:
            with gate._lock:
                gate.params.setdefault(role, {k: v for k, v in body.items() if k != "messages"})
        if gate.cache is not None and gate.first_ask(key):
            hit = gate.cache.get(key)
            if hit is not None:
                with gate._lock:
                    stats.cache_hits += 1
                gate._account(role, hit, cached=True)
                return httpx2.Response(200, headers={"content-type": "application/json"}, content=hit,
                                       request=request)
        with gate.slots:
            if gate.limiter is not None:
                gate.limiter.acquire()
            with gate._lock:
                stats.attempts += 1
            try:
                response = gate.inner.handle_request(request)
                content = response.read()
            except httpx2.TimeoutException:
                self._failed(stats, "timeout")
                raise
            except httpx2.TransportError:
                self._failed(stats, "connection")
                raise
        if response.status_code != 200:
            self._failed(stats, str(response.status_code))
        else:
            with gate._lock:
                stats.ok += 1
            gate._account(role, content, cached=False)
            if gate.cache is not None:
                gate.cache.put(key, content)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _DROP_HEADERS]
        return httpx2.Response(response.status_code, headers=headers, content=content, request=request)

    def _failed(self, stats: RoleStats, reason: str) -> None:
        with self.gate._lock:
            stats.failed[reason] = stats.failed.get(reason, 0) + 1

    def close(self) -> None:
        pass
