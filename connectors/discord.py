"""Discord: a bot on the gateway (connectors/discord_gateway.py) takes messages in chosen channels (and
threads under them), messages that mention it, and DMs; replies are message replies (``message_reference``)
posted through the REST API (``POST /channels/{id}/messages``). Needs the MESSAGE CONTENT privileged intent:
without it, message text arrives empty and the connector says so.

Rate limits: 429 with ``retry_after`` (body) / ``Retry-After``; ``X-RateLimit-Remaining: 0`` pauses until
``X-RateLimit-Reset-After``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from connectors.base import Capabilities, Check, Inbound, Intake, PlatformConnector, same_text
from connectors.discord_gateway import GatewaySession
from connectors.http import PlatformHttp, header_seconds, json_reason
from connectors.submit import accept
from desk.connector_tables import Connector
from desk.db import session_scope
from desk.inbound import MessageCreate
from desk.platforms import PlatformReply
from ground.redact import redact

log = logging.getLogger("replydesk.connectors.discord")
API = "https://discord.com/api/v10"
NO_CONTENT = ("arrived without content: the bot lacks the MESSAGE CONTENT intent (Developer Portal → Bot → "
              "Privileged Gateway Intents)")
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)  # application flags GATEWAY_MESSAGE_CONTENT(_LIMITED)


def _rate_wait(response: httpx.Response) -> float | None:
    if response.status_code != 429:
        return None
    try:
        return float(response.json().get("retry_after"))
    except (ValueError, TypeError, AttributeError):
        return header_seconds(response, "retry-after", "x-ratelimit-reset-after") or 1.0


def _reason(response: httpx.Response) -> str:
    """Discord's message, with the field errors of an "Invalid Form Body" (e.g. "Unknown message")."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(str(e.get("message")) for e in node.get("_errors", []) if isinstance(e, dict))
            for value in node.values():
                walk(value)

    walk(body.get("errors") if isinstance(body, dict) else None)
    message = str(body.get("message") if isinstance(body, dict) else "") or "error"
    return f"{message}: {'; '.join(found)}" if found else message


def _budget(response: httpx.Response) -> float:
    if header_seconds(response, "x-ratelimit-remaining") == 0:
        return header_seconds(response, "x-ratelimit-reset-after") or 0.0
    return 0.0


class DiscordConnector(PlatformConnector):
    platform = "discord"
    capabilities = Capabilities(intake="gateway", dm=True, thread_context=True,
                                rate_limits="429 retry_after, X-RateLimit-Remaining/Reset-After",
                                max_reply_chars=2_000)
    optional_keys = {"channels": "channel ids to take every message from (mentions and DMs are always taken)",
                     "api_url": f"the REST base (default {API})", "gateway_url": "the gateway (default: asked)"}
    secret_keys = {"bot_token": "the bot's token (Developer Portal → Bot)"}

    def make_http(self) -> PlatformHttp:
        self.bot_id: str | None = None
        self._parents: dict[str, str | None] = {}
        headers = {"User-Agent": "DiscordBot (https://replydesk.example, 1.0)"}
        if "bot_token" in self.secrets:
            headers["Authorization"] = f"Bot {self.secrets.get('bot_token')}"
        return PlatformHttp(self.settings, str(self.config.get("api_url") or API), platform=self.platform,
                            rate_wait=_rate_wait, budget=_budget, reason=_reason, headers=headers)

    def me(self) -> str:
        if self.bot_id is None:
            self.bot_id = str(self.http.call("GET", "/users/@me").json()["id"])
        return self.bot_id

    # -- intake ---------------------------------------------------------------------------------------
    def run_gateway(self, engine: Engine, stop: threading.Event) -> None:
        try:
            self.me()
            url = str(self.config.get("gateway_url") or self.http.call("GET", "/gateway/bot").json()["url"])
        except Exception as exc:  # shown on the connector; the runner tries again on its next round
            self._error(engine, redact(f"cannot reach the gateway: {type(exc).__name__}: {exc}"))
            return

        def dispatch(event: str, data: dict[str, Any]) -> None:
            if event != "MESSAGE_CREATE":
                return
            intake = Intake()
            try:
                item = self.to_inbound(data, intake)
                if item is not None:
                    accept(engine, self, [item], intake)
            except Exception:  # one bad event must not take the bot down
                log.exception("discord %s: event %s not taken", self.name, data.get("id"))
            for note in intake.ignored:
                if NO_CONTENT in note:
                    self._error(engine, note)

        self.session = GatewaySession(self.settings, url, self.secrets.get("bot_token"), dispatch,
                                      lambda reason: self._error(engine, reason))
        self.session.run(stop)

    def _error(self, engine: Engine, error: str) -> None:
        log.warning("discord %s: %s", self.name, error)
        with session_scope(engine) as session:
            row = session.get(Connector, self.row.id)
            if row is not None:
                row.last_error = error[:1000]
                session.add(row)

    def _watched(self, channel_id: str) -> bool:
        channels = {str(c) for c in self.config.get("channels") or []}
        if channel_id in channels:
            return True
        if channel_id not in self._parents:  # a thread is a channel whose parent may be watched
            if len(self._parents) > 5000:
                self._parents.clear()
            found = self.http.call("GET", f"/channels/{channel_id}", allow=(403, 404))
            self._parents[channel_id] = found.json().get("parent_id") if found.status_code == 200 else None
        return self._parents[channel_id] in channels

    def to_inbound(self, data: Mapping[str, Any], intake: Intake) -> Inbound | None:
        author = data.get("author") or {}
        message_id, channel_id = str(data.get("id")), str(data.get("channel_id"))
        guild_id = data.get("guild_id")
        if str(author.get("id")) == self.me():
            intake.ignored.append(f"message {message_id} is our own")
            return None
        if author.get("bot"):
            intake.ignored.append(f"message {message_id} is from a bot")
            return None
        mentioned = any(str(m.get("id")) == self.me() for m in data.get("mentions") or [])
        if guild_id is not None and not mentioned and not self._watched(channel_id):
            intake.ignored.append(f"message {message_id} is in a channel not watched")
            return None
        text = str(data.get("content") or "")
        if not text.strip():
            intake.ignored.append(f"message {message_id} {NO_CONTENT}" if not data.get("attachments")
                                  else f"message {message_id} has only attachments")
            return None
        thread = []
        referenced = data.get("referenced_message") or {}
        if referenced.get("content"):
            thread.append({"author": str((referenced.get("author") or {}).get("username")),
                           "text": str(referenced["content"])[:20_000]})
        message = MessageCreate(
            external_id=f"{self.name}/{message_id}", platform=self.platform,
            author={"id": str(author.get("id")), "handle": str(author.get("username")),
                    "display_name": author.get("global_name") or None},
            text=text[:20_000], thread_id=f"{self.name}/{channel_id}", thread=thread, public=guild_id is not None,
            received_at=data.get("timestamp"),
        )
        return Inbound(message, {"channel_id": channel_id, "message_id": message_id, "guild_id": guild_id},
                       permalink=f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}")

    # -- delivery -------------------------------------------------------------------------------------
    def _reply(self, posted: Mapping[str, Any], reply_to: Mapping[str, Any]) -> PlatformReply:
        return PlatformReply(target=f"discord:{self.name}", post_id=str(posted["id"]),
                             url=f"https://discord.com/channels/{reply_to.get('guild_id') or '@me'}/"
                                 f"{posted.get('channel_id') or reply_to['channel_id']}/{posted['id']}")

    def post_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply:
        reference = {"message_id": reply_to["message_id"], "channel_id": reply_to["channel_id"],
                     "fail_if_not_exists": True}
        posted = self.http.call("POST", f"/channels/{reply_to['channel_id']}/messages", json={
            "content": text, "message_reference": reference,
            "allowed_mentions": {"parse": [], "replied_user": True}}).json()
        return self._reply(posted, reply_to)

    def find_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply | None:
        me = self.me()
        found = self.http.call("GET", f"/channels/{reply_to['channel_id']}/messages",
                               params={"after": reply_to["message_id"], "limit": 100}).json()
        for posted in found if isinstance(found, list) else []:
            reference = posted.get("message_reference") or {}
            if (str((posted.get("author") or {}).get("id")) == me
                    and str(reference.get("message_id")) == str(reply_to["message_id"])
                    and same_text(str(posted.get("content") or ""), text)):
                return self._reply(posted, reply_to)
        return None

    def check(self) -> list[Check]:
        me = self.http.call("GET", "/users/@me", allow=(401, 403))
        if me.status_code != 200:
            return [Check("bot token", False, "Discord rejected the token: copy the bot's token from the "
                          "Developer Portal (Bot → Reset Token)")]
        checks = [Check("bot token", True, f"acts as {me.json().get('username')}")]
        app = self.http.call("GET", "/oauth2/applications/@me", allow=(401, 403))
        flags = int(app.json().get("flags") or 0) if app.status_code == 200 else 0
        checks.append(Check("MESSAGE CONTENT intent", bool(flags & MESSAGE_CONTENT_FLAGS),
                            "enabled" if flags & MESSAGE_CONTENT_FLAGS else "not enabled: Developer Portal → Bot → "
                            "Privileged Gateway Intents → MESSAGE CONTENT (without it messages arrive empty)"))
        for channel in self.config.get("channels") or []:
            seen = self.http.call("GET", f"/channels/{channel}", allow=(403, 404))
            checks.append(Check(f"channel {channel}", seen.status_code == 200, "visible" if seen.status_code == 200
                                else f"{seen.status_code} {json_reason('message')(seen)}: invite the bot to the "
                                "server and give it View Channel, Send Messages, Read Message History there"))
        return checks
