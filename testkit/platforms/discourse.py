"""A Discourse forum on loopback: topics and posts, API-key auth (``Api-Key`` + ``Api-Username``), and
webhook events signed the way Discourse signs them (``X-Discourse-Event-Signature: sha256=<hex HMAC>``)."""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import re
from typing import Any

from testkit.platforms import Answer, PlatformServer, Request


class DiscourseServer(PlatformServer):
    def __init__(self, api_key: str = "dk-test-key", username: str = "replydesk-bot",
                 webhook_secret: str = "forum-hook-secret") -> None:
        super().__init__()
        self.api_key, self.username, self.webhook_secret = api_key, username, webhook_secret
        self.topics: dict[int, dict[str, Any]] = {}
        self.posts: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(100)
        self.route("GET", r"/t/(\d+)\.json", self._topic)
        self.route("GET", r"/t/(\d+)/posts\.json", self._topic_posts)
        self.route("POST", r"/posts\.json", self._create)
        self.route("GET", r"/session/current\.json", self._current)

    # -- the forum's state ----------------------------------------------------------------------------
    def new_topic(self, title: str, raw: str, username: str = "dana", user_id: int = 7) -> dict[str, Any]:
        topic_id = next(self._ids)
        self.topics[topic_id] = {"id": topic_id, "title": title, "slug": re.sub(r"\W+", "-", title.lower()),
                                 "posts": []}
        return self.add_post(topic_id, raw, username, user_id)

    def add_post(self, topic_id: int, raw: str, username: str, user_id: int = 7,
                 reply_to_post_number: int | None = None) -> dict[str, Any]:
        with self.lock:
            topic = self.topics[topic_id]
            post = {"id": next(self._ids), "topic_id": topic_id, "topic_slug": topic["slug"],
                    "post_number": len(topic["posts"]) + 1, "username": username, "user_id": user_id,
                    "name": username.title(), "raw": raw, "cooked": f"<p>{html.escape(raw)}</p>", "post_type": 1,
                    "reply_to_post_number": reply_to_post_number, "created_at": "2026-12-02T10:00:00.000Z",
                    "category_id": 4}
            topic["posts"].append(post)
            self.posts[post["id"]] = post
            return post

    def replies_to(self, topic_id: int, post_number: int) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.topics[topic_id]["posts"]
                    if p["reply_to_post_number"] == post_number and p["username"] == self.username]

    # -- webhooks as Discourse sends them -------------------------------------------------------------
    def event(self, name: str, post: dict[str, Any], secret: str | None = None) -> tuple[dict[str, str], bytes]:
        if name == "topic_created":
            topic = self.topics[post["topic_id"]]
            payload: dict[str, Any] = {"topic": {"id": topic["id"], "title": topic["title"], "slug": topic["slug"],
                                                 "created_by": {"username": post["username"]}}}
        else:
            payload = {"post": {k: v for k, v in post.items()}}
        body = json.dumps(payload).encode()
        digest = hmac.new((secret or self.webhook_secret).encode(), body, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-discourse-event": name,
                   "x-discourse-event-type": name.split("_")[0], "x-discourse-event-id": str(post["id"]),
                   "x-discourse-instance": self.url, "x-discourse-event-signature": f"sha256={digest}"}
        return headers, body

    # -- the API --------------------------------------------------------------------------------------
    def _auth(self, request: Request) -> Answer | None:
        if request.headers.get("api-key") != self.api_key or request.headers.get("api-username") != self.username:
            return 403, {}, {"errors": ["You are not permitted to view the requested resource."],
                             "error_type": "invalid_access"}
        return None

    def _topic(self, request: Request, match: re.Match[str]) -> Answer:
        topic = self.topics.get(int(match.group(1)))
        if topic is None:
            return 404, {}, {"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"}
        posts = topic["posts"]
        return 200, {}, {"id": topic["id"], "title": topic["title"], "slug": topic["slug"],
                         "post_stream": {"posts": posts[:20], "stream": [p["id"] for p in posts]}}

    def _topic_posts(self, request: Request, match: re.Match[str]) -> Answer:
        wanted = {int(i) for i in request.query.get("post_ids[]", [])}
        topic = self.topics.get(int(match.group(1)))
        posts = [p for p in (topic or {}).get("posts", []) if p["id"] in wanted]
        return 200, {}, {"post_stream": {"posts": posts}}

    def _create(self, request: Request, _match: re.Match[str]) -> Answer:
        refused = self._auth(request)
        if refused:
            return refused
        body = request.json()
        topic_id = int(body["topic_id"])
        if topic_id not in self.topics:
            return 404, {}, {"errors": ["The requested URL or resource could not be found."]}
        post = self.add_post(topic_id, body["raw"], self.username, 1, body.get("reply_to_post_number"))
        return 200, {}, post

    def _current(self, request: Request, _match: re.Match[str]) -> Answer:
        refused = self._auth(request)
        if refused:
            return 404, {}, {"errors": ["not found"]}
        return 200, {}, {"current_user": {"id": 1, "username": self.username}}
