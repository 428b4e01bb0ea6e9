"""Discord on loopback: the gateway (HELLO → IDENTIFY → READY → dispatch, heartbeats, RECONNECT and RESUME
with replay from the client's sequence number, close 4004/4014) and the REST API the bot uses (``/api/v10``:
users/@me, gateway/bot, applications/@me, channels and their messages, rate-limit answers)."""

from __future__ import annotations

import itertools
import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from testkit.platforms import Answer, PlatformServer, Request

MESSAGE_CONTENT = 1 << 15
GUILD = "900000000000000001"


class DiscordServer(PlatformServer):
    def __init__(self, token: str = "MTA0.bot.token", bot_id: str = "700000000000000001",
                 message_content: bool = True, strict_intents: bool = True) -> None:
        """``message_content``: the privileged intent is enabled for the app. Without it, a bot asking for it
        is closed with 4014 (``strict_intents``), or (not strict) let in with message text blanked."""
        super().__init__()
        self.token, self.bot_id, self.message_content = token, bot_id, message_content
        self.strict_intents = strict_intents
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(800_000_000_000_000_001)
        self._seq = itertools.count(1)
        self.events: list[tuple[int, str, dict[str, Any]]] = []  # the session's dispatches, for RESUME replay
        self.identified: list[dict[str, Any]] = []
        self.resumed: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.bucket = {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "4", "x-ratelimit-reset-after": "1"}
        self._clients: list[tuple[ServerConnection, threading.Lock]] = []
        self.gateway = serve(self._session, "127.0.0.1", 0)
        self.gateway_url = f"ws://127.0.0.1:{self.gateway.socket.getsockname()[1]}"
        self._gateway_thread = threading.Thread(target=self.gateway.serve_forever, daemon=True)
        api = r"/api/v10"
        self.route("GET", api + r"/users/@me", self._me)
        self.route("GET", api + r"/gateway/bot", self._gateway_bot)
        self.route("GET", api + r"/oauth2/applications/@me", self._application)
        self.route("GET", api + r"/channels/(\d+)", self._channel)
        self.route("POST", api + r"/channels/(\d+)/messages", self._post)
        self.route("GET", api + r"/channels/(\d+)/messages", self._history)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    def __enter__(self) -> DiscordServer:
        super().__enter__()
        self._gateway_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gateway.shutdown()
        super().__exit__(*exc)

    # -- state ----------------------------------------------------------------------------------------
    def channel(self, name: str, parent_id: str | None = None) -> str:
        channel_id = str(next(self._ids))
        self.channels[channel_id] = {"id": channel_id, "name": name, "guild_id": GUILD, "parent_id": parent_id,
                                     "type": 11 if parent_id else 0}
        self.messages[channel_id] = []
        return channel_id

    def say(self, channel_id: str | None, content: str, author_id: str = "500000000000000007",
            username: str = "dana", mention_bot: bool = False, reply_to: dict[str, Any] | None = None,
            bot: bool = False) -> dict[str, Any]:
        """A user posts: the message is stored and dispatched (MESSAGE_CREATE). ``channel_id`` None: a DM."""
        if channel_id is None:
            channel_id = str(next(self._ids))
            self.channels[channel_id] = {"id": channel_id, "type": 1, "guild_id": None, "parent_id": None}
            self.messages[channel_id] = []
        guild = self.channels[channel_id]["guild_id"]
        message = {"id": str(next(self._ids)), "channel_id": channel_id, "content": content,
                   "author": {"id": author_id, "username": username, "global_name": username.title(), "bot": bot},
                   "timestamp": datetime.now(UTC).isoformat(), "mentions": [
                       {"id": self.bot_id, "username": "replydesk", "bot": True}] if mention_bot else [],
                   "attachments": [], "type": 19 if reply_to else 0}
        if guild:
            message["guild_id"] = guild
        if reply_to:
            message["message_reference"] = {"message_id": reply_to["id"], "channel_id": channel_id}
            message["referenced_message"] = reply_to
        with self.lock:
            self.messages[channel_id].append(message)
        dispatched = dict(message)
        if not self.message_content and not mention_bot and guild:
            dispatched["content"] = ""  # what Discord sends a bot without the MESSAGE CONTENT intent
        self.dispatch("MESSAGE_CREATE", dispatched)
        return message

    def replies_to(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages[message["channel_id"]] if m["author"]["id"] == self.bot_id
                    and (m.get("message_reference") or {}).get("message_id") == message["id"]]

    # -- the gateway ----------------------------------------------------------------------------------
    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        with self.lock:
            seq = next(self._seq)
            self.events.append((seq, event, data))
            clients = list(self._clients)
        for ws, lock in clients:
            self._send(ws, lock, {"op": 0, "s": seq, "t": event, "d": data})

    def reconnect(self) -> None:
        """Ask every client to reconnect (op 7): they come back with RESUME."""
        with self.lock:
            clients = list(self._clients)
        for ws, lock in clients:
            self._send(ws, lock, {"op": 7, "d": None})

    @staticmethod
    def _send(ws: ServerConnection, lock: threading.Lock, payload: dict[str, Any]) -> None:
        try:
            with lock:
                ws.send(json.dumps(payload))
        except ConnectionClosed:
            pass

    def _session(self, ws: ServerConnection) -> None:
        lock = threading.Lock()
        self._send(ws, lock, {"op": 10, "d": {"heartbeat_interval": 300}})
        try:
            first = json.loads(ws.recv(timeout=10))
        except (ConnectionClosed, TimeoutError):
            return
        data = first.get("d") or {}
        if data.get("token") != self.token:
            ws.close(4004, "Authentication failed.")
            return
        if first.get("op") == 2:
            if int(data.get("intents", 0)) & MESSAGE_CONTENT and not self.message_content and self.strict_intents:
                ws.close(4014, "Disallowed intent(s).")
                return
            self.identified.append(data)
            with self.lock:
                self._clients.append((ws, lock))
                seq = next(self._seq)
                self.events.append((seq, "READY", {}))
            self._send(ws, lock, {"op": 0, "s": seq, "t": "READY", "d": {
                "v": 10, "user": {"id": self.bot_id, "username": "replydesk", "bot": True},
                "session_id": "session-1", "resume_gateway_url": self.gateway_url, "guilds": []}})
        elif first.get("op") == 6:
            self.resumed.append(data)
            with self.lock:
                missed = [e for e in self.events if e[0] > int(data.get("seq") or 0) and e[1] != "READY"]
                self._clients.append((ws, lock))
            for seq, event, payload in missed:
                self._send(ws, lock, {"op": 0, "s": seq, "t": event, "d": payload})
            self._send(ws, lock, {"op": 0, "s": next(self._seq), "t": "RESUMED", "d": {}})
        try:
            for raw in ws:
                if json.loads(raw).get("op") == 1:
                    self.heartbeats += 1
                    self._send(ws, lock, {"op": 11})
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                self._clients = [c for c in self._clients if c[0] is not ws]

    def connected(self) -> int:
        with self.lock:
            return len(self._clients)

    # -- REST -----------------------------------------------------------------------------------------
    def _auth(self, request: Request) -> Answer | None:
        if request.headers.get("authorization") != f"Bot {self.token}":
            return 401, {}, {"message": "401: Unauthorized", "code": 0}
        return None

    def _me(self, request: Request, _match: re.Match[str]) -> Answer:
        return self._auth(request) or (200, {}, {"id": self.bot_id, "username": "replydesk", "bot": True})

    def _gateway_bot(self, request: Request, _match: re.Match[str]) -> Answer:
        return self._auth(request) or (200, {}, {"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})

    def _application(self, request: Request, _match: re.Match[str]) -> Answer:
        return self._auth(request) or (200, {}, {"id": "1", "name": "Replydesk",
                                                 "flags": (1 << 19) if self.message_content else 0})

    def _channel(self, request: Request, match: re.Match[str]) -> Answer:
        channel = self.channels.get(match.group(1))
        if channel is None:
            return 403, {}, {"message": "Missing Access", "code": 50001}
        return 200, {}, channel

    def _post(self, request: Request, match: re.Match[str]) -> Answer:
        refused = self._auth(request)
        if refused:
            return refused
        channel_id = match.group(1)
        if channel_id not in self.messages:
            return 404, {}, {"message": "Unknown Channel", "code": 10003}
        body = request.json()
        reference = body.get("message_reference") or {}
        with self.lock:
            ids = {m["id"] for m in self.messages[channel_id]}
            if reference and reference.get("message_id") not in ids:
                return 400, {}, {"message": "Invalid Form Body", "code": 50035, "errors": {"message_reference": {
                    "_errors": [{"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}]}}}
            posted = {"id": str(next(self._ids)), "channel_id": channel_id, "content": body.get("content", ""),
                      "author": {"id": self.bot_id, "username": "replydesk", "bot": True},
                      "message_reference": {**reference, "channel_id": channel_id} if reference else None,
                      "timestamp": datetime.now(UTC).isoformat(), "type": 19 if reference else 0}
            self.messages[channel_id].append(posted)
        return 200, dict(self.bucket), posted

    def _history(self, request: Request, match: re.Match[str]) -> Answer:
        after = int(request.arg("after") or 0)
        with self.lock:
            found = [m for m in self.messages.get(match.group(1), []) if int(m["id"]) > after]
        return 200, {}, sorted(found, key=lambda m: int(m["id"]), reverse=True)[: int(request.arg("limit") or 50)]
