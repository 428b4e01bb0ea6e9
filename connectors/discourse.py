"""Discourse: webhooks (``post_created``, ``topic_created``) signed with ``X-Discourse-Event-Signature``
(``sha256=`` + hex HMAC-SHA256 of the body with the webhook's secret); replies with an API key and
username (``Api-Key``/``Api-Username`` headers) in the topic, as a reply to the post (``POST /posts.json``).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from connectors.base import Capabilities, Check, Inbound, Intake, PlatformConnector, best_effort, same_text
from connectors.http import PlatformHttp, header_seconds, json_reason
from desk.errors import BadRequest, Unauthorized
from desk.inbound import MessageCreate
from desk.platforms import PlatformRefused, PlatformReply

_TAG = re.compile(r"<[^>]+>")
EVENTS = ("post_created", "topic_created")


def cooked_text(cooked: str) -> str:
    """The words of a cooked (HTML) post."""
    return " ".join(html.unescape(_TAG.sub(" ", cooked)).split())


def _rate_wait(response: httpx.Response) -> float | None:
    if response.status_code != 429:
        return None
    wait = header_seconds(response, "retry-after")
    if wait is None:
        try:
            wait = float(response.json().get("extras", {}).get("wait_seconds", 1))
        except (ValueError, AttributeError):
            wait = 1.0
    return wait


class DiscourseConnector(PlatformConnector):
    platform = "discourse"
    capabilities = Capabilities(intake="push", thread_context=True, rate_limits="429 Retry-After / wait_seconds",
                                max_reply_chars=32_000)
    config_keys = {"base_url": "the forum's address, e.g. https://forum.example.com",
                   "username": "the account replies are posted as (the API key's user)"}
    optional_keys = {"categories": "category ids to take (default: every category)"}
    secret_keys = {"api_key": "an API key for that user (scopes: topics read, posts write)",
                   "webhook_secret": "the secret set on the forum's webhook"}

    def make_http(self) -> PlatformHttp:
        headers = {"Api-Username": str(self.config["username"]), "Accept": "application/json"}
        if "api_key" in self.secrets:
            headers["Api-Key"] = self.secrets.get("api_key")
        return PlatformHttp(self.settings, str(self.config["base_url"]), platform=self.platform,
                            rate_wait=_rate_wait, reason=json_reason("errors", "error"), headers=headers)

    @property
    def base(self) -> str:
        return str(self.config["base_url"]).rstrip("/")

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = headers.get("x-discourse-event-signature") or ""
        expected = "sha256=" + hmac.new(self.secrets.get("webhook_secret").encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("X-Discourse-Event-Signature missing or wrong")

    def parse(self, headers: Mapping[str, str], body: bytes, intake: Intake) -> list[Inbound]:
        event = headers.get("x-discourse-event") or ""
        if event not in EVENTS:
            intake.ignored.append(f"event {event or '(none)'} is not taken")
            return []
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise BadRequest(f"the event body is not JSON: {exc}") from None
        if event == "topic_created":
            topic = payload.get("topic") or {}
            post = self._first_post(int(topic["id"])) if topic.get("id") else None
            if post is None:
                intake.ignored.append("topic without a first post")
                return []
            post.setdefault("topic_slug", topic.get("slug"))
        else:
            post = payload.get("post") or {}
        return [m for m in [self._inbound(post, intake)] if m is not None]

    def _first_post(self, topic_id: int) -> dict[str, Any] | None:
        posts = self.http.call("GET", f"/t/{topic_id}.json").json().get("post_stream", {}).get("posts", [])
        first = next((p for p in posts if p.get("post_number") == 1), None)
        return dict(first) if first else None

    def _inbound(self, post: Mapping[str, Any], intake: Intake) -> Inbound | None:
        if not post.get("id") or not post.get("topic_id"):
            intake.ignored.append("event without a post")
            return None
        if str(post.get("username", "")).lower() == str(self.config["username"]).lower():
            intake.ignored.append(f"post {post['id']} is our own")
            return None
        if post.get("post_type", 1) != 1:
            intake.ignored.append(f"post {post['id']} is not a regular post")
            return None
        categories = self.config.get("categories")
        if categories and post.get("category_id") not in [int(c) for c in categories]:
            intake.ignored.append(f"post {post['id']} is outside the chosen categories")
            return None
        text = str(post.get("raw") or cooked_text(str(post.get("cooked") or "")))
        if not text.strip():
            intake.ignored.append(f"post {post['id']} has no text")
            return None
        topic_id, number = int(post["topic_id"]), int(post.get("post_number") or 1)
        thread = best_effort(f"topic {topic_id}", lambda: self._earlier_turns(topic_id, number)) if number > 1 else []
        message = MessageCreate(
            external_id=f"{self.name}/{post['id']}", platform=self.platform,
            author={"id": str(post.get("user_id") or post.get("username")), "handle": str(post.get("username")),
                    "display_name": post.get("name") or None},
            text=text[:20_000], thread_id=f"{self.name}/t/{topic_id}", thread=thread, public=True,
            received_at=post.get("created_at"),
        )
        slug = post.get("topic_slug") or "-"
        return Inbound(message, {"topic_id": topic_id, "post_number": number, "post_id": int(post["id"])},
                       permalink=f"{self.base}/t/{slug}/{topic_id}/{number}")

    def _earlier_turns(self, topic_id: int, before: int) -> list[dict[str, str]]:
        """The topic's posts before this one, as the thread (Discourse's topic view gives them)."""
        posts = self.http.call("GET", f"/t/{topic_id}.json").json().get("post_stream", {}).get("posts", [])
        turns = [{"author": str(p.get("username")), "text": cooked_text(str(p.get("cooked") or ""))[:20_000]}
                 for p in posts if int(p.get("post_number") or 0) < before]
        return turns[-20:]

    def _reply(self, post: Mapping[str, Any]) -> PlatformReply:
        slug = post.get("topic_slug") or "-"
        return PlatformReply(target=f"discourse:{self.name}", post_id=str(post["id"]),
                             url=f"{self.base}/t/{slug}/{post['topic_id']}/{post['post_number']}")

    def post_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply:
        post = self.http.call("POST", "/posts.json", json={
            "topic_id": reply_to["topic_id"], "raw": text, "reply_to_post_number": reply_to["post_number"]}).json()
        return self._reply(post)

    def find_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply | None:
        topic_id = reply_to["topic_id"]
        topic = self.http.call("GET", f"/t/{topic_id}.json", allow=(404,))
        if topic.status_code == 404:
            raise PlatformRefused(f"topic {topic_id} is gone")
        stream = topic.json().get("post_stream", {})
        posts = list(stream.get("posts", []))
        have = {p.get("id") for p in posts}
        tail = [i for i in stream.get("stream", [])[-100:] if i not in have]
        if tail:
            more = self.http.call("GET", f"/t/{topic_id}/posts.json", params=[("post_ids[]", i) for i in tail])
            posts += more.json().get("post_stream", {}).get("posts", [])
        me = str(self.config["username"]).lower()
        for post in posts:
            if (str(post.get("username", "")).lower() == me
                    and post.get("reply_to_post_number") == reply_to["post_number"]
                    and same_text(cooked_text(str(post.get("cooked") or "")), cooked_text(html.escape(text)))):
                return self._reply(post)
        return None

    def check(self) -> list[Check]:
        checks = [Check("webhook secret", "webhook_secret" in self.secrets,
                        "set" if "webhook_secret" in self.secrets else "missing: add the forum webhook's secret")]
        response = self.http.call("GET", "/session/current.json", allow=(401, 403, 404))
        user = (response.json() if response.status_code == 200 else {}).get("current_user") or {}
        if response.status_code != 200:
            checks.append(Check("API key", False, f"the forum refused the key ({response.status_code}): create "
                                f"an API key for user {self.config['username']} with topics read and posts write"))
        elif str(user.get("username", "")).lower() != str(self.config["username"]).lower():
            checks.append(Check("API key", False, f"the key acts as {user.get('username')}, not "
                                f"{self.config['username']}: set username to the key's user"))
        else:
            checks.append(Check("API key", True, f"acts as {user.get('username')}"))
        return checks
