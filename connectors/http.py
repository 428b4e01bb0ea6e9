"""Platform HTTP: every call goes through the outbound address policy (ground/outbound.py) and honours the
platform's rate-limit signals — short waits are slept inline, long ones defer the delivery (never drop it);
a 5xx is retried a few times with backoff; any other 4xx is the platform's refusal, with its reason.

Why not the platforms' Python libraries (praw/asyncpraw, discord.py, pydiscourse): they bring their own
HTTP stacks (requests, aiohttp), which would bypass the outbound policy — it checks each address where the
socket is opened, in httpx's transport — and each would need its own copy of that guard. The calls we make
are few and documented (one listing, one reply, one lookup per platform), so a small httpx client per
platform keeps one guarded, redacting stack for every server-side request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from desk.platforms import PlatformDeferred, PlatformRefused
from ground.outbound import guarded_client
from ground.redact import redact

log = logging.getLogger("replydesk.connectors")
TRIES = 4  # per call: rate-limit waits and 5xx retries together
INLINE_WAIT = 5.0  # longer waits defer the delivery (or the poll) instead of holding the relay


class PlatformUnavailable(Exception):
    """The platform answered 5xx (or not at all) on every try: retried later with the relay's backoff."""


RateWait = Callable[[httpx.Response], float | None]  # seconds to wait before retrying, None: not limited
Budget = Callable[[httpx.Response], float]  # seconds to pause before the next call (a spent budget)
Reason = Callable[[httpx.Response], str]


def _no_budget(_response: httpx.Response) -> float:
    return 0.0


def header_seconds(response: httpx.Response, *names: str) -> float | None:
    for name in names:
        value = response.headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue
    return None


class PlatformHttp:
    def __init__(self, settings: Any, base_url: str, *, platform: str, rate_wait: RateWait, reason: Reason,
                 budget: Budget = _no_budget, headers: dict[str, str] | None = None,
                 inline_wait: float = INLINE_WAIT) -> None:
        self.settings, self.base_url, self.headers = settings, base_url, headers or {}
        self._client: httpx.Client | None = None  # made on first use: verifying a pushed event needs none
        self._made = threading.Lock()
        self.platform = platform
        self.rate_wait, self.reason, self.budget = rate_wait, reason, budget
        self.inline_wait = inline_wait
        self.resume_at = 0.0  # monotonic time before which the spent budget says not to call

    @property
    def client(self) -> httpx.Client:
        with self._made:
            if self._client is None:
                client = guarded_client(self.settings, self.settings.delivery_timeout)
                client.base_url = httpx.URL(self.base_url.rstrip("/") + "/")
                client.headers.update(self.headers)
                self._client = client
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _pause(self) -> None:
        wait = self.resume_at - time.monotonic()
        if wait > self.inline_wait:
            raise PlatformDeferred(wait, f"{self.platform} rate budget spent; resets in {wait:.1f} s")
        if wait > 0:
            time.sleep(wait)

    def call(self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        """One API call; statuses in ``allow`` are returned to the caller rather than raised. Retries stop
        after a quarter of the relay's claim, so a delivery ends well before another relay may take it."""
        give_up = time.monotonic() + float(getattr(self.settings, "delivery_claim_seconds", 60.0)) / 4
        for attempt in range(TRIES):
            if attempt and time.monotonic() > give_up:
                raise PlatformUnavailable(f"{self.platform} kept failing; retried later")
            self._pause()
            response = self.client.request(method, path.lstrip("/"), **kwargs)
            spent = self.budget(response)
            if spent:
                self.resume_at = time.monotonic() + spent
            wait = self.rate_wait(response)
            if wait is not None:
                said = redact(self.reason(response))
                reason = f"{self.platform} rate limit ({response.status_code} {said}); retry in {wait:.1f} s"
                if wait > self.inline_wait or attempt == TRIES - 1:
                    raise PlatformDeferred(max(wait, 1.0), reason)
                log.info("%s", reason)
                time.sleep(wait)
                continue
            if response.status_code >= 500:
                if attempt == TRIES - 1:
                    raise PlatformUnavailable(f"{self.platform} answered {response.status_code} "
                                              f"{redact(self.reason(response))}")
                time.sleep(min(0.2 * 2 ** attempt, 2.0))
                continue
            if response.status_code >= 400 and response.status_code not in allow:
                raise PlatformRefused(f"{response.status_code} {redact(self.reason(response))}")
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def json_reason(*keys: str) -> Reason:
    """The platform's own error text from a JSON body (first of ``keys`` present), else the status text."""

    def reason(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.reason_phrase or "error"
        for key in keys:
            value: Any = body
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            if value:
                return str(value)[:300]
        return response.reason_phrase or "error"

    return reason
