"""Per-endpoint limits on LLM requests: an adaptive concurrency cap, requests and tokens per minute.

Every LLM request of a process (drafting, triage, summaries, the judge) to one endpoint — a base URL and
model — passes through that endpoint's one :class:`EndpointLimiter`, shared by all lanes and threads::

    with endpoint_slot(base_url, model, tokens=estimate) as slot:      # sync code, any thread
        response = send()
        slot.report_429(retry_after) if response.status_code == 429 else slot.report_success()

    async with async_endpoint_slot(base_url, model) as slot:          # async code
        ...

A slot that is left without a report counts as a success unless the block raised (then it counts as
neither). :func:`limited_http_client` builds an ``openai`` HTTP client whose every request goes through
the limiter and which retries 429s itself (see :class:`LimitedTransport`).

How the cap adapts (AIMD): it starts at the configured concurrency. A 429 shows the endpoint could not
take the ``n`` requests we had in flight when the refused one was sent, so the cap drops to ``n - 1``
(at least one below the current cap; later refusals of the same burst only lower it to their own
``n - 1``): from 32 to the endpoint's own 8 in one round, not by halving eight times. After as many
successes in a row as the cap, it rises by one, probing back up to the configured maximum; a refused
probe costs one 429 and one step down. ``Retry-After`` is honoured by the refused request; when a request
is refused at or below the level the last decrease settled on (the endpoint is rate limiting, not just
full), every new request waits it out too. Requests and tokens per minute are a sliding 60-second
window; tokens are estimated before the call.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

WINDOW_SECONDS = 60.0
_BACKOFF_BASE, _BACKOFF_MAX = 0.5, 8.0  # without Retry-After: jittered exponential backoff
_POLL_SECONDS = 0.05  # the longest an async waiter sleeps between looks at the limiter


@dataclass(frozen=True)
class Limits:
    concurrency: int = 16
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(concurrency=settings.llm_concurrency, requests_per_minute=settings.llm_requests_per_minute,
                   tokens_per_minute=settings.llm_tokens_per_minute)


@dataclass(frozen=True)
class LimiterState:
    """A snapshot for /metrics and logs."""

    endpoint: str
    limit: int
    max_limit: int
    in_flight: int
    waiting: int
    peak_in_flight: int
    paused_seconds: float
    requests: int
    rate_limited: int
    requests_last_minute: int
    tokens_last_minute: int


class EndpointLimiter:
    """The limits of one endpoint, shared by every thread and event loop of the process."""

    def __init__(self, endpoint: str, limits: Limits) -> None:
        self.endpoint = endpoint
        self.limits = limits
        self.limit = max(1, limits.concurrency)
        self.in_flight = 0
        self.waiting = 0
        self.peak_in_flight = 0
        self.requests = 0
        self.rate_limited = 0
        self._streak = 0
        self._epoch = 0  # bumped on each decrease; tells a fresh 429 from one of the same burst
        self._cut: int | None = None  # the cap the last decrease set
        self._paused_until = 0.0
        self._sent: deque[tuple[float, int]] = deque()  # (time, estimated tokens) of the last minute
        self._tokens = 0
        self._cond = threading.Condition()

    def configure(self, limits: Limits) -> None:
        with self._cond:
            if limits == self.limits:
                return
            self.limits = limits
            # A learned lower cap survives a reconfiguration; a higher maximum is reached by probing.
            self.limit = max(1, min(self.limit, limits.concurrency) if self.requests else limits.concurrency)
            self._cond.notify_all()

    # --- acquiring -------------------------------------------------------------------------------------
    def _wait_seconds(self, now: float, tokens: int) -> float:
        """0 when a request may go now, else how long until it might (called with the lock held)."""
        if now < self._paused_until:
            return self._paused_until - now
        while self._sent and self._sent[0][0] <= now - WINDOW_SECONDS:
            self._tokens -= self._sent.popleft()[1]
        rpm, tpm = self.limits.requests_per_minute, self.limits.tokens_per_minute
        if rpm is not None and len(self._sent) >= rpm:
            return self._sent[0][0] + WINDOW_SECONDS - now
        if tpm is not None and self._sent and self._tokens + tokens > tpm:
            return self._sent[0][0] + WINDOW_SECONDS - now
        if self.in_flight >= self.limit:
            return math.inf  # a finishing request wakes us
        return 0.0

    def _take(self, now: float, tokens: int) -> Slot:
        self.in_flight += 1
        self.requests += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self._sent.append((now, tokens))
        self._tokens += tokens
        return Slot(self, self.in_flight, self._epoch)

    def acquire(self, tokens: int = 0) -> Slot:
        """Block until a request may be sent; the caller must :meth:`Slot.release` it."""
        with self._cond:
            self.waiting += 1
            try:
                while True:
                    now = time.monotonic()
                    wait = self._wait_seconds(now, tokens)
                    if wait <= 0:
                        return self._take(now, tokens)
                    self._cond.wait(None if wait == math.inf else wait)
            finally:
                self.waiting -= 1

    def try_acquire(self, tokens: int = 0) -> tuple[Slot | None, float]:
        """A slot now, or (None, seconds worth waiting before trying again)."""
        with self._cond:
            now = time.monotonic()
            wait = self._wait_seconds(now, tokens)
            if wait <= 0:
                return self._take(now, tokens), 0.0
            return None, min(wait, _POLL_SECONDS)

    async def acquire_async(self, tokens: int = 0) -> Slot:
        with self._cond:
            self.waiting += 1
        try:
            while True:
                slot, wait = self.try_acquire(tokens)
                if slot is not None:
                    return slot
                await asyncio.sleep(wait)
        finally:
            with self._cond:
                self.waiting -= 1

    # --- outcomes --------------------------------------------------------------------------------------
    def _release(self, slot: Slot, outcome: str, retry_after: float | None) -> None:
        with self._cond:
            self.in_flight -= 1
            if outcome == "success":
                self._streak += 1
                if self._streak >= self.limit and self.limit < self.limits.concurrency:
                    self.limit += 1  # additive increase: probe one more
                    self._streak = 0
            elif outcome == "429":
                self.rate_limited += 1
                self._streak = 0
                n = slot.in_flight_at_send
                if slot.epoch == self._epoch:  # sent under the current cap
                    if retry_after is not None and self._cut is not None and n <= self._cut:
                        # Refused at a level that was fine before (not a probe above it): the endpoint
                        # is rate limiting, so everyone waits out its Retry-After, not just this request.
                        self._paused_until = max(self._paused_until, time.monotonic() + retry_after)
                    self.limit = max(1, min(self.limit - 1, n - 1))
                    self._epoch += 1
                    self._cut = self.limit
                else:  # more refusals of an earlier burst: never above what each one showed
                    self.limit = max(1, min(self.limit, n - 1))
                    self._cut = min(self._cut or self.limit, self.limit)
            self._cond.notify_all()

    def state(self) -> LimiterState:
        with self._cond:
            now = time.monotonic()
            self._wait_seconds(now, 0)  # drops entries older than the window
            return LimiterState(
                endpoint=self.endpoint, limit=self.limit, max_limit=self.limits.concurrency,
                in_flight=self.in_flight, waiting=self.waiting, peak_in_flight=self.peak_in_flight,
                paused_seconds=max(0.0, self._paused_until - now), requests=self.requests,
                rate_limited=self.rate_limited, requests_last_minute=len(self._sent),
                tokens_last_minute=self._tokens,
            )


class Slot:
    """One request's permission to be in flight; report its outcome once."""

    def __init__(self, limiter: EndpointLimiter, in_flight_at_send: int, epoch: int) -> None:
        self.limiter = limiter
        self.in_flight_at_send = in_flight_at_send
        self.epoch = epoch
        self._done = False

    def _finish(self, outcome: str, retry_after: float | None = None) -> None:
        if not self._done:
            self._done = True
            self.limiter._release(self, outcome, retry_after)

    def report_success(self) -> None:
        self._finish("success")

    def report_429(self, retry_after: float | None = None) -> None:
        self._finish("429", retry_after)

    def release(self) -> None:
        """Give the slot back without a verdict (the request failed some other way)."""
        self._finish("other")


_limiters: dict[str, EndpointLimiter] = {}
_registry_lock = threading.Lock()


def endpoint_key(base_url: str | None, model: str | None) -> str:
    return f"{(base_url or '').rstrip('/')} {model or ''}".strip()


def limiter_for(base_url: str | None, model: str | None, limits: Limits | None = None) -> EndpointLimiter:
    """The process's limiter for an endpoint; ``limits`` (re)configures it when given."""
    key = endpoint_key(base_url, model)
    with _registry_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = EndpointLimiter(key, limits or Limits())
            return limiter
    if limits is not None:
        limiter.configure(limits)
    return limiter


def limiter_states() -> list[LimiterState]:
    with _registry_lock:
        limiters = list(_limiters.values())
    return [limiter.state() for limiter in limiters]


@contextmanager
def endpoint_slot(base_url: str | None, model: str | None, tokens: int = 0) -> Iterator[Slot]:
    slot = limiter_for(base_url, model).acquire(tokens)
    try:
        yield slot
    except BaseException:
        slot.release()
        raise
    slot.report_success()  # a no-op when the block reported already


@asynccontextmanager
async def async_endpoint_slot(base_url: str | None, model: str | None, tokens: int = 0) -> AsyncIterator[Slot]:
    slot = await limiter_for(base_url, model).acquire_async(tokens)
    try:
        yield slot
    except BaseException:
        slot.release()
        raise
    slot.report_success()


def retry_after_seconds(headers: Any) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds), as OpenAI and most gateways send them."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return retry_after
    return random.uniform(0.5, 1.0) * min(_BACKOFF_MAX, _BACKOFF_BASE * 2 ** attempt)
