"""Raw HTTP/1.1 over a socket: a request whose body is announced but not (yet) sent, or sent in chunks,
shows whether the server answers before reading it."""

from __future__ import annotations

import socket
from collections.abc import Iterable


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def read_status(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and whatever body arrived with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers, rest


def announce_only(port: int, method: str, path: str, headers: dict[str, str],
                  timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """Send the request head (Content-Length included) and no body; the answer must come anyway."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request_head(method, path, headers))
        return read_status(sock)


def chunked(port: int, method: str, path: str, headers: dict[str, str], chunks: Iterable[bytes],
            timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """A chunked body without Content-Length, sent piece by piece and left unfinished (no last chunk): an
    answer means the server decided on what it had counted so far."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request_head(method, path, headers | {"Transfer-Encoding": "chunked"}))
        for chunk in chunks:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        return read_status(sock)
