"""An HTTP transport for the ``openai`` client that sends every request through the endpoint's limiter.

Each attempt waits for a slot (agent/limits.py), so the SDK's own retries of timeouts and 5xx are
limited too. 429s are this layer's to retry, not the SDK's: the limiter must see each one to lower the
cap, and a burst of refusals must not use up the SDK's two retries and drop the draft to the offline
composer. A refused request waits ``Retry-After`` (or a jittered backoff), takes a new slot and is sent
again, until ``max_wait`` seconds have passed; then the 429 goes to the SDK marked ``x-should-retry:
false``, so the attempts of the two layers never multiply. The loop is ours rather than tenacity's
because each attempt must give its slot back with a verdict before it sleeps.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
import openai
from openai._constants import DEFAULT_CONNECTION_LIMITS

from agent.limits import EndpointLimiter, Limits, backoff_seconds, limiter_for, retry_after_seconds

COMPLETION_ALLOWANCE = 512  # tokens a reply may add, counted against a tokens-per-minute limit up front


def estimate_tokens(request: httpx2.Request) -> int:
    """About four bytes of JSON per token, plus room for the reply (usage is only known afterwards)."""
    return len(request.content) // 4 + COMPLETION_ALLOWANCE


def _give_up(response: httpx2.Response) -> httpx2.Response:
    response.headers["x-should-retry"] = "false"
    return response


class LimitedTransport(httpx2.BaseTransport):
    def __init__(self, limiter: EndpointLimiter, max_wait: float, inner: httpx2.BaseTransport | None = None) -> None:
        self.limiter = limiter
        self.max_wait = max_wait
        self.inner = inner or httpx2.HTTPTransport(limits=DEFAULT_CONNECTION_LIMITS)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        tokens, deadline = estimate_tokens(request), time.monotonic() + self.max_wait
        attempt = 0
        while True:
            slot = self.limiter.acquire(tokens)
            try:
                response = self.inner.handle_request(request)
                response.read()  # the slot covers the whole exchange, body included
            except BaseException:
                slot.release()
                raise
            if response.status_code != 429:
                slot.report_success() if response.status_code < 500 else slot.release()
                return response
            retry_after = retry_after_seconds(response.headers)
            slot.report_429(retry_after)
            pause = backoff_seconds(attempt, retry_after)
            if time.monotonic() + pause > deadline:
                return _give_up(response)
            time.sleep(pause)
            attempt += 1

    def close(self) -> None:
        self.inner.close()


class AsyncLimitedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, limiter: EndpointLimiter, max_wait: float,
                 inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self.limiter = limiter
        self.max_wait = max_wait
        self.inner = inner or httpx2.AsyncHTTPTransport(limits=DEFAULT_CONNECTION_LIMITS)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        tokens, deadline = estimate_tokens(request), time.monotonic() + self.max_wait
        attempt = 0
        while True:
            slot = await self.limiter.acquire_async(tokens)
            try:
                response = await self.inner.handle_async_request(request)
                await response.aread()
            except BaseException:
                slot.release()
                raise
            if response.status_code != 429:
                slot.report_success() if response.status_code < 500 else slot.release()
                return response
            retry_after = retry_after_seconds(response.headers)
            slot.report_429(retry_after)
            pause = backoff_seconds(attempt, retry_after)
            if time.monotonic() + pause > deadline:
                return _give_up(response)
            await asyncio.sleep(pause)
            attempt += 1

    async def aclose(self) -> None:
        await self.inner.aclose()


def _limiter(settings: Any, base_url: str | None, model: str | None) -> EndpointLimiter:
    return limiter_for(base_url or settings.llm_base_url, model or settings.llm_model, Limits.from_settings(settings))


def limited_http_client(settings: Any, base_url: str | None = None, model: str | None = None) -> httpx2.Client:
    """An HTTP client for ``openai.OpenAI(http_client=...)`` limited per endpoint (default: the drafting one)."""
    limiter = _limiter(settings, base_url, model)
    return openai.DefaultHttpxClient(transport=LimitedTransport(limiter, settings.llm_rate_limit_wait))


def limited_async_http_client(settings: Any, base_url: str | None = None,
                              model: str | None = None) -> httpx2.AsyncClient:
    limiter = _limiter(settings, base_url, model)
    return openai.DefaultAsyncHttpxClient(transport=AsyncLimitedTransport(limiter, settings.llm_rate_limit_wait))
