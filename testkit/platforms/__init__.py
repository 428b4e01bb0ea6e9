"""Loopback servers speaking the platforms' documented protocols (Discourse, Meta Graph, Reddit, Discord),
with faults to inject: a status with headers (429 with reset headers, 5xx, 403), or a request the platform
accepts and then answers too late (the client times out after the post exists)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]


Answer = tuple[int, dict[str, str], Any]  # status, headers, JSON-able body (or bytes)
Handler = Callable[[Request, re.Match[str]], Answer]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int | None = None  # answer this instead of handling
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    stall: float = 0.0  # handle the request, then wait this long before answering
    skip: int = 0  # let this many matching requests through first


class PlatformServer:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: list[Fault] = []
        self.calls: list[Request] = []
        self.lock = threading.RLock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall on a reused connection (see openai_stub)

            def _any(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = Request(self.command, parts.path, parse_qs(parts.query),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                status, headers, payload, stall = outer.handle(request)
                time.sleep(stall)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in {"content-type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout fault)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + "$"), handler))

    def fail(self, method: str, pattern: str, status: int, headers: dict[str, str] | None = None,
             body: Any = None, times: int = 1) -> None:
        with self.lock:
            for _ in range(times):
                self.faults.append(Fault(method, re.compile(pattern + "$"), status, headers or {}, body or {}))

    def stall(self, method: str, pattern: str, seconds: float, skip: int = 0) -> None:
        """The next matching request (after ``skip``) is handled (the post exists), then answered after
        ``seconds``."""
        with self.lock:
            self.faults.append(Fault(method, re.compile(pattern + "$"), stall=seconds, skip=skip))

    def handle(self, request: Request) -> tuple[int, dict[str, str], Any, float]:
        with self.lock:
            self.calls.append(request)
            fault = next((f for f in self.faults if f.method == request.method and f.pattern.match(request.path)),
                         None)
            if fault is not None and fault.skip:
                fault.skip -= 1
                fault = None
            elif fault is not None:
                self.faults.remove(fault)
            if fault is not None and fault.status is not None:
                return fault.status, fault.headers, fault.body, 0.0
            for method, pattern, handler in self.routes:
                match = pattern.match(request.path)
                if method == request.method and match:
                    status, headers, payload = handler(request, match)
                    return status, headers, payload, fault.stall if fault else 0.0
        return 404, {}, {"error": f"no route {request.method} {request.path}"}, 0.0

    def count(self, method: str, pattern: str) -> int:
        regex = re.compile(pattern + "$")
        with self.lock:
            return sum(1 for c in self.calls if c.method == method and regex.match(c.path))

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
