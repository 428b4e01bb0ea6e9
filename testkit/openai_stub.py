"""Loopback OpenAI chat-completions server for tests and benchmarks.

Replydesk talks to its LLM over HTTP with the ``openai`` client.  This stub
replaces the model at the network edge: a real threaded HTTP server on
127.0.0.1 (never a mock), so tests exercise the real client, its retries,
timeouts and response parsing, with scripted replies and injectable faults.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

Responder = Callable[[dict[str, Any]], str]

MALFORMED_CONTENT = '{"reply": "oops'
_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                409: "conflict_error", 429: "rate_limit_error"}


def _default_responder(_request: dict[str, Any]) -> str:
    return "{}"


def _error(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else _ERROR_TYPES.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _count_words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):  # multi-part content: [{"type": "text", "text": ...}, ...]
        return sum(_count_words(p.get("text")) for p in content if isinstance(p, dict))
    return 0


def _cut(content: str, limit: Any) -> tuple[str, str]:
    """Like a real server, stop at ``max_tokens`` (a word counts as a token here): the text so far, "length"."""
    if not isinstance(limit, int) or limit <= 0:
        return content, "stop"
    words = list(re.finditer(r"\S+", content))
    if len(words) <= limit:
        return content, "stop"
    return content[: words[limit - 1].end()], "length"


def _completion(request: dict[str, Any], content: str) -> dict[str, Any]:
    messages = request.get("messages")
    prompt = sum(_count_words(m.get("content")) for m in messages or [] if isinstance(m, dict))
    content, finish = _cut(content, request.get("max_completion_tokens") or request.get("max_tokens"))
    completion = _count_words(content)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(request.get("model") or "stub-model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
    }


@dataclass(frozen=True)
class _Fault:
    kind: Literal["fail", "hang", "malformed"]
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    message: str = ""


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of lanes connecting at once must not overflow the listen backlog
    block_on_close = False  # stop() must not wait for sleeping or idle keep-alive handlers
    stub: OpenAIStub

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # client hung up / stop(): expected
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waited for the client's
    # delayed ACK of the headers: +40 ms on every answer over a reused connection (not on a new one), which
    # real servers (uvicorn, llama.cpp) do not add. The loopback LLM's latency is then what it is set to.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.stub._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.stub._track(self.connection, add=False)
        super().finish()

    def do_GET(self) -> None:
        method, raw = self.command, self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path == "/v1/models":
            model = {"id": "stub-model", "object": "model", "created": 0, "owned_by": "openai-stub"}
            self._send(_Reply(200, {"object": "list", "data": [model]}))
        elif method == "POST" and path == "/v1/chat/completions":
            stub = self.server.stub
            refusal = stub._admit()
            if refusal is not None:
                self._send(refusal, delay=False)
                return
            try:
                self._send(stub._complete(raw))
            finally:
                stub._leave()
        else:
            self._send(_Reply(404, _error(404, f"Invalid URL ({method} {self.path})")))

    do_POST = do_GET

    def _send(self, reply: _Reply | None, delay: bool = True) -> None:
        stub = self.server.stub
        if reply is None or (delay and stub._stopping.wait(stub.latency)):
            self.close_connection = True  # stopping: drop the connection without a reply
            return
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class OpenAIStub:
    """Threaded OpenAI-compatible server on 127.0.0.1; see the module docstring."""

    def __init__(self) -> None:
        self.responder: Responder = _default_responder
        self.latency: float = 0.0
        self.json_schema_supported: bool = True
        # Like a real endpoint's concurrency limit: requests beyond it are answered 429 at once, with
        # Retry-After. in_flight / max_in_flight / rejected count what the server saw.
        self.max_concurrent: int | None = None
        self.limit_retry_after: float | None = 1.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.rejected = 0
        # Which response_format shapes the server takes, as real servers differ (see _refusal):
        # "full" (OpenAI, vLLM), "llamacpp" (500 on json_schema; json_object with its own "schema" key),
        # "json_object_only" (400 on json_schema and on a "schema" key), "text_only" (400 on any).
        self.structured_output: Literal["full", "llamacpp", "json_object_only", "text_only"] = "full"
        self.requests: list[dict[str, Any]] = []
        self._faults: deque[_Fault] = deque()
        self._refused = 0
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> OpenAIStub:
        if self._server is not None:
            raise RuntimeError("OpenAIStub is already running")
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in hang_next / latency
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # unblock handlers idling on keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("OpenAIStub is not running")
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def reply_with(self, fn: Responder) -> Responder:
        """Set the responder (usable as a decorator)."""
        self.responder = fn
        return fn

    def reply_text(self, text: str) -> None:
        self.responder = lambda _request: text

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None, message: str = "") -> None:
        """The next ``times`` requests get ``status``; ``message`` replaces the error text (servers leak
        internals there: paths, URLs)."""
        self._push(_Fault("fail", status=status, retry_after=retry_after, message=message), times)

    def hang_next(self, seconds: float, times: int = 1) -> None:
        self._push(_Fault("hang", seconds=seconds), times)

    def malformed_next(self, times: int = 1) -> None:
        self._push(_Fault("malformed"), times)

    def _push(self, fault: _Fault, times: int) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.max_in_flight = self.in_flight
            self.rejected = 0
        self.max_concurrent = None
        self.latency = 0.0
        self._refused = 0
        self.json_schema_supported = True
        self.structured_output = "full"
        self.responder = _default_responder

    @property
    def refusals(self) -> int:
        """Requests refused for their response_format so far."""
        with self._lock:
            return self._refused

    # Below: called from handler threads.
    def _admit(self) -> _Reply | None:
        """Count a chat request in, or refuse it (429) when the concurrency limit is reached."""
        with self._lock:
            if self.max_concurrent is not None and self.in_flight >= self.max_concurrent:
                self.rejected += 1
                headers = {} if self.limit_retry_after is None else {"Retry-After": f"{self.limit_retry_after:g}"}
                return _Reply(429, _error(429, f"Too many concurrent requests (limit {self.max_concurrent})",
                                          "rate_limit_exceeded"), headers)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _refusal(self, response_format: Any) -> _Reply | None:
        if not isinstance(response_format, dict):
            return None
        kind, mode = response_format.get("type"), self.structured_output
        reply = None
        if kind == "json_schema" and (mode != "full" or not self.json_schema_supported):
            if mode == "llamacpp":  # what llama-cpp-python's server answers (pydantic validation, HTTP 500)
                reply = _Reply(500, _error(500, "1 validation error for CreateChatCompletionRequest\n"
                                           "response_format.type\n  Input should be 'text' or 'json_object' "
                                           "[type=literal_error, input_value='json_schema', input_type=str]"
                                           "\n\n  File \"/srv/llama/site-packages/llama_cpp/server/app.py\", line 88"
                                           ", in create_chat_completion"))
            else:
                reply = _Reply(400, _error(400, "response_format json_schema is not supported"))
        elif kind == "json_object" and "schema" in response_format and mode == "json_object_only":
            reply = _Reply(400, _error(400, "Unrecognized key 'schema' in response_format"))
        elif mode == "text_only" and kind != "text":
            reply = _Reply(400, _error(400, f"response_format type {kind!r} is not supported"))
        if reply is not None:
            with self._lock:
                self._refused += 1
        return reply

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _complete(self, raw: bytes) -> _Reply | None:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return _Reply(400, _error(400, f"Request body is not valid JSON: {exc}"))
        if not isinstance(body, dict):
            return _Reply(400, _error(400, "Request body must be a JSON object"))
        with self._lock:
            self.requests.append(body)
        refusal = self._refusal(body.get("response_format"))
        if refusal is not None:
            return refusal
        if body.get("stream"):
            return _Reply(400, _error(400, "stream=true is not supported by OpenAIStub"))
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "fail":
            code = "rate_limit_exceeded" if fault.status == 429 else None
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            text = fault.message or f"Injected HTTP {fault.status}"
            return _Reply(fault.status, _error(fault.status, text, code), headers)
        if fault is not None and fault.kind == "hang" and self._stopping.wait(fault.seconds):
            return None
        if fault is not None and fault.kind == "malformed":
            return _Reply(200, _completion(body, MALFORMED_CONTENT))
        try:
            content = self.responder(body)
        except Exception as exc:  # surface responder bugs as a 500 instead of a dropped socket
            return _Reply(500, _error(500, f"OpenAIStub responder raised {exc!r}"))
        return _Reply(200, _completion(body, content))
