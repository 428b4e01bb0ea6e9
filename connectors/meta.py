"""Meta (Facebook Pages + Instagram professional accounts) through the Graph API.

Intake: the app's webhooks — ``page`` ``feed`` changes (comments on the Page's posts) and ``instagram``
``comments`` and ``mentions`` — verified with ``X-Hub-Signature-256`` (``sha256=`` + hex HMAC-SHA256 of
the body with the app secret), subscribed with the GET challenge (``hub.mode``/``hub.verify_token``/
``hub.challenge``). Delivery: the comment-reply endpoints (``POST /{comment-id}/comments`` on Facebook,
``POST /{comment-id}/replies`` on Instagram, ``POST /{ig-user-id}/mentions`` for a mention), or, with
``reply_mode: private``, a private reply (``POST /{page-id}/messages`` with ``recipient.comment_id``).
Meta ships no maintained Python SDK for the Graph API (facebook-business covers the Marketing API).
Rate limits: error codes 4, 17, 32, 613 (and 80001+ business use case codes), with ``X-App-Usage`` /
``X-Business-Use-Case-Usage`` telling how much is spent and when access comes back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.base import (
    UNVERIFIABLE,
    Capabilities,
    Check,
    Inbound,
    Intake,
    PlatformConnector,
    Unverifiable,
    best_effort,
    same_text,
)
from connectors.http import PlatformHttp, json_reason
from desk.errors import BadRequest, Forbidden, Unauthorized
from desk.inbound import MessageCreate
from desk.platforms import PlatformRefused, PlatformReply

GRAPH = "https://graph.facebook.com/v21.0"
RATE_CODES = {4, 17, 32, 613}


def _usage(response: httpx.Response, header: str) -> dict[str, Any]:
    try:
        value = json.loads(response.headers.get(header) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class MetaConnector(PlatformConnector):
    platform = "meta"
    capabilities = Capabilities(intake="push", dm=True, thread_context=True, max_reply_chars=2_200,
                                rate_limits="error codes 4/17/32/613, X-App-Usage, X-Business-Use-Case-Usage")
    config_keys = {"page_id": "the Facebook Page's id"}
    optional_keys = {"ig_user_id": "the Instagram professional account's id (for Instagram comments)",
                     "graph_url": f"the Graph API base (default {GRAPH})",
                     "reply_mode": "public (default) or private (a private reply to the commenter)",
                     "rate_limit_wait": "seconds to wait when Meta says rate limited without a time (default 60)"}
    secret_keys = {"page_access_token": "a Page access token (pages_manage_engagement, pages_read_engagement, "
                   "pages_read_user_content; instagram_manage_comments for Instagram)",
                   "app_secret": "the app's secret (signs webhooks)",
                   "verify_token": "the verify token you typed in the app's webhook settings"}

    def make_http(self) -> PlatformHttp:
        self._posts: dict[str, list[dict[str, str]]] = {}
        headers = {}
        if "page_access_token" in self.secrets:
            headers["Authorization"] = f"Bearer {self.secrets.get('page_access_token')}"
        return PlatformHttp(self.settings, str(self.config.get("graph_url") or GRAPH), platform=self.platform,
                            rate_wait=self._rate_wait, budget=self._budget, reason=json_reason("error.message"),
                            headers=headers)

    @property
    def _default_wait(self) -> float:
        return float(self.config.get("rate_limit_wait") or 60)

    def _rate_wait(self, response: httpx.Response) -> float | None:
        if response.status_code < 400:
            return None
        try:
            code = int((response.json().get("error") or {}).get("code") or 0)
        except (ValueError, AttributeError):
            code = 0
        if code not in RATE_CODES and not 80000 <= code < 80100 and response.status_code != 429:
            return None
        minutes = 0
        for usages in _usage(response, "x-business-use-case-usage").values():
            for usage in usages if isinstance(usages, list) else []:
                if isinstance(usage, dict):
                    minutes = max(minutes, int(usage.get("estimated_time_to_regain_access") or 0))
        return minutes * 60.0 if minutes else self._default_wait

    def _budget(self, response: httpx.Response) -> float:
        usage = _usage(response, "x-app-usage")
        spent = max((float(v) for v in usage.values() if isinstance(v, int | float)), default=0.0)
        return self._default_wait if spent >= 100 else 0.0

    # -- intake ---------------------------------------------------------------------------------------
    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = headers.get("x-hub-signature-256") or ""
        expected = "sha256=" + hmac.new(self.secrets.get("app_secret").encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("X-Hub-Signature-256 missing or wrong")

    def challenge(self, params: Mapping[str, str]) -> str:
        if params.get("hub.mode") != "subscribe" or "hub.challenge" not in params:
            raise BadRequest("expected hub.mode=subscribe with hub.verify_token and hub.challenge")
        if not hmac.compare_digest(str(params.get("hub.verify_token", "")).encode(),
                                   self.secrets.get("verify_token").encode()):
            raise Forbidden("hub.verify_token does not match this connector's verify token")
        return str(params["hub.challenge"])

    def parse(self, headers: Mapping[str, str], body: bytes, intake: Intake) -> list[Inbound]:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise BadRequest(f"the event body is not JSON: {exc}") from None
        kind = payload.get("object")
        found: list[Inbound] = []
        for entry in payload.get("entry") or []:
            for change in entry.get("changes") or []:
                field, value = change.get("field"), change.get("value") or {}
                item: Inbound | None = None
                if kind == "page" and field == "feed":
                    item = self._facebook_comment(value, intake)
                elif kind == "instagram" and field == "comments":
                    item = self._instagram_comment(value, intake)
                elif kind == "instagram" and field == "mentions":
                    item = self._instagram_mention(value, intake)
                else:
                    intake.ignored.append(f"{kind}/{field} changes are not taken")
                if item is not None:
                    found.append(item)
        return found

    def _message(self, platform: str, comment_id: str, author: dict[str, Any], text: str, thread: str,
                 when: Any) -> MessageCreate:
        received = datetime.fromtimestamp(int(when), UTC) if isinstance(when, int | float) else when
        field = "message" if platform == "facebook" else "caption"
        turns = best_effort(thread, lambda: self._post_turn(thread, field))
        return MessageCreate(external_id=f"{self.name}/{comment_id}", platform=platform, author=author,
                             text=text[:20_000], thread_id=f"{self.name}/{thread}", thread=turns, public=True,
                             received_at=received)

    def _post_turn(self, post_id: str, field: str) -> list[dict[str, str]]:
        """The post (Facebook) or media caption (Instagram) the comment is under, as the thread's first turn."""
        if post_id not in self._posts:
            if len(self._posts) > 1000:  # a cache of recent posts, not a copy of the Page
                self._posts.clear()
            found = self.http.call("GET", f"/{post_id}", params={"fields": f"{field},from,username"}).json()
            author = (found.get("from") or {}).get("name") or found.get("username") or "page"
            self._posts[post_id] = [{"author": str(author), "text": str(found.get(field) or "")[:20_000]}]
        return [t for t in self._posts[post_id] if t["text"]]

    def _facebook_comment(self, value: Mapping[str, Any], intake: Intake) -> Inbound | None:
        if value.get("item") != "comment" or value.get("verb") != "add":
            intake.ignored.append(f"feed {value.get('item')}/{value.get('verb')} is not taken")
            return None
        sender = value.get("from") or {}
        comment_id, post_id = str(value.get("comment_id")), str(value.get("post_id"))
        if str(sender.get("id")) == str(self.config["page_id"]):
            intake.ignored.append(f"comment {comment_id} is our own")
            return None
        if not str(value.get("message") or "").strip():
            intake.ignored.append(f"comment {comment_id} has no text")
            return None
        parent = str(value.get("parent_id") or post_id)
        top = parent if parent != post_id else comment_id  # Facebook threads comments one level deep
        message = self._message("facebook", comment_id, {"id": str(sender.get("id")), "handle": str(
            sender.get("name") or sender.get("id"))}, str(value["message"]), post_id, value.get("created_time"))
        return Inbound(message, {"network": "facebook", "comment_id": top, "source_comment_id": comment_id},
                       permalink=f"https://www.facebook.com/{comment_id}")

    def _instagram_comment(self, value: Mapping[str, Any], intake: Intake) -> Inbound | None:
        sender = value.get("from") or {}
        comment_id = str(value.get("id"))
        if str(sender.get("id")) == str(self.config.get("ig_user_id")):
            intake.ignored.append(f"comment {comment_id} is our own")
            return None
        if not str(value.get("text") or "").strip():
            intake.ignored.append(f"comment {comment_id} has no text")
            return None
        media = str((value.get("media") or {}).get("id"))
        top = str(value.get("parent_id") or comment_id)  # Instagram takes replies on top-level comments
        message = self._message("instagram", comment_id, {"id": str(sender.get("id")), "handle": str(
            sender.get("username") or sender.get("id"))}, str(value["text"]), media, value.get("timestamp"))
        return Inbound(message, {"network": "instagram", "comment_id": top, "source_comment_id": comment_id})

    def _instagram_mention(self, value: Mapping[str, Any], intake: Intake) -> Inbound | None:
        """A mention arrives as ids only: its text is read with ``mentioned_comment`` (the documented way)."""
        comment_id, media = str(value.get("comment_id") or ""), str(value.get("media_id") or "")
        ig_user = self.config.get("ig_user_id")
        if not comment_id or not ig_user:
            intake.ignored.append("a mention without a comment (or no ig_user_id configured)")
            return None
        found = self.http.call("GET", f"/{ig_user}", params={
            "fields": f"mentioned_comment.comment_id({comment_id}){{id,text,username,timestamp}}"}).json()
        comment = found.get("mentioned_comment") or {}
        if not str(comment.get("text") or "").strip():
            intake.ignored.append(f"mention {comment_id} has no text")
            return None
        username = str(comment.get("username") or "unknown")
        message = self._message("instagram", comment_id, {"id": username, "handle": username},
                                str(comment["text"]), media, comment.get("timestamp"))
        return Inbound(message, {"network": "instagram", "mention": True, "comment_id": comment_id,
                                 "media_id": media})

    # -- delivery -------------------------------------------------------------------------------------
    def _ours(self) -> str:
        return str(self.config["page_id"])

    def post_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply:
        comment, network = str(reply_to["comment_id"]), reply_to.get("network")
        target = f"{network}:{self.name}"
        if self.config.get("reply_mode") == "private":
            recipient = str(reply_to.get("source_comment_id") or comment)
            sender = self._ours() if network == "facebook" else str(self.config.get("ig_user_id"))
            sent = self.http.call("POST", f"/{sender}/messages", json={
                "recipient": {"comment_id": recipient}, "message": {"text": text}}).json()
            return PlatformReply(target=f"{target} (private reply)", post_id=str(sent.get("message_id")))
        if reply_to.get("mention"):
            posted = self.http.call("POST", f"/{self.config['ig_user_id']}/mentions", data={
                "comment_id": comment, "media_id": reply_to.get("media_id"), "message": text}).json()
        else:
            edge = "comments" if network == "facebook" else "replies"
            posted = self.http.call("POST", f"/{comment}/{edge}", data={"message": text}).json()
        new_id = str(posted["id"])
        url = f"https://www.facebook.com/{new_id}" if network == "facebook" else None
        return PlatformReply(target=target, post_id=new_id, url=url)

    def find_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply | Unverifiable | None:
        if self.config.get("reply_mode") == "private" or reply_to.get("mention"):
            # Neither private replies nor mention replies can be listed per comment: a retry fails the
            # delivery visibly instead of posting a second time (connectors/base.py deliver).
            return UNVERIFIABLE
        comment, network = str(reply_to["comment_id"]), reply_to.get("network")
        edge, body, me = (("comments", "message", self._ours()) if network == "facebook"
                          else ("replies", "text", str(self.config.get("ig_user_id"))))
        listing = self.http.call("GET", f"/{comment}/{edge}", params={"fields": f"id,{body},from", "limit": 100},
                                 allow=(400, 404))
        if listing.status_code != 200:
            raise PlatformRefused(f"comment {comment}: {json_reason('error.message')(listing)}")
        for item in listing.json().get("data", []):
            if str((item.get("from") or {}).get("id")) == me and same_text(str(item.get(body) or ""), text):
                new_id = str(item["id"])
                return PlatformReply(target=f"{network}:{self.name}", post_id=new_id,
                                     url=f"https://www.facebook.com/{new_id}" if network == "facebook" else None)
        return None

    def check(self) -> list[Check]:
        checks = [Check(name, name in self.secrets, "set" if name in self.secrets else f"missing: {what}")
                  for name, what in self.secret_keys.items() if name != "page_access_token"]
        me = self.http.call("GET", "/me", params={"fields": "id,name"}, allow=(400, 401, 403))
        if me.status_code != 200:
            checks.append(Check("page access token", False, f"refused: {json_reason('error.message')(me)}; use a "
                                "Page access token with pages_manage_engagement, pages_read_engagement, "
                                "pages_read_user_content"))
        elif str(me.json().get("id")) != self._ours():
            checks.append(Check("page access token", False, f"the token is for {me.json().get('id')}, not Page "
                                f"{self._ours()}: use that Page's access token"))
        else:
            checks.append(Check("page access token", True, f"Page {me.json().get('name')}"))
        ig_user = self.config.get("ig_user_id")
        if ig_user:
            ig = self.http.call("GET", f"/{ig_user}", params={"fields": "id,username"}, allow=(400, 401, 403))
            checks.append(Check("instagram account", ig.status_code == 200, f"@{ig.json().get('username')}"
                                if ig.status_code == 200 else f"refused: {json_reason('error.message')(ig)}; the "
                                "token needs instagram_basic and instagram_manage_comments, and the account must "
                                "be linked to the Page"))
        return checks
