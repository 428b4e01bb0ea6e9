"""Discord's gateway, as documented: connect → HELLO (op 10) → IDENTIFY (op 2, with intents) → READY →
dispatches (op 0), heartbeating (op 1, acknowledged by op 11) every ``heartbeat_interval``; RECONNECT (op 7)
or a dropped connection resumes (op 6) the session from the last sequence number, so no event is lost.

Why not discord.py: it runs on aiohttp, whose connections the outbound policy cannot check (it checks at
socket open, in httpx's transport), and its gateway and REST base URLs are class attributes patched process-
wide. Here the socket is opened to the address the policy checked and handed to ``websockets``.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from ground.outbound import OutboundPolicy

log = logging.getLogger("replydesk.connectors.discord")

GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 12, 1 << 15
INTENTS = GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
# Close codes after which reconnecting cannot help: the configuration must change.
FATAL = {
    4004: "the bot token was rejected (Authentication failed): reset it in the Developer Portal",
    4010: "invalid shard", 4011: "sharding required", 4012: "invalid API version",
    4013: "invalid intents",
    4014: "disallowed intents: enable the MESSAGE CONTENT intent (Developer Portal → Bot → Privileged Gateway "
          "Intents); without it messages arrive with empty content",
}


class GatewayFatal(Exception):
    """The gateway refused us for a reason only a configuration change fixes."""


def open_socket(settings: Any, url: str, timeout: float = 10.0) -> ClientConnection:
    """A websocket to ``url`` whose TCP connection goes to an address the outbound policy checked."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    addresses = OutboundPolicy.of(settings).addresses(parts.hostname or "", port)
    sock = socket.create_connection((addresses[0], port), timeout=timeout)
    return connect(url, sock=sock, proxy=None, open_timeout=timeout, ping_interval=None, max_size=2 ** 22,
                   server_hostname=parts.hostname if parts.scheme == "wss" else None)


class GatewaySession:
    """One bot's gateway connection, kept up until ``stop``; ``on_dispatch(event, data)`` for each event."""

    def __init__(self, settings: Any, url: str, token: str, on_dispatch: Callable[[str, dict[str, Any]], None],
                 on_fatal: Callable[[str], None]) -> None:
        self.settings, self.url, self.token = settings, url, token
        self.on_dispatch, self.on_fatal = on_dispatch, on_fatal
        self.seq: int | None = None
        self.session_id: str | None = None
        self.resume_url: str | None = None
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                self._connect_once(stop)
                failures = 0
            except GatewayFatal as exc:
                log.error("discord gateway: %s", exc)
                self.on_fatal(str(exc))
                return
            except (OSError, ConnectionClosed, ValueError) as exc:
                failures += 1
                log.warning("discord gateway dropped (%s); reconnecting", type(exc).__name__)
            stop.wait(min(30.0, 0.2 * 2 ** failures) * random.uniform(0.5, 1.0) if failures else 0.05)

    def _connect_once(self, stop: threading.Event) -> None:
        resuming = self.session_id is not None and self.seq is not None
        url = (self.resume_url if resuming and self.resume_url else self.url).rstrip("/")
        with open_socket(self.settings, f"{url}/?v=10&encoding=json") as ws:
            hello = json.loads(ws.recv(timeout=30))
            if hello.get("op") != 10:
                raise ValueError(f"expected HELLO, got op {hello.get('op')}")
            interval = float(hello["d"]["heartbeat_interval"]) / 1000.0
            if resuming:
                ws.send(json.dumps({"op": 6, "d": {"token": self.token, "session_id": self.session_id,
                                                   "seq": self.seq}}))
            else:
                ws.send(json.dumps({"op": 2, "d": {"token": self.token, "intents": INTENTS, "properties": {
                    "os": "linux", "browser": "replydesk", "device": "replydesk"}}}))
            beat = threading.Thread(target=self._heartbeat, args=(ws, interval, stop), daemon=True)
            beat.start()
            self._receive(ws, stop)

    def _heartbeat(self, ws: ClientConnection, interval: float, stop: threading.Event) -> None:
        wait = interval * random.random()  # the first beat is jittered, as the documentation asks
        while not stop.wait(wait):
            try:
                ws.send(json.dumps({"op": 1, "d": self.seq}))
            except ConnectionClosed:
                return
            wait = interval

    def _receive(self, ws: ClientConnection, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                raw = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                if code in FATAL:
                    raise GatewayFatal(f"closed {code}: {FATAL[code]}") from None
                if code in (4007, 4009):  # invalid seq / session timed out: start a new session
                    self.session_id = self.seq = None
                raise
            payload = json.loads(raw)
            op = payload.get("op")
            if op == 0:
                self.seq = payload.get("s", self.seq)
                event, data = str(payload.get("t")), payload.get("d") or {}
                if event == "READY":
                    self.session_id = data.get("session_id")
                    self.resume_url = data.get("resume_gateway_url")
                    self.ready.set()
                elif event == "RESUMED":
                    self.ready.set()
                else:
                    self.on_dispatch(event, data)
            elif op == 1:
                ws.send(json.dumps({"op": 1, "d": self.seq}))
            elif op == 7:  # RECONNECT: resume on a new connection
                return
            elif op == 9:  # INVALID_SESSION: resumable or not, as ``d`` says
                if not payload.get("d"):
                    self.session_id = self.seq = None
                return
